"""The evidence: trends, sensors that moved together, bounds, and the last hour read from Redis."""

from __future__ import annotations

import json
from datetime import timedelta

import orjson
import pytest
from redis.asyncio import Redis

from analyzer.keys import PAYLOAD_FIELD
from analyzer.tiers.llm.evidence import AlarmView, EvidenceLimits, build_evidence, read_recent
from analyzer.tiers.llm.prompt import evidence_document
from tests.llm.factories import CATALOG, END, SPECS, centre, plant_history, ramp, step_at, view

TI = SPECS["TI-101"]  # High 358.4, High-High 361.6


def test_a_rising_temperature_is_summarised_with_its_slope_and_time_beyond_the_limits() -> None:
    history = plant_history(shapes={"TI-101": ramp(350.0, 362.0)})
    evidence = build_evidence(view(), CATALOG, history, history)
    [sensor] = evidence.sensors
    trend = sensor.trend
    assert trend is not None
    assert (sensor.description, sensor.unit, sensor.catalogued) == (TI.description, "degC", True)
    assert sensor.limits == {"low_low": 342.4, "low": 345.6, "high": 358.4, "high_high": 361.6}
    assert trend.samples == 360
    assert trend.slope_per_h == pytest.approx(12.0, rel=0.01)
    assert trend.direction == "rising"
    assert trend.first == pytest.approx(350.0, abs=0.05) and trend.last == 362.0
    # above 358.4 from minute 42 on (18 min), above 361.6 from minute 58 (2 min)
    assert trend.beyond_alarm_min == pytest.approx(18.0, abs=0.3)
    assert trend.beyond_trip_min == pytest.approx(2.0, abs=0.3)
    assert trend.unchanged_min == 0.0


def test_sensors_that_moved_in_the_last_15_minutes_are_named_and_quiet_ones_are_not() -> None:
    fuel = SPECS["FI-102"]  # fuel gas flow; band 2080..2720
    level = SPECS["LI-101"]
    shapes = {
        "TI-101": ramp(350.0, 362.0),
        # fuel gas steps up 200 Nm3/h 15 minutes before the end: far beyond 3 sigma of its noise
        "FI-102": step_at(centre(fuel), centre(fuel) + 200, 45 * 60),
        # the level steps by a fifth of its noise, which is not a move
        "LI-101": step_at(centre(level), centre(level) + 0.2, 45 * 60),
    }
    history = plant_history(shapes=shapes)
    evidence = build_evidence(view(), CATALOG, history, history)
    moved = {m.name: m for m in evidence.moved_together}
    assert "FI-102" in moved and moved["FI-102"].direction == "up"
    assert moved["FI-102"].recent_mean == pytest.approx(centre(fuel) + 200, rel=1e-3)
    assert "LI-101" not in moved
    assert "TI-101" not in moved  # the alarm's own sensor is not "another" sensor
    # noise alone moves nothing else (seeded normal noise, 3 sigma on the mean of 90 samples)
    assert set(moved) == {"FI-102"}


def test_evidence_is_bounded_and_rounded() -> None:
    names = tuple(s.name for s in CATALOG.sensors if s.update_interval_s == 10)[:20]
    contributions = {name: 0.01 * (i + 1) for i, name in enumerate(names)}
    history = plant_history()
    evidence = build_evidence(
        view("forest", names, peak_deviation=0.973456789, contributions=contributions),
        CATALOG,
        history,
        history,
        limits=EvidenceLimits(max_sensors=5, max_moved=2),
    )
    assert [s.name for s in evidence.sensors] == list(reversed(names))[:5]  # largest contributions first
    assert evidence.omitted_sensors == 15
    assert len(evidence.moved_together) <= 2
    assert evidence.alarm.peak_deviation == 0.9735
    document = evidence_document(evidence)
    assert len(document) < 6000, len(document)
    assert "values" not in json.loads(document)  # summaries only, no raw series


def test_a_sensor_without_history_or_catalogue_entry_is_marked_not_invented() -> None:
    name = "XX-999\x00\nsecret"
    evidence = build_evidence(view("zscore", (name,), z_scores={name: 4.2}), CATALOG, [], [])
    [sensor] = evidence.sensors
    assert sensor.catalogued is False and sensor.description is None and sensor.trend is None
    assert sensor.name == "XX-999 secret"  # control characters removed
    assert sensor.z_score == 4.2


def test_an_alarm_view_refuses_what_the_record_cannot_mean() -> None:
    with pytest.raises(ValueError, match="unknown kind 'bogus'"):
        view("bogus")
    with pytest.raises(ValueError, match="timezone-aware"):
        AlarmView(**{**view().__dict__, "opened_at": END.replace(tzinfo=None)})


@pytest.mark.redis
async def test_read_recent_takes_the_last_hour_newest_kept_under_the_cap(redis_client: Redis, stream_key: str) -> None:
    start_ms = int((END - timedelta(minutes=90)).timestamp() * 1000)
    for i in range(540):  # 90 minutes at 10 s
        moment = END - timedelta(minutes=90) + timedelta(seconds=10 * (i + 1))
        payload = {"timestamp": moment.isoformat().replace("+00:00", "Z"), "TI-101": 350.0 + i / 100, "FI-102": 2400.0}
        await redis_client.xadd(
            stream_key, {PAYLOAD_FIELD: orjson.dumps(payload)}, id=f"{start_ms + 10_000 * (i + 1)}-0"
        )
    await redis_client.xadd(stream_key, {PAYLOAD_FIELD: "not json"}, id=f"{int(END.timestamp() * 1000)}-1")
    await redis_client.xadd(stream_key, {"other": "x"}, id=f"{int(END.timestamp() * 1000)}-2")

    history = await read_recent(redis_client, stream_key, ["TI-101"], window_s=3600, now=END)
    assert len(history) == 361  # the last hour, both ends included; the broken entries skipped
    assert history[0][0] == (END - timedelta(minutes=60)).timestamp()
    assert history[-1][0] == END.timestamp()
    assert all(set(values) == {"TI-101"} for _, values in history)
    assert [t for t, _ in history] == sorted(t for t, _ in history)

    capped = await read_recent(redis_client, stream_key, None, window_s=3600, now=END, max_entries=30)
    # the cap counts entries: the two broken ones are among the 30 newest
    assert len(capped) == 28 and capped[-1][0] == END.timestamp()
    assert set(capped[0][1]) == {"TI-101", "FI-102"}

    earlier = await read_recent(redis_client, stream_key, None, window_s=600, now=END - timedelta(minutes=60))
    assert earlier[-1][0] == (END - timedelta(minutes=60)).timestamp()  # nothing after ``now``
    assert len(earlier) == 61
