"""Latency of the dashboard API's history queries over 24 hours of analyses, on SQLite and on the
Cosmos-protocol server.

Run: ``.venv/bin/python -m bench.dashboard_queries`` (``npm ci`` first for the Cosmos part;
``--sqlite-only`` skips it; ``COSMOS_DB_ENDPOINT``/``COSMOS_DB_KEY`` measure a real account).

The store holds one simulated day: 8,640 analyses (one every 10 s) of the shipped 100-sensor
catalogue with all three tiers' blocks (about the size the pipeline writes), 300 of them
anomalous, 300 resolved anomalies and 120 audit records. Every query goes through the whole API
in-process (routing, the API-key check, the store query, the mapping to public models, JSON),
only the network is left out. Each query runs ``--repeat`` times after one warm-up; the figures
are wall-clock milliseconds per request.

Measured 2026-11-29 on the shared 2-core machine (load average 4-6 from other work, so upper
bounds), p50 / p95 ms:

==================================  ===============  ======================  ==============
query                               SQLite           Cosmos-protocol server  response
==================================  ===============  ======================  ==============
results, newest 50                  17 / 48          1289 / 2417             333 kB
results, newest 100                 32 / 35          1165 / 1619             667 kB
results, one hour, 100              34 / 59          1288 / 1771             667 kB
results, anomalous, 100             53 / 61          930 / 1120              678 kB
results, flagged sensor             6 / 11           585 / 899               20 kB
results, page 2 (continuation)      93 / 119         1739 / 2118             667 kB
resolved anomalies by resolver      10 / 17          68 / 89                 41 kB
results per hour, 24 h              34 / 62          1088 / 2344             2 kB
audit trail by person               5 / 8            57 / 68                 10 kB
sensor series from results, 24 h    733 / 1082       2082 / 2383             48 kB
==================================  ===============  ======================  ==============

The local Cosmos-protocol server evaluates every query in JavaScript over all documents; its
figures say nothing about the real service's latency (re-run with ``COSMOS_DB_ENDPOINT``). The
series from stored analyses parses each ~25 kB document (SQLite's JSON parser, ~0.1 ms each), so
it grows with the range: bounded by ``DASHBOARD_SERIES_MAX_ENTRIES``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from analyzer.catalog import load_catalog
from analyzer.settings import Settings
from analyzer.store.protocol import CorrectionRequest, Store
from analyzer.store.sqlite import SqliteStore
from bench.store_cost import LOCAL_KEY, local_cosmos
from dashboard_api.identity.api_keys import issue_key
from dashboard_api.main import create_app
from dashboard_api.settings import DashboardSettings
from schemas.alarms import AlarmKind, ResolvedAlarm, RootCause
from schemas.public import Role
from schemas.results import (
    AlarmType,
    AnalysisResult,
    FinalStatus,
    HeuristicBlock,
    HeuristicSensorResult,
    MLBlock,
    MLResult,
    SensorStatus,
    Severity,
    StatisticalBlock,
    StatisticalSensorResult,
    day_bucket,
)

ANALYSES = 8_640
ANOMALOUS_EVERY = 29  # 298 of 8,640
RESOLVED = 300
CORRECTIONS = 120
PEOPLE = ("alice", "bob", "carol")


def day_of_results(end: datetime) -> list[AnalysisResult]:
    catalog = load_catalog()
    sensors = [spec.name for spec in catalog.sensors]
    start = end - timedelta(seconds=10 * ANALYSES)
    results = []
    for n in range(ANALYSES):
        moment = start + timedelta(seconds=10 * n)
        anomalous = n % ANOMALOUS_EVERY == 0
        values = {name: 100.0 + i + (n % 13) * 0.01 for i, name in enumerate(sensors)}
        flagged = [sensors[n % len(sensors)]] if anomalous else []
        heuristic = {
            name: HeuristicSensorResult(
                value=value,
                alarm_type=AlarmType.HIGH if name in flagged else AlarmType.OK,
                status=SensorStatus.ANOMALY if name in flagged else SensorStatus.NORMAL,
                limit=value - 1 if name in flagged else None,
                context="1 unit above the High limit" if name in flagged else "within alarm limits",
            )
            for name, value in values.items()
        }
        statistical = {
            name: StatisticalSensorResult(value=value, mean=value - 0.1, std=0.5, z_score=0.2, status="Normal")
            for name, value in values.items()
        }
        entry = f"{int(moment.timestamp() * 1000)}-0"
        results.append(
            AnalysisResult(
                id=entry,
                source_entry_id=entry,
                timestamp=moment,
                day=day_bucket(moment),
                raw_data=values,
                heuristic=HeuristicBlock(timestamp=moment, processing_time_ms=0.4, results=heuristic),
                statistical=StatisticalBlock(timestamp=moment, processing_time_ms=0.6, results=statistical),
                ml=MLBlock(
                    timestamp=moment,
                    processing_time_ms=1.1,
                    results=MLResult(
                        values=dict.fromkeys(sensors, 0.01),
                        score=0.3,
                        raw_score=-0.1,
                        threshold=0.95,
                        status="Normal",
                        model_version="v1",
                    ),
                ),
                final_status=FinalStatus.ANOMALY if anomalous else FinalStatus.NORMAL,
                severity_level=Severity.HIGH if anomalous else None,
                overall_confidence=0.9,
                anomalous_sensors=flagged,
                analyzed_at=moment + timedelta(milliseconds=30),
            )
        )
    return results


def resolved_alarm(n: int, end: datetime) -> ResolvedAlarm:
    opened = end - timedelta(minutes=4 * n + 5)
    return ResolvedAlarm(
        id=f"high:TI-{n:03d}@{n}-0",
        alarm_key=f"high:TI-{n:03d}",
        kind=AlarmKind.HIGH,
        tier="heuristic",
        sensors=["TI-101"],
        group="TI-101",
        severity_level=Severity.HIGH,
        opened_at=opened,
        last_seen=opened + timedelta(minutes=2),
        first_entry_id=f"{n}-0",
        last_entry_id=f"{n}-0",
        count=12,
        description="TI-101 above High",
        etag="2",
        resolved_by=PEOPLE[n % 3],
        resolved_at=end - timedelta(minutes=4 * n),
        resolution_note="checked",
        root_cause=RootCause.PROCESS_UPSET,
    )


async def seed(store: Store, end: datetime) -> list[AnalysisResult]:
    results = day_of_results(end)
    for start in range(0, len(results), 64):
        await store.put_results(results[start : start + 64])
    for n in range(RESOLVED):
        await store.close_alarm(resolved_alarm(n, end))
    for n in range(CORRECTIONS):
        target = results[n * 70]
        await store.correct_value(
            CorrectionRequest(
                uuid.uuid4().hex, target.id, "TI-101", 99.0, "calibration", PEOPLE[n % 3], end - timedelta(minutes=n)
            )
        )
    return results


def queries(end: datetime) -> dict[str, tuple[str, dict[str, Any]]]:
    hour_ago = (end - timedelta(hours=1)).isoformat()
    return {
        "results, newest 50": ("/api/v1/results", {"limit": 50}),
        "results, newest 100": ("/api/v1/results", {"limit": 100}),
        "results, one hour (360), 100": ("/api/v1/results", {"start": hour_ago, "end": end.isoformat(), "limit": 100}),
        "results, anomalous, 100": ("/api/v1/results", {"status": "anomaly", "limit": 100}),
        "results, flagged TI-101, 100": ("/api/v1/results", {"sensor": "TI-101", "limit": 100}),
        "results, page 2 (continuation)": ("/api/v1/results", {"limit": 100, "continuation": "<page 1>"}),
        "resolved anomalies by resolver": ("/api/v1/resolved-anomalies", {"resolved_by": "alice", "limit": 100}),
        "results per hour, 24 h": ("/api/v1/stats/results-per-hour", {"end": end.isoformat()}),
        "audit trail by person": ("/api/v1/corrections", {"modified_by": "bob", "limit": 100}),
        "sensor series from results, 24 h": (
            "/api/v1/live/sensors/TI-101/readings",
            {"start": (end - timedelta(hours=30)).isoformat(), "end": end.isoformat(), "points": 500},
        ),
    }


@contextlib.asynccontextmanager
async def api(store: Store) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    key, spec = issue_key("bench", Role.VIEWER)
    config = DashboardSettings(_env_file=None, api_keys=[spec], maintenance_interval_s=0)  # type: ignore[call-arg]
    # The history routes never touch Redis; the client connects lazily, so it is never used.
    redis = Redis.from_url("redis://127.0.0.1:6379/0", decode_responses=True)
    app = create_app(Settings(_env_file=None), dashboard=config, redis=redis, store=store)  # type: ignore[call-arg]
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            yield client, {"X-API-Key": key}
    await redis.aclose()


async def measure(store: Store, end: datetime, repeat: int) -> dict[str, tuple[float, float, int]]:
    figures: dict[str, tuple[float, float, int]] = {}
    async with api(store) as (client, headers):
        first = await client.get("/api/v1/results", params={"limit": 100}, headers=headers)
        page_one = first.json()["continuation"]
        for name, (url, params) in queries(end).items():
            params = {k: (page_one if v == "<page 1>" else v) for k, v in params.items()}
            timings = []
            size = 0
            for attempt in range(repeat + 1):
                started = time.perf_counter()
                response = await client.get(url, params=params, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{name}: HTTP {response.status_code} {response.text[:300]}")
                size = len(response.content)
                if attempt:  # the first run warms caches
                    timings.append(elapsed)
            figures[name] = (statistics.median(timings), _p95(timings), size)
    return figures


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def report(backend: str, figures: dict[str, tuple[float, float, int]], seeded_s: float) -> None:
    print(f"\n{backend}: {ANALYSES:,} analyses, seeded in {seeded_s:.0f} s")
    print(f"  {'query':<36} {'p50 ms':>8} {'p95 ms':>8} {'response':>10}")
    for name, (p50, p95, size) in figures.items():
        print(f"  {name:<36} {p50:>8.1f} {p95:>8.1f} {size / 1024:>8.0f} kB")


async def run(backend: str, open_store: Callable[[], Any], repeat: int) -> None:
    end = datetime.now(UTC).replace(microsecond=0)
    store = await open_store()
    try:
        started = time.perf_counter()
        await seed(store, end)
        seeded_s = time.perf_counter() - started
        report(backend, await measure(store, end, repeat), seeded_s)
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--sqlite-only", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        await run("SQLite", lambda: SqliteStore.open(Path(folder) / "bench.db"), options.repeat)
    if options.sqlite_only:
        return
    from analyzer.store.cosmos import CosmosStore

    async def cosmos(endpoint: str, key: str | None, verify: bool) -> Any:
        return await CosmosStore.open(
            endpoint=endpoint,
            database=f"bench-{uuid.uuid4().hex[:8]}",
            key=key,
            verify_tls=verify,
            create_if_missing=True,
        )

    endpoint = os.environ.get("COSMOS_DB_ENDPOINT")
    repeat = max(5, options.repeat // 4)  # the local server is slow to query: fewer repeats
    if endpoint:
        await run("Cosmos DB", lambda: cosmos(endpoint, os.environ.get("COSMOS_DB_KEY"), True), repeat)
    else:
        with local_cosmos() as local:
            await run("Cosmos-protocol server (local)", lambda: cosmos(local, LOCAL_KEY, False), repeat)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
