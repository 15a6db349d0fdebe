"""Hourly laboratory values, flatlines, and the forest: what tier 2 makes of a sensor's own history."""

from __future__ import annotations

import numpy as np

from analyzer.tiers.statistical import StatisticalSettings
from tests.statistical import factories as f

SETTINGS = StatisticalSettings(  # type: ignore[call-arg]
    _env_file=None,
    min_history=30,
    if_min_training_span=0.0,
    if_min_training_rows=50,
    if_retrain_after_rows=10_000,
    if_retrain_interval_s=10**9,
    if_false_alarm_target=0.05,
    if_n_estimators=50,
    spread_floor=0.001,  # the factories' limits (0..1000) are far wider than the 5-unit noise
)


async def test_hourly_repeats_are_not_samples_and_a_flatline_is_an_alarm() -> None:
    fold = f.InMemoryFold(f.index(n_process=2, n_hourly=1), SETTINGS)
    n = 2000  # 10 s apart: ~5.5 h
    times = f.START + 10.0 * np.arange(n)
    values = f.normal_rows(n, 3)
    values[:, 0] = 500 + np.repeat(np.random.default_rng(2).normal(size=n // 20), 20)  # TI-0 holds 20 samples
    values[1000:1030, 0] = values[1000, 0]  # ... once 30 (under twice its longest habit): not stuck
    hour = ((times - f.START) // 3600).astype(int)
    values[:, 2] = 50 + np.random.default_rng(1).normal(size=hour.max() + 1)[hour]  # repeated between updates
    values[1500:, 1] = values[1500, 1]  # TI-1 freezes for the last ~83 minutes
    results = await fold.feed(values, times)
    lab = ["LAB-0" in r.statistical.not_updated for r in results]
    updates = np.r_[0, np.flatnonzero(np.diff(hour)) + 1]
    assert not any(lab[i] for i in updates)
    assert sum(lab) == n - (hour.max() + 1)
    window = fold.tier2.window_totals(int(times[-1] // 300) + 1)
    assert window[0][2] <= hour.max() + 1  # one sample per hourly update at most
    holding = [r.statistical.results.get("TI-0") for r in results]
    assert all(s is None or s.status != "stuck" for s in holding)  # a sensor that naturally holds values
    frozen = [r.statistical.results.get("TI-1") for r in results[1500:]]
    # TI-1 never repeated a value in its baseline: stuck after STAT_STUCK_MIN_SAMPLES (5) samples and intervals
    assert all(s is None or s.status != "stuck" for s in frozen[:5])
    assert all(s is not None and s.status == "stuck" for s in frozen[5:])
    assert "unchanged" in frozen[-1].context  # type: ignore[union-attr]
    # the stuck value is kept out of the window, and the flatline is one alarm counting its readings
    assert window[0][1] < 1500 + 31
    record = fold.alarm("flatline:TI-1")
    assert record is not None and record.record is not None
    assert record.record.count == sum(record.record.id in r.alarm_ids for r in results)
    assert record.record.count >= n - 1500 - 31


async def test_the_forest_is_trained_at_a_fold_point_and_flags_a_plant_wide_excursion() -> None:
    idx = f.index(n_hourly=1)
    fold = f.InMemoryFold(idx, SETTINGS)
    values = f.normal_rows(400, len(idx))
    times = f.START + 10.0 * np.arange(400)
    await fold.feed(values, times)
    model = fold.tier2.model
    assert model is not None and model.features == tuple(n for n in idx.names if not n.startswith("LAB"))
    assert model.n_samples >= SETTINGS.if_min_training_rows
    assert model.version.endswith("-49") or model.version.split("-")[1].isdigit()  # named after a stream entry
    probe = values[-5:].copy()
    probe[:, 3:6] += 100  # a plant-wide excursion on three sensors, five readings running
    results = await fold.feed(probe, times[-5:] + 5000, seq0=10_000)
    ml = results[-1].ml
    assert ml is not None and ml.results.status == "Anomaly" and ml.results.model_version == model.version
    assert set(list(ml.results.values)[:3]) == {"TI-3", "TI-4", "TI-5"}
    forest = fold.alarm("forest:plant")
    assert forest is not None and forest.record is not None  # three readings: the forest's on-delay


async def test_an_analyser_every_six_minutes_that_holds_values_is_not_stuck_until_it_really_freezes() -> None:
    """Issue 13: a 10 s stuck rule flagged 90 % of a 6-minute analyser's normal rows. The rule is now
    relative to the sensor's own longest unchanged run, and its resolution floors its spread."""
    from analyzer.catalog.index import SensorIndex
    from schemas.catalog import SensorCatalog, SensorSpec

    catalog = SensorCatalog(plant="p", sensors=[SensorSpec(name="AI-1", unit="ppm", description="analyser")])
    fold = f.InMemoryFold(SensorIndex.from_catalog(catalog), StatisticalSettings(_env_file=None))  # type: ignore[call-arg]
    rng = np.random.default_rng(5)
    n = 400
    values = np.round((20 + 0.6 * rng.normal(size=n)) * 2) / 2  # 0.5 ppm steps: repeats are normal
    values[360:] = values[359]  # then it freezes for 40 samples (4 h)
    times = f.START + 360.0 * np.arange(n)
    results = await fold.feed(values[:, None], times)
    stuck = [
        r.statistical is not None
        and r.statistical.results.get("AI-1") is not None
        and r.statistical.results["AI-1"].status == "stuck"
        for r in results
    ]
    assert not any(stuck[:360])
    assert all(stuck[-10:])
    base = fold.tier.baseline(fold.tier2, int(times[300] // 300))
    assert base.resolution[0] == 0.5 and 300 < base.interval[0] <= 420  # learned: 0.5 ppm every ~6 min
