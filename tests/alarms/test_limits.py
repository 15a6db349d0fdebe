"""Learned limits for a sensor without any: suggested from its normal readings, applied only once an
admin accepts them (audited), and then by every replica from the same point of the stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import pytest
from redis.asyncio import Redis

from analyzer.alarms.codec import load_alarm
from analyzer.alarms.limits import AcceptedLimits, AcceptedOperatingPoint, Limits, suggest
from analyzer.alarms.operations import TransitionError
from analyzer.alarms.service import AlarmNotFound
from analyzer.alarms.step import Phase
from analyzer.runtime.services import Services, open_services
from analyzer.settings import Settings
from analyzer.tiers.statistical import StatisticalSettings
from schemas.catalog import SensorCatalog, SensorSpec

pytestmark = pytest.mark.redis
T0 = 1_800_000_000


@pytest.fixture
async def services(settings: Settings, tmp_path: Path) -> AsyncIterator[Services]:
    catalog = SensorCatalog(
        plant="p",
        sensors=[
            SensorSpec(name="TI-1", unit="degC", description="t", core=True, low=0, high=1000),
            SensorSpec(name="AI-9", unit="ppm", description="an analyser nobody gave limits"),
        ],
    )
    path = tmp_path / "catalog.json"
    path.write_text(catalog.model_dump_json())
    tier2 = StatisticalSettings(_env_file=None, min_history=30, bucket_s=60, protect_min_span=0.0)  # type: ignore[call-arg]
    opened = await open_services(settings.model_copy(update={"sensor_catalog": path}), statistical_settings=tier2)
    yield opened
    await opened.close()


async def _feed(services: Services, rows: list[tuple[float, float]], start: int) -> list[str]:
    """Entries with ids at their reading times (10 s apart), analysed by the pipeline."""
    ids = []
    for k, (ti, ai) in enumerate(rows):
        t = T0 + 10 * (start + k)
        document = {"timestamp": datetime.fromtimestamp(t, UTC).isoformat(), "TI-1": ti, "AI-9": ai}
        ids.append(
            str(await services.redis.xadd(services.keys.stream, {"payload": json.dumps(document)}, id=f"{t * 1000}-0"))
        )
    entries = await services.redis.xrange(services.keys.stream, min=ids[0], max=ids[-1])
    await services.pipeline.analyze_entries(entries)
    return ids


async def test_suggest_accept_and_apply(services: Services, redis_client: Redis) -> None:
    rng = np.random.default_rng(1)
    normal = [(500 + rng.normal(), round(40 + rng.normal(), 2)) for _ in range(200)]
    await _feed(services, normal, 0)
    state = await services.pipeline.refresh()
    assert state.tier2 is not None
    [suggestion] = suggest(state.tier2, services.pipeline.base_index)
    assert suggestion.sensor == "AI-9" and suggestion.samples >= 150
    lim = suggestion.suggested
    assert lim.low_low < lim.low < 40 < lim.high < lim.high_high  # type: ignore[operator]
    assert abs(lim.high - (suggestion.centre + 4 * suggestion.spread)) < 0.02  # type: ignore[operator]

    # Not accepted yet: an excursion far above the suggestion raises no limit alarm.
    await _feed(services, [(500.0, 80.0)], 200)
    assert await redis_client.hget(services.keys.alarms, "high:AI-9") is None

    # Only sensors without limits; then accepted, audited, applied.
    with pytest.raises(TransitionError, match="has alarm limits in the catalogue"):
        await services.alarms.accept_limits(
            services.index.catalog,
            AcceptedLimits(sensor="TI-1", limits=Limits(high=9), accepted_by="ada", accepted_at=datetime.now(UTC)),
        )
    accepted = AcceptedLimits(sensor="AI-9", limits=lim, accepted_by="ada", accepted_at=datetime.now(UTC))
    await services.alarms.accept_limits(services.index.catalog, accepted)
    [(_, audit)] = await redis_client.xrange(services.keys.limits_audit)
    assert orjson.loads(audit["record"])["accepted_by"] == "ada"
    assert (await services.alarms.accepted_limits())["AI-9"].limits == lim

    await _feed(services, [(500.0, 80.0)] * 3, 201)
    raw = await redis_client.hget(services.keys.alarms, "high:AI-9")
    assert raw is not None and orjson.loads(raw)["record"]["count"] == 3
    assert services.pipeline.index.spec("AI-9").high == lim.high  # the folder now has them
    assert services.pipeline.base_index.spec("AI-9").high is None  # the catalogue itself is unchanged


async def test_an_operator_accepts_a_new_operating_point(services: Services, redis_client: Redis) -> None:
    """A lasting step holds its z-score alarm against the frozen baseline; accepting the new level
    (audited) restarts the sensor's baseline at the next entry on every replica, and the alarm clears."""
    rng = np.random.default_rng(4)
    await _feed(services, [(500 + rng.normal(), round(40 + rng.normal(), 2)) for _ in range(200)], 0)
    step = [(500 + rng.normal(), round(60 + rng.normal(), 2)) for _ in range(100)]  # 20 sigma, lasting
    await _feed(services, step, 200)
    raw = await redis_client.hget(services.keys.alarms, "zscore:AI-9")
    assert raw is not None and orjson.loads(raw)["record"]["count"] >= 95  # flagged all along

    with pytest.raises(AlarmNotFound):
        await services.alarms.accept_operating_point(
            services.index.catalog,
            AcceptedOperatingPoint(sensor="XX-1", accepted_by="ada", accepted_at=datetime.now(UTC)),
        )
    epoch = int(await redis_client.hget(services.keys.fold, "epoch") or 0)
    accepted = AcceptedOperatingPoint(sensor="AI-9", accepted_by="ada", accepted_at=datetime.now(UTC), note="new grade")
    await services.alarms.accept_operating_point(services.index.catalog, accepted)
    assert int(await redis_client.hget(services.keys.fold, "epoch") or 0) == epoch + 1
    [(_, audit)] = await redis_client.xrange(services.keys.limits_audit)
    record = orjson.loads(audit["record"])
    assert (
        record["action"] == "operating_point_accepted" and record["sensor"] == "AI-9" and record["note"] == "new grade"
    )

    ids = await _feed(services, [(500 + rng.normal(), round(60 + rng.normal(), 2)) for _ in range(100)], 300)
    assert orjson.loads(await redis_client.hget(services.keys.fold, "accept") or b"[]") == []  # applied once
    state = await services.pipeline.refresh()
    assert state.tier2 is not None and not np.isnan(state.tier2.sensors["baseline_from"][1])
    raw = await redis_client.hget(services.keys.alarms, "zscore:AI-9")
    alarm = load_alarm(raw) if raw else None
    assert alarm is None or alarm.phase not in (Phase.ACTIVE, Phase.PENDING_OFF)  # the new level is normal now
    results = [await services.store.get_result(i) for i in ids[-30:]]
    assert all(r is not None and r.final_status == "normal" for r in results)
