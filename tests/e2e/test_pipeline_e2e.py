"""End to end on a real Redis and SQLite, with tiers 1 and 2: simulate a plant with labelled
anomalies, land it, run the stream worker until the group has nothing left, and check that every
payload has a result and each limit breach is one alarm record counting its readings; then re-process
everything and check that nothing changed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from redis.asyncio import Redis

from analyzer.devtools.simulator import AnomalyLabel, iter_payloads, simulate_plant
from analyzer.keys import CONSUMER_GROUP
from analyzer.runtime.consumer import ConsumerStats
from analyzer.runtime.services import Services, open_services
from analyzer.runtime.sweep import sweep
from analyzer.runtime.worker import ConsumerConfig, analysis_worker
from analyzer.settings import Settings
from schemas.results import AnalysisResult
from tests.integration.helpers import all_alarms, all_results, group_info, group_is_done, land, wait_until

N = 1200  # 3 h 20 min of 10 s payloads
SEED = 2  # two limit breaches (PI-601 low, FI-401 high), stuck sensors and a spike
ANOMALY_RATE = 0.3


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(settings)  # tier 2 on, as deployed
    yield opened
    await opened.close()


async def _run_worker(services: Services) -> ConsumerStats:
    config = ConsumerConfig(batch_size=64, block_ms=50)
    worker = analysis_worker(services.redis, services.keys, services.pipeline, config)
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await wait_until(lambda: group_is_done(services.redis, services.keys.stream), timeout=25, what="the worker")
    stop.set()
    return await run


def _tier1(result: AnalysisResult) -> tuple[tuple[str, str], ...]:
    """The sensors tier 1 alarmed, with their alarm type."""
    return tuple(
        sorted((name, str(r.alarm_type)) for name, r in result.heuristic.results.items() if r.status == "Anomaly")
    )


def _readings_in(label: AnomalyLabel) -> int:
    return int((label.end - label.start).total_seconds() // 10) + 1


@pytest.mark.timeout(60)
async def test_simulated_plant_through_the_worker(services: Services, redis_client: Redis, stream_key: str) -> None:
    assert services.pipeline.statistical is not None, "tier 2 should be on by default"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10 * N + 60)
    plant = simulate_plant(services.index.catalog, start, N, seed=SEED, anomaly_rate=ANOMALY_RATE)
    breaches = [label for label in plant.labels if label.kind == "limit_breach"]
    assert len(breaches) == 2 and all(_readings_in(b) > 1 for b in breaches)
    ids = await land(services.lander, list(iter_payloads(plant)))
    assert len(ids) == N

    first = await _run_worker(services)
    assert (first.handled, first.dead_lettered) == (N, 0)

    results = await all_results(services.store)
    assert len(results) == N and {r.id for r in results} == set(ids)
    records = await all_alarms(services.store)
    for label in breaches:
        [sensor] = label.sensors
        direction = "high" if label.detail.startswith("high") else "low"
        key = f"{label.detail}:{sensor}"
        # Every reading in the label's span is past the limit (the simulator's promise) ...
        spec = services.index.spec(sensor)
        limit = getattr(spec, label.detail)
        column = plant.column(sensor)
        span = (plant.timestamps >= np.datetime64(label.start.replace(tzinfo=None), "ms")) & (
            plant.timestamps <= np.datetime64(label.end.replace(tzinfo=None), "ms")
        )
        past = column[span] > limit if direction == "high" else column[span] < limit
        assert past.all() and past.sum() == _readings_in(label)
        # ... and the breach is one alarm record counting each of them once, not one per reading.
        matching = [a for a in records if a.alarm_key == key]
        assert len(matching) == 1, [(a.id, a.count) for a in matching]
        [record] = matching
        assert record.opened_at == label.start
        assert record.count == _readings_in(label)
        assert record.last_seen == label.end
        assert record.process == "cleared"  # the sensor came back inside its limits (and its deadband)
        breached = [r for r in results if record.id in r.alarm_ids]
        assert len(breached) == _readings_in(label)
        assert all(r.final_status.value == "anomaly" and sensor in r.anomalous_sensors for r in breached)
    # Nothing else was alarmed on those sensors' limits.
    limit_keys = {a.alarm_key for a in records if a.tier == "heuristic"}
    assert limit_keys == {"low:PI-601", "high:FI-401"}

    # Re-delivering every entry (the group rewound) keeps one result per entry with the same
    # verdicts and changes no alarm: the stream was folded past them; they are acknowledged.
    before = {a.id: (a.count, a.last_seen, a.state, a.revision) for a in records}
    tier1_before = {r.id: _tier1(r) for r in results}
    verdicts_before = {r.id: (r.final_status, r.severity_level, tuple(r.anomalous_sensors)) for r in results}
    assert sum(bool(v) for v in tier1_before.values()) == sum(_readings_in(b) for b in breaches)
    await redis_client.xgroup_setid(stream_key, CONSUMER_GROUP, "0")
    assert (await group_info(redis_client, stream_key))["lag"] == N
    again = await _run_worker(services)
    assert (again.handled, again.dead_lettered) == (N, 0)
    after_results = await all_results(services.store)
    assert len(after_results) == N
    assert {r.id: _tier1(r) for r in after_results} == tier1_before
    assert {r.id: (r.final_status, r.severity_level, tuple(r.anomalous_sensors)) for r in after_results} == (
        verdicts_before
    )
    assert {a.id: (a.count, a.last_seen, a.state, a.revision) for a in await all_alarms(services.store)} == before

    # And the sweep finds nothing to do.
    outcome = await sweep(redis_client, services.keys, services.store, services.pipeline, grace_s=0)
    assert (outcome.scanned, outcome.analysed, outcome.already_done, outcome.dead_lettered) == (N, 0, N, 0)
