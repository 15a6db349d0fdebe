"""Latency of the dashboard API's history queries over 24 hours of analyses, on SQLite and on the
Cosmos-protocol server.

Run: ``.venv/bin/python -m bench.dashboard_queries`` (``npm ci`` first for the Cosmos part;
``--sqlite-only`` skips it; ``COSMOS_DB_ENDPOINT``/``COSMOS_DB_KEY`` measure a real account).

The store holds one simulated day: 8,640 analyses (one every 10 s) of the shipped 100-sensor
catalogue with all three tiers' blocks (about the size the pipeline writes), 300 of them
anomalous, 300 open anomalies in the queue, 300 resolved ones and 120 audit records. Every query
goes through the whole API in-process (routing, the API-key check, the store query, the mapping
to public models, JSON), only the network is left out. Each query runs ``--repeat`` times after one warm-up; the figures
are wall-clock milliseconds per request.

Measured 2026-11-29 on the shared 2-core machine (load average 5-8 from other work, so upper
bounds; SQLite and the Cosmos-protocol server in separate runs), p50 / p95 ms:

====================================  ===============  ======================  ==============
query                                 SQLite           Cosmos-protocol server  response
====================================  ===============  ======================  ==============
results, newest 50                    25 / 47          653 / 1685              333 kB
results, newest 100                   79 / 155         856 / 909               667 kB
results, one hour (360), 100          87 / 103         855 / 1849              667 kB
results, anomalous, 100               69 / 95          843 / 1562              678 kB
results, flagged TI-101, 100          7 / 10           466 / 613               20 kB
results, page 2 (continuation)        57 / 79          768 / 919               667 kB
resolved anomalies by resolver        10 / 13          64 / 109                40 kB
results per hour, 24 h                41 / 56          1349 / 2645             2 kB
audit trail by person                 7 / 9            26 / 186                10 kB
anomaly queue, newest 100             42 / 56          117 / 132               69 kB
anomaly queue, most severe 100        36 / 51          112 / 178               69 kB
anomaly queue, page 2                 28 / 36          65 / 108                69 kB
anomaly queue, one sensor             8 / 15           24 / 37                 2 kB
anomaly queue, unacknowledged         25 / 35          63 / 95                 68 kB
one anomaly with evidence             12 / 21          626 / 760               14 kB
anomalies per hour, 24 h              35 / 66          121 / 172               1 kB
response times, 24 h                  36 / 50          118 / 141               0 kB
alarm report, 24 h                    46 / 78          93 / 124                2 kB
sensor series from results, 24 h      1368 / 2298      904 / 1066              48 kB
====================================  ===============  ======================  ==============

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
from schemas.alarms import TIER_OF_KIND, AlarmKind, AlarmRecord, AlarmState, ResolvedAlarm, RootCause, Transition
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
#: Open anomalies in the queue (a bad day: a quiet plant has a handful).
OPEN = 300
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


def open_alarm(n: int, results: list[AnalysisResult], sensors: list[str]) -> AlarmRecord:
    """An open anomaly opened at one of the day's anomalous analyses, with a short history."""
    first = results[(n * ANOMALOUS_EVERY) % len(results)]
    last = results[min((n * ANOMALOUS_EVERY) % len(results) + 6, len(results) - 1)]
    sensor = sensors[n % len(sensors)]
    kind = (AlarmKind.HIGH, AlarmKind.HIGH_HIGH, AlarmKind.ZSCORE, AlarmKind.FLATLINE)[n % 4]
    severity = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)[n % 4]
    history = [Transition(at=first.timestamp, action="activated", entry_id=first.id)]
    if n % 3 == 0:
        history.append(Transition(at=last.timestamp, action="acknowledged", by=PEOPLE[n % 3], note="looking"))
    return AlarmRecord(
        id=f"{kind.value}:{sensor}@{first.id}",
        alarm_key=f"{kind.value}:{sensor}",
        kind=kind,
        tier=TIER_OF_KIND[kind],
        sensors=[sensor],
        group=sensor,
        severity_level=severity,
        state=AlarmState.ACK_ACTIVE if n % 3 == 0 else AlarmState.UNACK_ACTIVE,
        opened_at=first.timestamp,
        last_seen=last.timestamp,
        first_entry_id=first.id,
        last_entry_id=last.id,
        count=7,
        activation_times=[first.timestamp.timestamp()],
        last_value=first.raw_data[sensor],
        peak_value=first.raw_data[sensor],
        peak_deviation=1.0,
        description=f"{sensor} above its limit",
        evidence={sensor: 4.2},
        acknowledged_by=PEOPLE[n % 3] if n % 3 == 0 else None,
        acknowledged_at=last.timestamp if n % 3 == 0 else None,
        history=history,
        etag="2" if n % 3 == 0 else "1",
    )


async def seed(store: Store, end: datetime) -> list[AnalysisResult]:
    results = day_of_results(end)
    for start in range(0, len(results), 64):
        await store.put_results(results[start : start + 64])
    for n in range(RESOLVED):
        await store.close_alarm(resolved_alarm(n, end))
    sensors = [spec.name for spec in load_catalog().sensors]
    await store.put_alarms([open_alarm(n, results, sensors) for n in range(OPEN)])
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
        "anomaly queue, newest 100": ("/api/v1/anomalies", {"limit": 100}),
        "anomaly queue, most severe 100": ("/api/v1/anomalies", {"sort": "-severity", "limit": 100}),
        "anomaly queue, page 2": ("/api/v1/anomalies", {"limit": 100, "continuation": "<queue page 1>"}),
        "anomaly queue, one sensor": ("/api/v1/anomalies", {"sensor": "TI-101"}),
        "anomaly queue, unacknowledged": ("/api/v1/anomalies", {"state": "unack_active", "limit": 100}),
        "one anomaly with evidence": ("/api/v1/anomalies/<anomaly>", {}),
        "anomalies per hour, 24 h": ("/api/v1/stats/anomalies-per-hour", {"end": end.isoformat()}),
        "response times, 24 h": ("/api/v1/stats/response-times", {"end": end.isoformat()}),
        "alarm report, 24 h": ("/api/v1/report", {"until": end.isoformat()}),
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
        queue = (await client.get("/api/v1/anomalies", params={"limit": 100}, headers=headers)).json()
        tokens = {"<page 1>": page_one, "<queue page 1>": queue["continuation"]}
        for name, (url, params) in queries(end).items():
            params = {k: tokens.get(v, v) for k, v in params.items()}
            url = url.replace("<anomaly>", queue["data"][0]["id"])
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
    print(f"  (SQLite target: p95 under 100 ms for the anomaly list and history queries; {OPEN} open anomalies)")


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
