"""Every labelled anomaly is really in the data, and looks like its kind."""

from __future__ import annotations

from collections import Counter
from datetime import UTC

import numpy as np
import pytest

from analyzer.devtools.simulator import KINDS, AnomalyLabel, SimulatedPlant, simulate_plant
from analyzer.devtools.simulator.profiles import profile_for
from schemas.catalog import SensorCatalog
from tests.simulator.simulated_days import START


def _rows(plant: SimulatedPlant, label: AnomalyLabel) -> np.ndarray:
    start = np.datetime64(label.start.replace(tzinfo=None), "ms")
    end = np.datetime64(label.end.replace(tzinfo=None), "ms")
    return np.flatnonzero((plant.timestamps >= start) & (plant.timestamps <= end))


def _labels(plant: SimulatedPlant, kind: str) -> list[AnomalyLabel]:
    found = [label for label in plant.labels if label.kind == kind]
    assert found, f"no {kind} in the busy day"
    return found


def test_busy_day_has_every_kind(busy_day: SimulatedPlant) -> None:
    counts = Counter(label.kind for label in busy_day.labels)
    assert set(counts) == set(KINDS)
    assert all(n >= 3 for n in counts.values()), counts


def test_default_rate_gives_a_handful_of_anomalies_a_day(day: SimulatedPlant) -> None:
    assert 3 <= len(day.labels) <= 20
    assert 0.01 < day.anomalous.mean() < 0.15


def test_labels_match_row_kinds_and_never_overlap(busy_day: SimulatedPlant) -> None:
    covered = np.zeros(busy_day.row_kind.size, dtype=int)
    for label in busy_day.labels:
        rows = _rows(busy_day, label)
        assert rows.size >= 1
        assert set(busy_day.row_kind[rows]) == {label.kind}
        columns = np.array([busy_day.sensor_names.index(name) for name in label.sensors])
        assert not np.isnan(busy_day.values[np.ix_(rows, columns)]).any()  # labelled readings are visible
        covered[rows] += 1
    assert covered.max() == 1
    assert np.array_equal(covered == 1, busy_day.anomalous)


def test_limit_breach_rows_are_past_the_named_limit(busy_day: SimulatedPlant, catalog: SensorCatalog) -> None:
    specs = catalog.by_name()
    seen = set()
    for label in _labels(busy_day, "limit_breach"):
        (sensor,) = label.sensors
        limit = getattr(specs[sensor], label.detail)
        values = busy_day.column(sensor)[_rows(busy_day, label)]
        if label.detail in ("high", "high_high"):
            assert (values > limit).all(), label
        else:
            assert (values < limit).all(), label
        beyond = {"high": specs[sensor].high_high, "low": specs[sensor].low_low}.get(label.detail)
        if beyond is not None:  # a High breach is a High alarm, not a High-High one
            assert ((values < beyond) if label.detail == "high" else (values > beyond)).all(), label
        assert len(values) >= 12  # minutes, not a blip
        seen.add(label.detail)
    assert len(seen) >= 2


def test_stuck_rows_are_frozen(busy_day: SimulatedPlant, clean_twin: SimulatedPlant) -> None:
    for label in _labels(busy_day, "stuck"):
        (sensor,) = label.sensors
        rows = _rows(busy_day, label)
        assert len(set(busy_day.column(sensor)[rows])) == 1, label
        assert len(set(clean_twin.column(sensor)[rows])) > 1  # the true value kept moving


def test_spikes_deviate_by_many_sigma(busy_day: SimulatedPlant, clean_twin: SimulatedPlant) -> None:
    for label in _labels(busy_day, "spike"):
        (sensor,) = label.sensors
        rows = _rows(busy_day, label)
        assert len(rows) <= 3
        truth = clean_twin.column(sensor)
        steps = np.diff(truth[~np.isnan(truth)])
        sigma = np.std(steps) / np.sqrt(2)  # reading-to-reading noise
        rows = rows[~np.isnan(truth[rows])]  # the twin misses a reading now and then
        deviation = np.abs(busy_day.column(sensor)[rows] - truth[rows])
        assert deviation.size and (deviation > 8 * sigma).all(), (label, deviation, sigma)


