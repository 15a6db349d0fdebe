"""A stream worker for the SIGKILL test: it stalls in ``put_results`` so a kill lands between
XREADGROUP (and the fold's commit) and XACK.

Usage: ``python -m tests.integration.killable_worker REDIS_URL STREAM SQLITE_PATH CONSUMER BATCH STALL_S``.
Prints ``stalling <n> <first id> <last id>`` on stdout (flushed) when a batch reaches the store.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import SecretStr

from analyzer.runtime.services import open_services
from analyzer.runtime.worker import ConsumerConfig, analysis_worker
from analyzer.settings import Settings
from analyzer.store.protocol import Store
from schemas.results import AnalysisResult


class StallingStore:
    def __init__(self, inner: Store, stall_s: float) -> None:
        self.inner = inner
        self.stall_s = stall_s
        self.batches = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def put_results(self, results: Sequence[AnalysisResult]) -> None:
        self.batches += 1
        if self.batches >= 2:  # the first batch goes through, the second one stalls
            print(f"stalling {len(results)} {results[0].id} {results[-1].id}", flush=True)
            await asyncio.sleep(self.stall_s)
        await self.inner.put_results(results)


async def main(redis_url: str, stream: str, sqlite_path: str, consumer: str, batch: int, stall_s: float) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_connection_string=SecretStr(redis_url),
        stream_key=stream,
        sqlite_path=Path(sqlite_path),
        store_backend="sqlite",
        tier2_enabled=False,
    )
    services = await open_services(settings, statistical=False)
    services.pipeline.store = StallingStore(services.store, stall_s)  # type: ignore[assignment]
    worker = analysis_worker(
        services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=batch), consumer
    )
    print("ready", flush=True)
    await worker.run(asyncio.Event())


if __name__ == "__main__":
    url, stream, path, name, size, stall = sys.argv[1:7]
    asyncio.run(main(url, stream, path, name, int(size), float(stall)))
