from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from analyzer.catalog.index import SensorIndex
from analyzer.reading import to_reading
from analyzer.tiers.heuristic import HeuristicTier, classify
from schemas.results import AlarmType, SensorStatus
from tests.utils.payloads import small_catalog

INDEX = SensorIndex.from_catalog(small_catalog())  # TI-1: LL 0, L 10, H 90, HH 100; PI-1: H 5; FI-1: none


def evaluate(**values: float):  # type: ignore[no-untyped-def]
    document = {"timestamp": datetime(2026, 11, 23, tzinfo=UTC).isoformat(), "TI-1": 50.0, **values}
    reading = to_reading(document, "1-0", INDEX)
    [outcome] = HeuristicTier(INDEX).evaluate([reading])
    return reading, outcome


@pytest.mark.parametrize(
    ("value", "alarm"),
    [
        (-0.01, AlarmType.LOW_LOW),
        (0.0, AlarmType.LOW_LOW),  # exactly at a limit counts as reaching it
        (0.01, AlarmType.LOW),
        (10.0, AlarmType.LOW),
        (10.01, AlarmType.OK),
        (50.0, AlarmType.OK),
        (89.99, AlarmType.OK),
        (90.0, AlarmType.HIGH),
        (99.99, AlarmType.HIGH),
        (100.0, AlarmType.HIGH_HIGH),
        (1e9, AlarmType.HIGH_HIGH),
    ],
)
def test_boundaries_of_a_fully_limited_sensor(value: float, alarm: AlarmType) -> None:
    _, outcome = evaluate(**{"TI-1": value})
    result = outcome.block.results["TI-1"]
    assert result.alarm_type is alarm
    assert result.status is (SensorStatus.NORMAL if alarm is AlarmType.OK else SensorStatus.ANOMALY)


def test_missing_limits_are_never_crossed() -> None:
    _, outcome = evaluate(**{"PI-1": -1e9, "FI-1": 1e12})
    assert outcome.block.results["PI-1"].alarm_type is AlarmType.OK  # only a High limit
    assert outcome.block.results["FI-1"].alarm_type is AlarmType.OK
    assert outcome.block.results["FI-1"].context == "no alarm limits configured"
    _, outcome = evaluate(**{"PI-1": 5.0})
    assert outcome.block.results["PI-1"].alarm_type is AlarmType.HIGH


def test_context_names_the_limit_and_the_excess() -> None:
    _, outcome = evaluate(**{"TI-1": 103.5})
    result = outcome.block.results["TI-1"]
    assert result.limit == 100.0
    assert result.context == "103.5 degC is 3.5 degC above the High-High limit 100"


def test_absent_sensors_are_not_reported_and_unknown_ones_are_kept() -> None:
    reading, outcome = evaluate(**{"ZZ-1": 7.0})
    assert set(outcome.block.results) == {"TI-1"}
    assert reading.unknown == ("ZZ-1",)
    assert reading.raw["ZZ-1"] == 7.0


def test_batch_classification_equals_one_by_one() -> None:
    rng = np.random.default_rng(3)
    matrix = rng.uniform(-20, 120, size=(500, 3))
    matrix[rng.random(matrix.shape) < 0.1] = np.nan
    batch = classify(matrix, INDEX)
    single = np.stack([classify(row, INDEX) for row in matrix])
    np.testing.assert_array_equal(batch, single)
