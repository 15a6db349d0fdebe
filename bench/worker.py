"""Payloads per second through the local stream worker: Redis stream -> pipeline -> SQLite.

Run: ``python -m bench.worker [--payloads N] [--batch-size B] [--tier2/--no-tier2]``. Lands N
simulated payloads on a fresh stream key of the local Redis, runs one worker until the group has
nothing left, and prints the rate and, last, one JSON line. Keys and the SQLite file are removed after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr

from analyzer.devtools.simulator import iter_payloads, simulate_plant
from analyzer.keys import CONSUMER_GROUP
from analyzer.runtime.consumer import ensure_group
from analyzer.runtime.services import open_services
from analyzer.runtime.worker import ConsumerConfig, analysis_worker
from analyzer.settings import Settings
from analyzer.store.protocol import ResultQuery


async def measure(redis_url: str, payloads: int, batch_size: int, tier2: bool) -> dict[str, object]:
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as workdir:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            redis_connection_string=SecretStr(redis_url),
            stream_key=stream,
            sqlite_path=Path(workdir) / "bench.db",
            tier2_enabled=tier2,
        )
        services = await open_services(settings)
        try:
            # 10 s apart as the plant sends them, closer when that would not fit the 24 h window
            # (the landing refuses older payloads): 8,634 and more no longer fail.
            interval = max(1, min(10, (settings.window_s - 600) // payloads))
            start = datetime.now(UTC) - timedelta(seconds=interval * payloads + 60)
            plant = simulate_plant(
                services.index.catalog, start, payloads, seed=5, anomaly_rate=0.05, interval_s=interval
            )
            readings = [services.lander.validate(doc) for doc in iter_payloads(plant)]
            for first in range(0, len(readings), 500):
                await services.lander.land(readings[first : first + 500])
            worker = analysis_worker(
                services.redis,
                services.keys,
                services.pipeline,
                ConsumerConfig(batch_size=batch_size, block_ms=0),
                "bench",
            )
            await ensure_group(services.redis, stream, CONSUMER_GROUP)
            started = time.perf_counter()
            while await worker.read_once():
                pass
            elapsed = time.perf_counter() - started
            stored = 0
            page = await services.store.query_results(ResultQuery(limit=1000))
            stored += len(page.items)
            while page.continuation:
                page = await services.store.query_results(ResultQuery(limit=1000, continuation=page.continuation))
                stored += len(page.items)
        finally:
            keys = [k async for k in services.redis.scan_iter(match=f"{stream}*")]
            if keys:
                await services.redis.delete(*keys)
            await services.close()
    return {
        "payloads": payloads,
        "stored": stored,
        "batch_size": batch_size,
        "tier2": tier2,
        "seconds": round(elapsed, 3),
        "payloads_per_s": round(worker.stats.handled / elapsed, 1),
        "group": CONSUMER_GROUP,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    # REDIS_CONNECTION_STRING (either form) when set, as every other command; else the local Redis.
    parser.add_argument("--redis", default=Settings().redis_url, help="Redis URL (default: REDIS_CONNECTION_STRING)")
    parser.add_argument("--payloads", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--tier2", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    figures = asyncio.run(measure(args.redis, args.payloads, args.batch_size, args.tier2))
    tier2 = "on" if args.tier2 else "off"
    print(
        f"{figures['payloads']} payloads through one worker (batch {figures['batch_size']}, tier 2 {tier2}, SQLite): "
        f"{figures['seconds']} s, {figures['payloads_per_s']} payloads/s; {figures['stored']} results stored"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
