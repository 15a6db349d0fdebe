"""Multiple testing: the decision acts on persistent or extreme z-scores only; the spread floor."""

from __future__ import annotations

import numpy as np

from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier
from analyzer.tiers.statistical.outcome import ANOMALY, NORMAL
from tests.statistical import factories as f

CONFIG = StatisticalSettings(  # type: ignore[call-arg]
    _env_file=None, min_history=50, spread_floor=0.0, z_confirm=3.5, z_persistence=3, z_immediate=5.0
)


async def _warm(tier: StatisticalTier, n: int = 300) -> tuple[np.ndarray, float]:
    idx = tier.index
    values = f.normal_rows(n, len(idx), scale=1.0)
    times = f.START + 10.0 * np.arange(n)
    for start in range(0, n, 64):
        chunk = f.readings(values[start : start + 64], times[start : start + 64], seq0=start)
        await tier.learn(chunk, f.assess(chunk, idx, await tier.score(chunk)))
    return values, float(times[-1])


async def _step(tier: StatisticalTier, rows: np.ndarray, t0: float, seq0: int) -> list:
    """Score and learn rows one batch at a time (each row its own batch: the run crosses batches)."""
    outcomes = []
    for k, row in enumerate(rows):
        batch = f.readings(row[None, :], [t0 + 10.0 * (k + 1)], seq0=seq0 + k)
        [outcome] = await tier.score(batch)
        await tier.learn(batch, f.assess(batch, tier.index, [outcome]))
        outcomes.append(outcome)
    return outcomes


async def test_a_z_score_is_confirmed_after_three_consecutive_updates_across_batches() -> None:
    idx = f.index(n_process=3, n_hourly=0)
    tier = await StatisticalTier.in_memory(idx, CONFIG)
    values, t_last = await _warm(tier)
    centre, spread = values.mean(axis=0), values.std(axis=0, ddof=1)
    rows = np.tile(centre, (5, 1))
    rows[:, 1] = centre[1] + 4.2 * spread[1]  # between z_confirm and z_immediate, five times running
    rows[:, 2] = centre[2] + np.array([4.2, 4.2, 0.0, 4.2, 4.2]) * spread[2]  # the run breaks once
    outcomes = await _step(tier, rows, t_last, seq0=1000)
    assert [int(o.status[1]) for o in outcomes] == [ANOMALY] * 5
    assert [bool(o.confirmed[1]) for o in outcomes] == [False, False, True, True, True]
    assert [int(o.streak[1]) for o in outcomes] == [1, 2, 3, 4, 5]
    assert [bool(o.confirmed[2]) for o in outcomes] == [False] * 5
    assert [int(o.streak[2]) for o in outcomes] == [1, 2, 0, 1, 2]
    second = f.readings(rows[1:2], [t_last + 20.0], seq0=1001)
    decided = f.assess(second, idx, [outcomes[1]])
    assert decided[0].final_status == "normal"  # two readings at 4.2 sigma: not yet an anomaly


async def test_a_spike_is_confirmed_at_once_and_a_marginal_blip_never() -> None:
    idx = f.index(n_process=3, n_hourly=0)
    tier = await StatisticalTier.in_memory(idx, CONFIG)
    values, t_last = await _warm(tier)
    centre, spread = values.mean(axis=0), values.std(axis=0, ddof=1)
    rows = np.tile(centre, (3, 1))
    rows[0, 1] = centre[1] + 6.0 * spread[1]
    rows[:, 2] = centre[2] + 3.2 * spread[2]  # |z| >= 3 (status Anomaly) but below z_confirm
    outcomes = await _step(tier, rows, t_last, seq0=2000)
    assert outcomes[0].confirmed[1] and outcomes[0].status[1] == ANOMALY
    assert all(o.status[2] == ANOMALY and not o.confirmed[2] for o in outcomes)
    assert outcomes[1].status[1] == NORMAL


async def test_spread_floor_is_a_share_of_the_alarm_span() -> None:
    idx = f.index(n_process=2, n_hourly=0)  # limits 0..1000
    floored = await StatisticalTier.in_memory(idx, CONFIG.model_copy(update={"spread_floor": 0.05}))
    values, t_last = await _warm(floored)
    probe = values.mean(axis=0).copy()
    probe[0] += 40.0  # 40 sigma of the 1-unit noise, but less than one floor (5 % of 1000 = 50)
    [outcome] = await floored.score(f.readings(probe[None, :], [t_last + 10], seq0=3000))
    assert outcome.spread[0] < 1.5  # the reported spread is the window's own
    assert abs(outcome.z[0] - 40.0 / 50.0) < 0.1 and outcome.status[0] == NORMAL
