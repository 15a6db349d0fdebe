"""Incremental window statistics equal a full recomputation, including expiry at the window edge."""

from __future__ import annotations

import asyncio
import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier
from analyzer.tiers.statistical.window import robust_centre_spread, std_of
from tests.statistical import factories as f

SMALL = StatisticalSettings(
    _env_file=None,  # type: ignore[call-arg]
    window_s=600,
    bucket_s=60,
    protect_baseline=False,
    min_history=2,
)


@settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.floats(1.0, 90.0), min_size=5, max_size=120),
    batch=st.integers(1, 17),
    scale=st.sampled_from([1e-3, 1.0, 1e4]),
    seed=st.integers(0, 2**16),
)
def test_incremental_equals_recomputation(gaps: list[float], batch: int, scale: float, seed: int) -> None:
    idx = f.index(n_process=3, n_hourly=0)
    tier = asyncio.run(StatisticalTier.in_memory(idx, SMALL))
    times = f.START + np.cumsum(gaps)
    rng = np.random.default_rng(seed)
    values = 1e6 + scale * rng.standard_normal((len(times), 3))
    values[rng.random(values.shape) < 0.2] = np.nan  # absent sensors
    batch_readings = f.readings(values, times)

    def check(upto: int) -> None:
        """The window as of the newest reading learned so far equals a recomputation."""
        newest = int(times[upto - 1] // SMALL.bucket_s)
        stats = tier.mirror.totals(newest)
        learned_buckets = times[:upto] // SMALL.bucket_s
        inside = learned_buckets >= newest - SMALL.n_buckets + 1  # older buckets have expired
        window = values[:upto][inside]
        count = (~np.isnan(window)).sum(axis=0)
        np.testing.assert_array_equal(stats[0], count)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # columns with no or one sample
            mean = np.nanmean(window, axis=0)
            std = np.nanstd(window, axis=0, ddof=1)
        np.testing.assert_allclose(stats[1][count > 0], mean[count > 0], rtol=1e-12)
        np.testing.assert_allclose(std_of(stats)[count > 1], std[count > 1], rtol=1e-6, atol=1e-9 * scale)
        assert all(b >= newest - SMALL.n_buckets + 1 for b in tier.mirror.buckets)  # expired buckets are gone

    async def run() -> None:
        for start in range(0, len(times), batch):
            chunk = batch_readings[start : start + batch]
            await tier.learn(chunk, f.assess(chunk, idx))
            check(min(start + batch, len(times)))  # every window position, as it slides and expires

    asyncio.run(run())


async def test_expiry_at_the_24_hour_edge() -> None:
    """With the default 24 h window in 5-minute buckets: a reading in the oldest kept bucket counts,
    one a second older (the bucket before) has expired, however they were batched."""
    config = StatisticalSettings(_env_file=None, protect_baseline=False, min_history=2)  # type: ignore[call-arg]
    assert (config.window_s, config.bucket_s) == (86400, 300)
    idx = f.index(n_process=1, n_hourly=0)
    tier = await StatisticalTier.in_memory(idx, config)
    newest_t = 300.0 * 6_000_000 + 150.0  # mid-bucket
    newest_bucket = int(newest_t // 300)
    oldest_kept_start = (newest_bucket - config.n_buckets + 1) * 300.0
    just_outside = oldest_kept_start - 1.0  # 24 h + 149 s before the newest reading
    just_inside = oldest_kept_start  # 24 h - 150 s before it
    times = [just_outside, just_inside, just_inside + 120.0, newest_t - 10.0, newest_t]
    values = np.array([[1000.0], [10.0], [20.0], [30.0], [40.0]])
    batch = f.readings(values, times)
    await tier.learn(batch[:2], f.assess(batch[:2], idx))  # the edge pair in one batch
    await tier.learn(batch[2:], f.assess(batch[2:], idx))
    count, mean, _ = tier.mirror.totals(newest_bucket)
    assert count[0] == 4 and mean[0] == 25.0  # 1000 expired; 10, 20, 30, 40 remain
    np.testing.assert_allclose(std_of(tier.mirror.totals(newest_bucket))[0], np.std([10, 20, 30, 40], ddof=1))
    assert int(just_outside // 300) not in tier.mirror.buckets
    assert (await tier.window.snapshot()).buckets.keys() == tier.mirror.buckets.keys()  # the store agrees
    # a reading scored in the newest bucket sees exactly that window
    [outcome] = await tier.score(f.readings(np.array([[25.0]]), [newest_t + 1.0], seq0=99))
    assert outcome.centre[0] == 25.0 and outcome.z[0] == 0.0


def test_robust_option_ignores_outliers_in_the_window() -> None:
    rng = np.random.default_rng(3)
    rows = 100 + rng.standard_normal((1000, 1))
    rows[:30] = 10_000.0  # a 3 % burst of garbage inside the window
    centre, spread = robust_centre_spread(rows)
    assert abs(centre[0] - 100) < 0.2 and 0.9 < spread[0] < 1.2
    assert rows.std(ddof=1) > 1000  # the plain standard deviation is blown up ...


async def test_robust_tier_still_flags_after_a_burst() -> None:
    idx = f.index(n_process=2, n_hourly=0)
    robust = StatisticalSettings(  # type: ignore[call-arg]
        _env_file=None, robust=True, protect_baseline=False, min_history=10, spread_floor=0.001
    )
    plain = robust.model_copy(update={"robust": False})
    times = f.START + 10.0 * np.arange(600)
    values = f.normal_rows(600, 2, scale=1.0)
    values[100:130, 0] = 10_000.0
    flags = {}
    for name, config in (("robust", robust), ("plain", plain)):
        tier = await StatisticalTier.in_memory(idx, config)
        batch = f.readings(values, times)
        await tier.learn(batch, f.assess(batch, idx))
        [outcome] = await tier.score(f.readings(np.array([[500.0 + 8, 500.0]]), [times[-1] + 10], seq0=999))
        flags[name] = outcome.status[0]
    assert flags == {"robust": 2, "plain": 1}  # ANOMALY with median/MAD, hidden by the inflated std
