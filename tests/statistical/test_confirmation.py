"""Multiple testing: a z-score alarm activates on a persistent or extreme z-score only (its on-delay
and immediate level); the spread floor."""

from __future__ import annotations

import numpy as np

from analyzer.alarms.step import Phase
from analyzer.tiers.statistical import StatisticalSettings
from analyzer.tiers.statistical.outcome import ANOMALY
from tests.statistical import factories as f

CONFIG = StatisticalSettings(  # type: ignore[call-arg]
    _env_file=None, min_history=50, spread_floor=0.0, z_confirm=3.5, z_immediate=5.0, bucket_s=60
)


async def _warm(fold: f.InMemoryFold, n: int = 300) -> tuple[np.ndarray, float]:
    values = f.normal_rows(n, len(fold.tier.index), scale=1.0)
    times = f.START + 10.0 * np.arange(n)
    await fold.feed(values, times)
    return values, float(times[-1])


async def _step(fold: f.InMemoryFold, rows: np.ndarray, t0: float, seq0: int) -> list:
    """One reading per batch (the run crosses batches); each a bucket later so the baseline is the same."""
    results = []
    for k, row in enumerate(rows):
        results += await fold.feed(row[None, :], [t0 + 10.0 * (k + 1)], seq0=seq0 + k)
    return results


async def test_a_z_score_alarm_activates_after_three_consecutive_updates_across_batches() -> None:
    fold = f.InMemoryFold(f.index(n_process=3, n_hourly=0), CONFIG)
    values, t_last = await _warm(fold)
    centre, spread = values.mean(axis=0), values.std(axis=0, ddof=1)
    rows = np.tile(centre, (5, 1))
    rows[:, 1] = centre[1] + 4.2 * spread[1]  # between z_confirm and z_immediate, five times running
    rows[:, 2] = centre[2] + np.array([4.2, 4.2, 0.0, 4.2, 4.2]) * spread[2]  # the run breaks once
    results = await _step(fold, rows, t_last, seq0=1000)
    assert [r.statistical.results["TI-1"].status for r in results] == ["Anomaly"] * 5
    assert [r.final_status.value for r in results] == ["normal", "normal", "anomaly", "anomaly", "anomaly"]
    assert [r.anomalous_sensors for r in results[2:]] == [["TI-1"]] * 3
    record = fold.alarm("zscore:TI-1")
    assert record is not None and record.record is not None and record.record.count == 5  # the on-delay counts
    assert fold.alarm("zscore:TI-2") is not None and fold.alarm("zscore:TI-2").phase == Phase.PENDING_ON  # type: ignore[union-attr]
    assert all("zscore:TI-2" not in r.alarm_ids for r in results)


async def test_a_spike_activates_at_once_and_a_marginal_blip_never() -> None:
    fold = f.InMemoryFold(f.index(n_process=3, n_hourly=0), CONFIG)
    values, t_last = await _warm(fold)
    centre, spread = values.mean(axis=0), values.std(axis=0, ddof=1)
    rows = np.tile(centre, (3, 1))
    rows[0, 1] = centre[1] + 6.0 * spread[1]
    rows[:, 2] = centre[2] + 3.2 * spread[2]  # |z| >= 3 (status Anomaly) but below z_confirm
    results = await _step(fold, rows, t_last, seq0=2000)
    assert results[0].final_status.value == "anomaly" and results[0].anomalous_sensors == ["TI-1"]
    assert all(r.statistical.results["TI-2"].status == "Anomaly" for r in results)
    assert all("TI-2" not in r.anomalous_sensors for r in results)
    assert results[1].statistical.z_scores["TI-1"] < 3  # back to normal: the alarm holds its off-delay
    assert fold.alarm("zscore:TI-2") is None


async def test_spread_floor_is_a_share_of_the_alarm_span() -> None:
    fold = f.InMemoryFold(f.index(n_process=2, n_hourly=0), CONFIG.model_copy(update={"spread_floor": 0.05}))
    values, t_last = await _warm(fold)
    probe = values.mean(axis=0).copy()
    probe[0] += 40.0  # 40 sigma of the 1-unit noise, but less than one floor (5 % of 1000 = 50)
    state = fold.tier2
    scores = fold.tier.score(
        state, probe[None, :], np.array([t_last + 100]), fold.tier.bucket_of(np.array([int((t_last + 100) * 1000)]))[0]
    )
    assert abs(scores.z[0, 0] - 40.0 / 50.0) < 0.1 and scores.status[0, 0] != ANOMALY
