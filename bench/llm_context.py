"""What tier 3 costs on our side per alarm event: ``python -m bench.llm_context``.

Lands one hour of the simulated plant (360 payloads of about 100 sensors) on a fresh stream key
of the local Redis, then times, each as the median of ``--repeat`` runs: reading the hour back
(``read_recent``, XREVRANGE + JSON), building the evidence (trends of the alarm's sensors and
the moved-together rule over every sensor), writing the offline text, and the whole
``ContextService.explain_from_stream`` with the offline provider (read, evidence, text, usage
counters in Redis). Also the size of the prompt a model would get (characters, estimated
tokens). The model call itself is the model service's time, not measured here. Prints a table,
then one JSON line. Keys are removed after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pydantic import SecretStr
from redis.asyncio import Redis

from analyzer.catalog import load_catalog
from analyzer.devtools.simulator import iter_payloads, simulate_plant
from analyzer.keys import PAYLOAD_FIELD
from analyzer.settings import Settings
from analyzer.tiers.llm.evidence import AlarmView, build_evidence, read_recent
from analyzer.tiers.llm.explain import ContextService
from analyzer.tiers.llm.offline import offline_answer
from analyzer.tiers.llm.prompt import build_messages, estimate_prompt_tokens


async def _median_ms(run: Callable[[], Awaitable[Any]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)


async def measure(redis_url: str, repeat: int) -> dict[str, object]:
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    catalog = load_catalog()
    end = datetime.now(UTC).replace(microsecond=0)
    plant = simulate_plant(catalog, end - timedelta(seconds=3590), 360, seed=11, anomaly_rate=0.05)
    redis = Redis.from_url(redis_url, decode_responses=True)
    settings = Settings(_env_file=None, redis_connection_string=SecretStr(redis_url), stream_key=stream)  # type: ignore[call-arg]
    service = ContextService.from_settings(settings, redis, catalog=catalog)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            for payload in iter_payloads(plant):
                moment = datetime.fromisoformat(str(payload["timestamp"]).replace("Z", "+00:00"))
                pipe.xadd(stream, {PAYLOAD_FIELD: orjson.dumps(payload)}, id=f"{int(moment.timestamp() * 1000)}-0")
            await pipe.execute()
        view = AlarmView(
            alarm_id="limit:TI-101:high@bench",
            alarm_key="limit:TI-101:high",
            kind="high",
            tier="heuristic",
            priority="high",
            event="opened",
            sensors=("TI-101",),
            opened_at=end - timedelta(minutes=10),
            last_seen=end,
            count=60,
            peak_value=360.1,
            peak_deviation=1.7,
            last_value=359.8,
            description="TI-101 above High 358.4",
        )
        history = await read_recent(redis, stream, None, now=end)
        evidence = build_evidence(view, catalog, history, history)
        messages = build_messages(evidence)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)

        async def evidence_only() -> None:
            build_evidence(view, catalog, history, history)

        async def offline_only() -> None:
            offline_answer(evidence)

        figures: dict[str, object] = {
            "payloads": len(history),
            "sensors": len(catalog.sensors),
            "read_recent_ms": await _median_ms(lambda: read_recent(redis, stream, None, now=end), repeat),
            "build_evidence_ms": await _median_ms(evidence_only, repeat),
            "offline_answer_ms": await _median_ms(offline_only, repeat),
            "explain_from_stream_offline_ms": await _median_ms(lambda: service.explain_from_stream(view), repeat),
            "prompt_chars": prompt_chars,
            "prompt_tokens_estimate": estimate_prompt_tokens(messages),
            "moved_together": len(evidence.moved_together),
        }
    finally:
        await service.aclose()
        keys = [k async for k in redis.scan_iter(match=f"{stream}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.redis, args.repeat))
    print(f"tier 3, one alarm event, {figures['payloads']} payloads x {figures['sensors']} sensors (median ms):")
    for name in ("read_recent_ms", "build_evidence_ms", "offline_answer_ms", "explain_from_stream_offline_ms"):
        print(f"  {name:<32} {figures[name]}")
    print(
        f"  prompt: {figures['prompt_chars']} characters, "
        f"about {figures['prompt_tokens_estimate']} tokens (high estimate)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
