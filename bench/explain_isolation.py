"""Does tier 3 slow the analysis? ``python -m bench.explain_isolation``.

The analysis worker drains ``--payloads`` simulated payloads (tiers 1 and 2, SQLite) while tier 3's
explainer runs in the same process and event loop (as in ``sensor-analyzer run`` and in the
analyzer's container app, the worst case: the ``explain`` command runs it in a process of its own).
Scenarios, each on a fresh stream key, in ``--repeat`` rounds after a warm-up run (the median rate
is printed):

* ``no tier 3``: the worker alone;
* ``offline``: the explainer writing the offline text;
* ``model answering``: ``openai-compatible`` against a local model server that answers at once;
* ``model hanging``: the same server answering nothing for 60 s; every call waits out
  ``LLM_TIMEOUT_S`` (2 s here) on each of its attempts, the breaker held shut (1000 failures) so
  every alarm event really waits, then the offline text is written, deferred.

``--alarms`` sensors go above their High limit for a minute each, spread over the run, so tier 3
is asked about that many new alarm records (and more: tier 2 sees the same excursions) while the
worker runs. The model server is ``tests/llm/model_server.py`` in a child process (its CPU time is not the
worker's). Prints the worker's payloads/s per scenario, the alarm events tier 3 was asked about,
the HTTP requests the server received during the worker's run, the worker's folds refused and done
again because a context was written to an alarm meanwhile (it bumps the fold's epoch), and the
contexts written; last, one JSON line. Keys and files are removed after.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from pydantic import SecretStr

from analyzer.devtools.simulator import iter_payloads, simulate_plant
from analyzer.keys import CONSUMER_GROUP
from analyzer.runtime.consumer import ensure_group
from analyzer.runtime.explainer import run_explainer
from analyzer.runtime.services import open_services
from analyzer.runtime.worker import ConsumerConfig, analysis_worker
from analyzer.settings import Settings
from schemas.catalog import SensorCatalog


class RefusedFolds(logging.Handler):
    """Counts the worker's folds refused because the shared state moved (here: a context was written
    to an alarm, which bumps the fold's epoch), so the fold was done again."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg.startswith("fold from"):
            self.count += 1


@dataclass(frozen=True)
class Scenario:
    name: str
    explainer: bool
    model: str | None = None  # None: offline; "answer" | "hang": the local model server's reply


SCENARIOS = (
    Scenario("no tier 3", explainer=False),
    Scenario("offline", explainer=True),
    Scenario("model answering", explainer=True, model="answer"),
    Scenario("model hanging", explainer=True, model="hang"),
)


