"""Cost of the store's write path per analysed entry.

Run: ``.venv/bin/python bench/store_cost.py`` (needs ``npm ci`` for the Cosmos part).

SQLite: ``put_results`` throughput for micro-batches of 64 realistic results (100 sensors each,
about 12 kB of JSON), ``synchronous=FULL`` on the local disk; JSON serialisation is counted,
building the pydantic models is not (that alone runs at ~2,000 results/s on this machine).

Cosmos DB (``@vercel/cosmosdb-server`` through the real SDK): HTTP requests per analysed entry and
the request charge the server reports in ``x-ms-request-charge``.

Measured on the 2-core dev machine (2026-11-23):

=====================================  ========  ===============================================
path                                   requests  note
=====================================  ========  ===============================================
SQLite put_results, batches of 64          --    ~8,800 results/s (about 7 ms per batch of 64)
normal entry (put_results)                 1.0   one upsert per result
entry that updates one episode             3     upsert + get_episode (query by id) + replace
entry that escalates (severity move)       5     upsert + get + mark + create + delete
entry that opens an episode                2-3   upsert + create (+1 find_open_episode on a Redis miss)
sweep existing_result_ids(500 ids)         1     one query
=====================================  ========  ===============================================

The local server reports a flat charge of 1 per request, so it cannot show real request units.
Published figures for the real service: a point write of a ~1 kB item costs about 5-6 RU and
grows with size and indexed paths (our ~12 kB result with default indexing: tens of RU; excluding
``raw_data``/tier blocks from the index would cut that most); a point read ~1 RU; a query by id
across partitions ~3 RU. Re-run this script against an Azure account (``COSMOS_DB_ENDPOINT``,
``COSMOS_DB_KEY`` or a credential) for real numbers.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analyzer.store.cosmos import CosmosStore  # noqa: E402
from analyzer.store.sqlite import SqliteStore  # noqa: E402
from schemas.anomalies import Episode  # noqa: E402
from schemas.results import (  # noqa: E402
    AlarmType,
    AnalysisResult,
    FinalStatus,
    HeuristicBlock,
    HeuristicSensorResult,
    SensorStatus,
    Severity,
    day_bucket,
)

LOCAL_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="
BASE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
SENSORS = [f"TI-{n:03d}" for n in range(100)]


def realistic_result(n: int) -> AnalysisResult:
    moment = BASE + timedelta(seconds=10 * n)
    values = {sensor: 300.0 + i + (n % 7) * 0.1 for i, sensor in enumerate(SENSORS)}
    heuristic = {
        sensor: HeuristicSensorResult(
            value=value, alarm_type=AlarmType.OK, status=SensorStatus.NORMAL, context="within limits"
        )
        for sensor, value in values.items()
    }
    return AnalysisResult(
        id=f"{1763884800000 + n * 10_000}-0",
        source_entry_id=f"{1763884800000 + n * 10_000}-0",
        timestamp=moment,
        day=day_bucket(moment),
        raw_data=values,
        heuristic=HeuristicBlock(timestamp=moment, processing_time_ms=0.4, results=heuristic),
        final_status=FinalStatus.NORMAL,
        overall_confidence=0.95,
        analyzed_at=moment,
    )


def episode() -> Episode:
    return Episode(
        id="heuristic:TI-001:high@1763884800000-0",
        condition_key="heuristic:TI-001:high",
        tier="heuristic",
        sensors=["TI-001"],
        alarm_type="High",
        severity_level=Severity.MEDIUM,
        peak_severity=Severity.MEDIUM,
        opened_at=BASE,
        last_seen=BASE,
        first_entry_id="1763884800000-0",
        last_entry_id="1763884800000-0",
        count=1,
        description="TI-001 above High",
    )


async def bench_sqlite(batches: int = 40) -> float:
    with tempfile.TemporaryDirectory() as folder:
        store = await SqliteStore.open(Path(folder) / "bench.db")
        prepared = [[realistic_result(batch * 64 + i) for i in range(64)] for batch in range(batches)]
        try:
            started = time.perf_counter()
            for results in prepared:  # serialising to JSON is counted, building the models is not
                await store.put_results(results)
            elapsed = time.perf_counter() - started
        finally:
            await store.close()
    return batches * 64 / elapsed


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
    cli = REPO / "node_modules" / "@vercel" / "cosmosdb-server" / "lib" / "cli.js"
    node = shutil.which("node")
    if node is None or not cli.exists():
        raise SystemExit("run `npm ci` at the repository root first")
    process = subprocess.Popen(
        [node, str(cli), "--host", "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE, text=True
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


async def bench_cosmos(endpoint: str, key: str | None, verify_tls: bool) -> dict[str, tuple[float, float]]:
    meter = Meter()
    store = await CosmosStore.open(
        endpoint=endpoint,
        database=f"bench-{uuid.uuid4().hex[:8]}",
        key=key,
        verify_tls=verify_tls,
        create_if_missing=True,
        raw_response_hook=meter,
    )
    figures: dict[str, tuple[float, float]] = {}
    try:
        meter.reset()
        await store.put_results([realistic_result(i) for i in range(64)])
        requests, charge = meter.reset()
        figures["normal entry (batch of 64)"] = (requests / 64, charge / 64)

        opened = await store.create_episode(episode())
        meter.reset()
        await store.put_results([realistic_result(1000)])
        current = await store.get_episode(opened.item.id)
        assert current is not None
        await store.replace_episode(current.item.model_copy(update={"count": 2}), current.etag)
        figures["entry updating one episode"] = meter.reset()

        await store.put_results([realistic_result(1001)])
        current = await store.get_episode(opened.item.id)
        assert current is not None
        await store.replace_episode(
            current.item.model_copy(update={"count": 3, "severity_level": Severity.HIGH}), current.etag
        )
        figures["entry escalating one episode"] = meter.reset()

        await store.put_results([realistic_result(1002)])
        await store.find_open_episode("heuristic:TI-002:high")
        await store.create_episode(episode().model_copy(update={"id": "e2", "condition_key": "heuristic:TI-002:high"}))
        figures["entry opening an episode (index miss)"] = meter.reset()

        await store.existing_result_ids([realistic_result(i).id for i in range(500)])
        figures["sweep existing_result_ids(500)"] = meter.reset()
    finally:
        await store.close()
    return {name: (float(r), float(c)) for name, (r, c) in figures.items()}


async def main() -> None:
    print(f"SQLite put_results, batches of 64: {await bench_sqlite():,.0f} results/s")
    endpoint = os.environ.get("COSMOS_DB_ENDPOINT")
    if endpoint:
        figures = await bench_cosmos(endpoint, os.environ.get("COSMOS_DB_KEY"), verify_tls=True)
    else:
        with local_cosmos() as local:
            figures = await bench_cosmos(local, LOCAL_KEY, verify_tls=False)
    for name, (requests, charge) in figures.items():
        print(f"Cosmos {name}: {requests:g} requests, {charge:g} RU reported")


if __name__ == "__main__":
    asyncio.run(main())
