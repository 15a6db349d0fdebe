"""The plant model: determinism, shapes, presence, hourly holds, normal operation, correlations."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from analyzer.devtools.simulator import PlantModel, SimulatedPlant, iter_live, iter_payloads, simulate_plant
from schemas.catalog import SensorCatalog
from tests.simulator.simulated_days import DAY, START


def _present(plant: SimulatedPlant) -> np.ndarray:
    return ~np.isnan(plant.values)


def test_same_seed_same_plant_other_seed_other_plant(catalog: SensorCatalog) -> None:
    first = simulate_plant(catalog, START, 2000, seed=42)
    again = simulate_plant(catalog, START, 2000, seed=42)
    other = simulate_plant(catalog, START, 2000, seed=43)
    assert np.array_equal(first.values, again.values, equal_nan=True)
    assert first.labels == again.labels
    assert list(first.row_kind) == list(again.row_kind)
    assert not np.array_equal(first.values, other.values, equal_nan=True)


def test_anomaly_rate_does_not_change_normal_readings(busy_day: SimulatedPlant, clean_twin: SimulatedPlant) -> None:
    normal = busy_day.row_kind == "normal"
    assert normal.sum() > DAY // 2
    assert np.array_equal(busy_day.values[normal], clean_twin.values[normal], equal_nan=True)
    assert not clean_twin.labels and set(clean_twin.row_kind) == {"normal"}


def test_shapes_and_timestamps(day: SimulatedPlant, catalog: SensorCatalog) -> None:
    assert day.values.shape == (DAY, len(catalog.sensors)) == (8640, 100)
    assert day.sensor_names == [s.name for s in catalog.sensors]
    assert day.timestamps.dtype == np.dtype("datetime64[ms]")
    assert day.timestamps[0] == np.datetime64("2026-11-23T00:00:00")
    assert set(np.diff(day.timestamps).astype(np.int64)) == {10_000}
    assert day.row_kind.shape == (DAY,)
    assert not day.values.flags.writeable


def test_core_and_hourly_always_present_variable_sometimes_absent(day: SimulatedPlant, catalog: SensorCatalog) -> None:
    present = _present(day)
    core = np.array([s.core for s in catalog.sensors])
    hourly = np.array([s.update_interval_s == 3600 for s in catalog.sensors])
    assert present[:, core].all()
    assert present[:, hourly].all()
    absent_share = 1 - present[:, ~core & ~hourly].mean()
    assert 0.01 < absent_share < 0.03


def test_hourly_sensors_change_only_on_the_hour(catalog: SensorCatalog) -> None:
    start = datetime(2026, 11, 23, 9, 37, 20, tzinfo=UTC)  # not on the hour
    plant = simulate_plant(catalog, start, 1500, seed=3)
    hourly = [i for i, s in enumerate(catalog.sensors) if s.update_interval_s == 3600]
    hour = plant.timestamps.astype("datetime64[h]")
    on_the_hour = np.flatnonzero(hour[1:] != hour[:-1]) + 1
    assert len(on_the_hour) == 4
    for column in hourly:
        values = plant.values[:, column]
        changed = np.flatnonzero(values[1:] != values[:-1]) + 1
        assert set(changed) <= set(on_the_hour), plant.sensor_names[column]
        assert len(changed) >= 3, plant.sensor_names[column]  # and the lab value does move


def test_normal_readings_stay_inside_high_and_low(day: SimulatedPlant, catalog: SensorCatalog) -> None:
    normal = day.values[day.row_kind == "normal"]
    outside = checked = 0
    for column, spec in enumerate(catalog.sensors):
        readings = normal[:, column]
        readings = readings[~np.isnan(readings)]
        upper = spec.high if spec.high is not None else spec.high_high
        lower = spec.low if spec.low is not None else spec.low_low
        if upper is not None:
            outside += int((readings > upper).sum())
        if lower is not None:
            outside += int((readings < lower).sum())
        checked += readings.size
    assert checked > 600_000
    assert outside / checked < 0.005


def test_daily_cycle_and_correlated_sensors(clean_twin: SimulatedPlant) -> None:
    ambient = clean_twin.column("TI-610")
    hour = (clean_twin.timestamps.astype("datetime64[h]").astype(np.int64)) % 24
    assert np.nanmean(ambient[(hour >= 13) & (hour < 17)]) - np.nanmean(ambient[(hour >= 3) & (hour < 7)]) > 3.0

    def correlation(first: str, second: str) -> float:
        a, b = clean_twin.column(first), clean_twin.column(second)
        both = ~np.isnan(a) & ~np.isnan(b)
        return float(np.corrcoef(a[both], b[both])[0, 1])

    assert correlation("FI-101", "PDI-111") > 0.7  # flow -> pressure drop
    assert correlation("FI-101", "VI-701") > 0.6  # pump vibration with flow
    assert correlation("TI-101", "TI-103") > 0.6  # heater outlet -> flash zone
    assert correlation("TI-610", "TI-501") > 0.6  # ambient -> air cooler outlet
    assert correlation("FI-101", "PI-104") < -0.5  # more flow, less pump head
    assert abs(correlation("LI-101", "AI-101")) < 0.3  # unrelated


def test_readings_are_noisy_not_smooth(clean_twin: SimulatedPlant) -> None:
    flow = clean_twin.column("FI-101")
    steps = np.diff(flow[~np.isnan(flow)])
    assert (steps != 0).mean() > 0.9


def test_payloads_are_flat_objects_with_iso_z_timestamps(day: SimulatedPlant, catalog: SensorCatalog) -> None:
    payloads = list(iter_payloads(day))
    assert len(payloads) == DAY
    assert payloads[0]["timestamp"] == "2026-11-23T00:00:00Z"
    assert payloads[-1]["timestamp"] == "2026-11-23T23:59:50Z"
    for payload, row in zip(payloads[:500], day.values[:500], strict=True):
        assert set(catalog.core_names) <= set(payload)
        assert len(payload) == 1 + int((~np.isnan(row)).sum())
        assert all(isinstance(v, float) and np.isfinite(v) for k, v in payload.items() if k != "timestamp")


def test_live_stream_equals_the_batch_simulation(catalog: SensorCatalog) -> None:
    batch = list(iter_payloads(simulate_plant(catalog, START, 1000, seed=9, anomaly_rate=0.3)))
    live = iter_live(catalog, seed=9, start=START, anomaly_rate=0.3, chunk_payloads=7)
    assert [next(live) for _ in range(1000)] == batch


def test_model_advances_where_it_left_off(catalog: SensorCatalog) -> None:
    model = PlantModel(catalog, START, seed=2)
    pieces = [model.advance(n) for n in (1, 359, 500)]
    whole = simulate_plant(catalog, START, 860, seed=2)
    assert np.array_equal(np.concatenate([p.values for p in pieces]), whole.values, equal_nan=True)
    assert np.array_equal(np.concatenate([p.timestamps for p in pieces]), whole.timestamps)


def test_an_anomaly_across_chunks_keeps_its_start(catalog: SensorCatalog) -> None:
    whole = simulate_plant(catalog, START, 1500, seed=6, anomaly_rate=0.3)
    model = PlantModel(catalog, START, seed=6, anomaly_rate=0.3)
    spans: dict[tuple[str, tuple[str, ...], datetime], datetime] = {}
    for _ in range(1500):  # one payload per call, as the real-time landing does
        for label in model.advance(1).labels:
            key = (label.kind, label.sensors, label.start)
            assert label.end >= spans.get(key, label.start)
            spans[key] = label.end
    assert spans == {(label.kind, label.sensors, label.start): label.end for label in whole.labels}


def test_live_start_defaults_to_now_on_the_interval(catalog: SensorCatalog) -> None:
    payload = next(iter_live(catalog))
    stamp = datetime.fromisoformat(str(payload["timestamp"]).replace("Z", "+00:00"))
    assert stamp.second % 10 == 0 and abs((datetime.now(UTC) - stamp).total_seconds()) < 60


def test_a_custom_catalogue_gets_profiles_from_its_limits() -> None:
    custom = SensorCatalog.model_validate(
        {
            "plant": "skid",
            "sensors": [
                {"name": "PT-1", "unit": "bar", "description": "p", "core": True, "low": 2.0, "high": 4.0},
                {"name": "TT-2", "unit": "degC", "description": "t", "high": 90.0, "high_high": 95.0},
                {"name": "LT-3", "unit": "%", "description": "l", "low_low": 10.0},
                {"name": "XX-4", "unit": "", "description": "no limits"},
            ],
        }
    )
    plant = simulate_plant(custom, START, 3000, seed=4, anomaly_rate=0.0)
    pressure, temperature, level = plant.column("PT-1"), plant.column("TT-2"), plant.column("LT-3")
    assert ((pressure > 2.0) & (pressure < 4.0)).all()
    assert (temperature[~np.isnan(temperature)] < 90.0).all()
    assert (level[~np.isnan(level)] > 10.0).all()
    busy = simulate_plant(custom, START, 8640, seed=4, anomaly_rate=0.3)
    assert "broken_correlation" not in {label.kind for label in busy.labels}  # no known pairs here
    assert {"spike", "limit_breach"} <= {label.kind for label in busy.labels}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"anomaly_rate": -0.1}, "anomaly rate"),
        ({"anomaly_rate": 1.0}, "anomaly rate"),
        ({"missing_rate": 1.0}, "missing_rate"),
        ({"interval_s": 0}, "interval_s"),
    ],
)
def test_bad_arguments_are_refused(catalog: SensorCatalog, arguments: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        simulate_plant(catalog, START, 10, **arguments)  # type: ignore[arg-type]