def test_drifts_ramp_away_from_the_truth(
    busy_day: SimulatedPlant, clean_twin: SimulatedPlant, catalog: SensorCatalog
) -> None:
    specs = catalog.by_name()
    for label in _labels(busy_day, "drift"):
        (sensor,) = label.sensors
        rows = _rows(busy_day, label)
        assert len(rows) >= 60  # ten minutes or more
        offset = busy_day.column(sensor)[rows] - clean_twin.column(sensor)[rows]
        offset = offset[~np.isnan(offset)]  # the twin misses a reading now and then
        sign = 1.0 if label.detail == "up" else -1.0
        resolution = 10.0 ** -np.ceil(-np.log10(profile_for(specs[sensor]).spread * 0.04) + 1)
        assert (np.diff(sign * offset) > -2.01 * resolution).all(), label  # monotonic, up to rounding
        assert sign * offset[-1] >= 0.99 * profile_for(specs[sensor]).spread


def test_broken_correlation_decouples_a_pair_inside_its_band(
    busy_day: SimulatedPlant, clean_twin: SimulatedPlant, catalog: SensorCatalog
) -> None:
    specs = catalog.by_name()
    for label in _labels(busy_day, "broken_correlation"):
        leader, follower = label.sensors
        assert label.detail == f"{follower} decoupled"
        rows = _rows(busy_day, label)
        assert len(rows) >= 60
        both = ~np.isnan(clean_twin.column(leader)[rows]) & ~np.isnan(clean_twin.column(follower)[rows])
        rows_both = rows[both]
        before = np.corrcoef(clean_twin.column(leader)[rows_both], clean_twin.column(follower)[rows_both])[0, 1]
        during = np.corrcoef(busy_day.column(leader)[rows], busy_day.column(follower)[rows])[0, 1]
        assert before - during > 0.8, (label, before, during)
        values = busy_day.column(follower)[rows]
        spec = specs[follower]
        upper = spec.high if spec.high is not None else spec.high_high
        lower = spec.low if spec.low is not None else spec.low_low
        assert upper is None or (values < upper).all()
        assert lower is None or (values > lower).all()


@pytest.mark.parametrize("rate", [0.0, 0.02, 0.1, 0.3])
def test_anomaly_rate_is_the_share_of_anomalous_payloads(catalog: SensorCatalog, rate: float) -> None:
    shares = [
        simulate_plant(catalog, START, 3 * 8640, seed=seed, anomaly_rate=rate).anomalous.mean() for seed in range(4)
    ]
    if rate == 0.0:
        assert max(shares) == 0.0
    else:
        assert 0.5 * rate <= np.mean(shares) <= 1.5 * rate, shares


def test_the_live_showcase_shows_every_kind_long_enough_to_alarm(catalog: SensorCatalog) -> None:
    """`make run`'s live part: one anomaly of each kind, in the showcase's order, each lasting at
    least the statistical alarms' on-delay (a one-reading spike would be filtered by design)."""
    from analyzer.alarms.policy import BUILT_IN
    from analyzer.cli.stack import SHOWCASE
    from analyzer.devtools.simulator import PlantModel
    from schemas.alarms import AlarmKind

    assert sorted(SHOWCASE) == sorted(KINDS)
    backfill = 100
    model = PlantModel(catalog, START, seed=3, anomaly_rate=0.02, showcase=SHOWCASE, showcase_from=backfill)
    model.advance(backfill)
    live = model.advance(360)  # the first hour live
    first: dict[str, AnomalyLabel] = {}
    for label in live.labels:
        first.setdefault(label.kind, label)
    assert list(first)[: len(SHOWCASE)] == list(SHOWCASE)
    on_delay = BUILT_IN[AlarmKind.ZSCORE].on_samples
    for kind, label in first.items():
        readings = len(_rows(live, label))
        assert readings > on_delay, (kind, readings)
    live_start = live.timestamps[0].astype(object).replace(tzinfo=UTC)
    assert (first["broken_correlation"].start - live_start).total_seconds() < 3600
