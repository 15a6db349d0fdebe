"""Store requests per analysed entry, through the real pipeline.

Run: ``python -m bench.store_cost`` (needs ``npm ci`` for the local Cosmos-protocol server and a
Redis on 127.0.0.1:6379, or ``--redis``). Lands simulated payloads with 0, 1 and 10 sensors held
above their High limit (so 0, 1 and 10 alarm records change with every reading), analyses them as
the worker does (batches of 64, and one entry at a time as at the plant's 10 s cadence) with the
Cosmos DB store, and counts the HTTP requests the SDK sends (and the request charge the server
reports) per analysed entry. Also: SQLite ``put_results`` throughput.

The local server reports a flat charge of 1 per request, so it cannot show real request units.
Published figures for the real service: a point write of a ~4 kB item costs about 10 RU; a point
read ~1 RU; a query by id across partitions ~3 RU. Re-run against an Azure account
(``COSMOS_DB_ENDPOINT`` and ``COSMOS_DB_KEY`` or a credential) for real numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from analyzer.devtools.simulator import iter_payloads, simulate_plant
from analyzer.runtime.services import Services, open_services
from analyzer.settings import Settings
from analyzer.store.cosmos import CosmosStore
from analyzer.store.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[1]
LOCAL_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
#: The package's server with the tests' one fix (a point read of a missing document answers 404).
SERVER = REPO / "tests" / "store" / "cosmos_server.js"


class Meter:
    """Counts requests and sums ``x-ms-request-charge`` through the SDK's response hook."""

    def __init__(self) -> None:
        self.requests = 0
        self.charge = 0.0

    def __call__(self, response: Any) -> None:
        self.requests += 1
        self.charge += float(response.http_response.headers.get("x-ms-request-charge") or 0)

    def reset(self) -> tuple[int, float]:
        seen = (self.requests, self.charge)
        self.requests, self.charge = 0, 0.0
        return seen


@contextmanager
def local_cosmos() -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "@vercel" / "cosmosdb-server").exists():
        raise SystemExit("run `npm ci` at the repository root first")
    process = subprocess.Popen(
        [node, str(SERVER), "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    try:
        assert process.stdout is not None
        match = re.search(r"at ([\d.]+):(\d+)", process.stdout.readline())
        if match is None:
            raise SystemExit("the Cosmos-protocol server did not start")
        yield f"https://{match.group(1)}:{match.group(2)}/"
    finally:
        process.terminate()
        process.wait(timeout=5)


def _payloads(services: Services, n: int, breaching: list[str]) -> list[dict[str, Any]]:
    start = datetime.now(UTC) - timedelta(seconds=10 * n + 60)
    plant = simulate_plant(services.index.catalog, start, n, seed=5, anomaly_rate=0.0)
    documents = list(iter_payloads(plant))
    for document in documents:
        for sensor in breaching:
            document[sensor] = float(services.index.spec(sensor).high) + 0.5  # type: ignore[arg-type]
    return documents


async def per_entry(
    redis_url: str, endpoint: str, key: str | None, verify_tls: bool, n_alarms: int, batch: int, n: int
) -> tuple[float, float]:
    meter = Meter()
    store = await CosmosStore.open(
        endpoint=endpoint,
        database=f"bench-{uuid.uuid4().hex[:8]}",
        key=key,
        verify_tls=verify_tls,
        create_if_missing=True,
        raw_response_hook=meter,
    )
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_connection_string=SecretStr(redis_url),
        stream_key=stream,
        tier2_enabled=False,
    )
    services = await open_services(settings, statistical=False, store=store)
    try:
        limited = [name for name in services.index.names if services.index.spec(name).high is not None]
        documents = _payloads(services, n + 5, limited[:n_alarms])
        await services.lander.land_documents(documents)
        reply: Any = await services.redis.xrange(stream)
        entries = [(str(i), dict(f)) for i, f in reply]
        await services.pipeline.analyze_entries(entries[:5])  # alarms open; their records are written once
        meter.reset()
        for first in range(5, len(entries), batch):
            await services.pipeline.analyze_entries(entries[first : first + batch])
        requests, charge = meter.reset()
    finally:
        names = [k async for k in services.redis.scan_iter(match=f"*{stream}*")]
        if names:
            await services.redis.delete(*names)
        await services.close()
    return requests / n, charge / n


async def bench_sqlite(redis_url: str, n: int = 2560) -> float:
    """Results per second through ``put_results`` (batches of 64) of results the fold built."""
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            redis_connection_string=SecretStr(redis_url),
            stream_key=f"bench:{uuid.uuid4().hex[:8]}",
            tier2_enabled=False,
        )
        store = await SqliteStore.open(Path(folder) / "bench.db")
        services = await open_services(settings, statistical=False, store=store)
        try:
            documents = _payloads(services, n, [])
            readings = [services.lander.validate(d) for d in documents]
            for k, reading in enumerate(readings):
                object.__setattr__(reading, "entry_id", f"{1763884800000 + k * 10_000}-0")
            folder_ = services.pipeline.folder
            outcome = await folder_.fold_readings(folder_.new_state(), readings)
            started = time.perf_counter()
            for first in range(0, n, 64):
                await store.put_results(outcome.results[first : first + 64])
            elapsed = time.perf_counter() - started
        finally:
            await services.close()
    return n / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--entries", type=int, default=256)
    args = parser.parse_args()
    figures: dict[str, Any] = {"sqlite_results_per_s": round(await bench_sqlite(args.redis))}
    print(f"SQLite put_results, batches of 64: {figures['sqlite_results_per_s']:,} results/s")
    endpoint = os.environ.get("COSMOS_DB_ENDPOINT")
    with local_cosmos() if not endpoint else _given(endpoint) as url:
        key = os.environ.get("COSMOS_DB_KEY") if endpoint else LOCAL_KEY
        print("| alarms changing per reading | batch | requests per entry | charge per entry (reported) |")
        print("| --- | --- | --- | --- |")
        for n_alarms in (0, 1, 10):
            for batch in (64, 1):
                requests, charge = await per_entry(
                    args.redis, url, key, bool(endpoint), n_alarms, batch, args.entries if batch > 1 else 64
                )
                figures[f"requests_per_entry_{n_alarms}_alarms_batch_{batch}"] = round(requests, 3)
                print(f"| {n_alarms} | {batch} | {requests:.3f} | {charge:.3f} |")
    print(json.dumps(figures))


@contextmanager
def _given(endpoint: str) -> Iterator[str]:
    yield endpoint


if __name__ == "__main__":
    asyncio.run(main())
