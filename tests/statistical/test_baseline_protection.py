"""Baseline protection that cannot starve: a lasting fault stays visible for as long as it lasts, and
an operator's accepted operating point becomes the new normal."""

from __future__ import annotations

import numpy as np

from analyzer.catalog.index import SensorIndex
from analyzer.tiers.statistical import StatisticalSettings
from schemas.catalog import SensorCatalog, SensorSpec
from tests.statistical import factories as f

SETTINGS = StatisticalSettings(_env_file=None)  # type: ignore[call-arg]  # the defaults: min history 10
STEP_S = 300.0  # an analyser reporting every 5 minutes


def _valve() -> f.InMemoryFold:
    catalog = SensorCatalog(plant="p", sensors=[SensorSpec(name="FV-1", unit="%", description="valve position")])
    return f.InMemoryFold(SensorIndex.from_catalog(catalog), SETTINGS)


def _series(n_normal: int, n_fault: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = np.round(40 + rng.normal(size=n_normal + n_fault), 2)
    values[n_normal:] += rng.uniform(6, 11, size=n_fault)  # a valve stuck off its set point at 6-11 sigma
    return values[:, None], f.START + STEP_S * np.arange(n_normal + n_fault)


async def test_a_lasting_step_fault_stays_flagged_for_as_long_as_it_lasts() -> None:
    fold = _valve()
    n_normal, n_fault = 400, 600  # 600 x 5 min = 50 h: the fault outlasts the 24 h window twice
    values, times = _series(n_normal, n_fault)
    results = await fold.feed(values, times)
    normal, fault = results[:n_normal], results[n_normal:]
    assert all(r.statistical is not None and not r.statistical.insufficient_history for r in normal[10:])
    assert sum(r.final_status == "anomaly" for r in normal) <= 2
    # Every fault reading is scored and flagged, from the first to the 600th (beyond the on-delay of 3).
    assert all(r.statistical is not None and r.statistical.results["FV-1"].status == "Anomaly" for r in fault)
    assert all(r.final_status == "anomaly" for r in fault[3:])
    z_last = fault[-1].statistical.results["FV-1"].z_score  # type: ignore[union-attr]
    assert z_last is not None and z_last > 5
    # One episode, not one per window length.
    assert len({a for r in fault[3:] for a in r.alarm_ids}) == 1
    # The fault was never learned: the window (last 24 h) holds none of the sensor's samples.
    window = fold.tier2.window_totals(int(times[-1] // SETTINGS.bucket_s) + 1)
    assert window[0][0] == 0


async def test_an_accepted_operating_point_becomes_the_new_normal() -> None:
    fold = _valve()
    values, times = _series(300, 100)
    await fold.feed(values, times)
    rng = np.random.default_rng(9)
    level = float(values[-1, 0])
    after = np.round(level + rng.normal(size=(200, 1)), 2)
    later = times[-1] + STEP_S * np.arange(1, 201)
    fold.state.accepts = ("FV-1",)  # what the shared state carries after `sensor-analyzer baseline accept`
    results = await fold.feed(after, later, seq0=10_000)
    assert fold.state.accepts == ()
    assert fold.tier2.sensors["baseline_from"][0] == int(later[0] // SETTINGS.bucket_s)
    first = results[0].statistical
    assert first is not None and "FV-1" in first.insufficient_history  # relearning from the new level
    assert all(r.statistical is not None and "FV-1" in r.statistical.z_scores for r in results[10:])
    assert sum(r.final_status == "anomaly" for r in results[20:]) <= 2