class ModelProcess:
    """``tests/llm/model_server.py`` in a child process, answering every request with ``mode``."""

    def __init__(self, mode: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.explain_isolation", "--serve-model", mode],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def requests(self) -> int:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write("count\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.close()
        self.process.wait(timeout=30)


def serve_model(mode: str) -> None:
    """The child: start the server, print its URL, answer 'count' lines until stdin closes."""
    from tests.llm.model_server import Answer, Hang, ModelServer

    server = ModelServer()
    server.default = Hang(60.0) if mode == "hang" else Answer()
    server.start()
    print(server.openai_base_url, flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(len(server.requests()), flush=True)
    server.stop()


def breach_limits(documents: list[dict[str, Any]], catalog: SensorCatalog, alarms: int) -> list[dict[str, Any]]:
    """Put ``alarms`` different sensors above their High limit for 6 payloads each, spread over the run,
    so tier 3 is asked about ``alarms`` new records (and more: tier 2 sees the same excursions)."""
    sensors = [s for s in catalog.sensors if s.high is not None and s.update_interval_s == 10]
    for k in range(alarms):
        spec = sensors[k % len(sensors)]
        assert spec.high is not None
        above = (spec.high + spec.high_high) / 2 if spec.high_high is not None else spec.high * 1.05 + 0.1
        first = (k + 1) * len(documents) // (alarms + 1)
        for document in documents[first : first + 6]:
            document[spec.name] = round(above, 4)
    return documents


async def run_once(
    redis_url: str, payloads: int, alarms: int, scenario: Scenario, model: ModelProcess | None
) -> dict[str, Any]:
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as workdir:
        values: dict[str, Any] = {
            "redis_connection_string": SecretStr(redis_url),
            "stream_key": stream,
            "sqlite_path": Path(workdir) / "bench.db",
            "worker_block_ms": 100,
        }
        if model is not None:
            values |= {
                "llm_provider": "openai-compatible",
                "llm_base_url": model.url,
                "llm_model": "bench-llm",
                "llm_timeout_s": 2.0,
                "llm_max_attempts": 2,
                "llm_retry_max_wait_s": 0.5,
                "llm_breaker_failures": 1000,
                "llm_cache_ttl_s": 0,  # every event really asks
            }
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        services = await open_services(settings)
        stop = asyncio.Event()
        explaining: asyncio.Task[Any] | None = None
        try:
            start = datetime.now(UTC) - timedelta(seconds=10 * payloads + 60)
            plant = simulate_plant(services.index.catalog, start, payloads, seed=5, anomaly_rate=0.05)
            documents = breach_limits(list(iter_payloads(plant)), services.index.catalog, alarms)
            readings = [services.lander.validate(doc) for doc in documents]
            for first in range(0, len(readings), 500):
                await services.lander.land(readings[first : first + 500])
            worker = analysis_worker(
                services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=64, block_ms=0), "bench"
            )
            await ensure_group(services.redis, stream, CONSUMER_GROUP)
            refused = RefusedFolds()
            pipeline_log = logging.getLogger("analyzer.analysis.pipeline")
            pipeline_log.addHandler(refused)
            pipeline_log.setLevel(logging.DEBUG)
            requests_before = model.requests() if model else 0
            if scenario.explainer:
                explaining = asyncio.create_task(run_explainer(services, stop, consumer="bench-explainer"))
            started = time.perf_counter()
            while await worker.read_once():
                await asyncio.sleep(0)  # as the consumer's own loop does between batches
            elapsed = time.perf_counter() - started
            pipeline_log.removeHandler(refused)
            requests = (model.requests() if model else 0) - requests_before
            published = await services.redis.xrange(services.keys.alarm_events) or []
            events = Counter(orjson.loads(fields["event"])["kind"] for _, fields in published if fields)
        finally:
            stop.set()
            outcomes: Counter[str] = Counter()
            if explaining is not None:
                outcomes = (await explaining).outcomes
            keys = [k async for k in services.redis.scan_iter(match=f"*{stream}*")]
            if keys:
                await services.redis.delete(*keys)
            await services.close()
    return {
        "scenario": scenario.name,
        "payloads": worker.stats.handled,
        "seconds": round(elapsed, 3),
        "payloads_per_s": round(worker.stats.handled / elapsed, 1),
        "asked": events["opened"] + events["escalated"],
        "refolds": refused.count,
        "model_requests_during_run": requests,
        "contexts": {k: v for k, v in outcomes.items() if k in ("ok", "cached", "deferred", "fallback")},
    }


async def measure(redis_url: str, payloads: int, alarms: int, repeat: int) -> list[dict[str, Any]]:
    """Rounds of every scenario in turn (so a change in the machine's load hits all of them), after
    one unmeasured warm-up run (imports, first training)."""
    models = {s.model: ModelProcess(s.model) for s in SCENARIOS if s.model}
    runs: dict[str, list[dict[str, Any]]] = {s.name: [] for s in SCENARIOS}
    try:
        await run_once(redis_url, min(payloads, 500), 0, SCENARIOS[0], None)
        for _ in range(repeat):
            for scenario in SCENARIOS:
                model = models[scenario.model] if scenario.model else None
                runs[scenario.name].append(await run_once(redis_url, payloads, alarms, scenario, model))
    finally:
        for model in models.values():
            model.stop()
    return [
        measured[-1]
        | {
            "payloads_per_s": statistics.median(r["payloads_per_s"] for r in measured),
            "runs_payloads_per_s": [r["payloads_per_s"] for r in measured],
        }
        for measured in runs.values()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--payloads", type=int, default=2000)
    parser.add_argument("--alarms", type=int, default=60, help="sensors put above High during the run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serve-model", choices=("answer", "hang"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_model:
        serve_model(args.serve_model)
        return
    figures = asyncio.run(measure(args.redis, args.payloads, args.alarms, args.repeat))
    print(
        f"the analysis worker's rate with tier 3 beside it ({args.payloads} payloads, {args.alarms} limit "
        "excursions, tiers 1+2, SQLite):"
    )
    print(f"{'scenario':<16} {'payloads/s (median; runs)':<34} {'asked':>6} {'requests':>9} {'refolds':>8}  contexts")
    for row in figures:
        runs = ", ".join(f"{r:g}" for r in row["runs_payloads_per_s"])
        rate = f"{row['payloads_per_s']:g} ({runs})"
        print(
            f"{row['scenario']:<16} {rate:<34} {row['asked']:>6} {row['model_requests_during_run']:>9} "
            f"{row['refolds']:>8}  "
            f"{row['contexts']}"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
