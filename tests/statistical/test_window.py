"""Incremental window statistics equal a full recomputation, including expiry at the window edge;
a reading is scored against the buckets before its own."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier, Tier2State
from analyzer.tiers.statistical.window import robust_centre_spread, std_of
from tests.statistical import factories as f

SMALL = StatisticalSettings(_env_file=None, bucket_s=60, min_history=2)  # type: ignore[call-arg]


def _learn(tier: StatisticalTier, state: Tier2State, values: np.ndarray, times: np.ndarray) -> None:
    """Learn rows as the fold does, one bucket group at a time, nothing protected."""
    buckets = tier.bucket_of((times * 1000).astype(np.int64))
    for bucket in np.unique(buckets):
        rows = buckets == bucket
        scores = tier.score(state, values[rows], times[rows], int(bucket))
        none = np.zeros(values[rows].shape, dtype=bool)
        tier.learn(
            state,
            scores,
            int(bucket),
            protected=none,
            keep_rows=np.ones(rows.sum(), dtype=bool),
        )


@settings(max_examples=40, deadline=None)
@given(
    gaps=st.lists(st.floats(1.0, 90.0), min_size=5, max_size=120),
    batch=st.integers(1, 17),
    scale=st.sampled_from([1e-3, 1.0, 1e4]),
    seed=st.integers(0, 2**16),
)
def test_incremental_equals_recomputation(gaps: list[float], batch: int, scale: float, seed: int) -> None:
    tier = StatisticalTier(f.index(n_process=3, n_hourly=0), SMALL, window_s=600)
    state = tier.new_state()
    times = f.START + np.cumsum(gaps)
    rng = np.random.default_rng(seed)
    values = 1e6 + scale * rng.standard_normal((len(times), 3))
    values[rng.random(values.shape) < 0.2] = np.nan  # absent sensors

    for start in range(0, len(times), batch):
        upto = min(start + batch, len(times))
        _learn(tier, state, values[start:upto], times[start:upto])
        # The window a reading in the next bucket would be scored against equals a recomputation.
        scoring = int(times[upto - 1] // 60) + 1
        stats = state.window_totals(scoring)
        learned_buckets = times[:upto] // 60
        inside = learned_buckets >= scoring - tier.n_buckets  # older buckets have expired
        window = values[:upto][inside]
        count = (~np.isnan(window)).sum(axis=0)
        np.testing.assert_array_equal(stats[0], count)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # columns with no or one sample
            mean = np.nanmean(window, axis=0)
            std = np.nanstd(window, axis=0, ddof=1)
        np.testing.assert_allclose(stats[1][count > 0], mean[count > 0], rtol=1e-12)
        np.testing.assert_allclose(std_of(stats)[count > 1], std[count > 1], rtol=1e-6, atol=1e-9 * scale)
        assert all(b >= scoring - 1 - tier.n_buckets for b in state.buckets)  # expired buckets are gone


def test_a_reading_is_scored_against_the_buckets_before_its_own_and_expiry_is_at_the_window_edge() -> None:
    """24 h in 5-minute buckets: the 288 buckets before a reading's bucket are its window; a bucket
    older than that has expired; readings of its own bucket are not part of it."""
    tier = StatisticalTier(f.index(n_process=1, n_hourly=0), StatisticalSettings(_env_file=None, min_history=2))  # type: ignore[call-arg]
    assert tier.n_buckets == 288
    state = tier.new_state()
    newest_t = 300.0 * 6_000_000 + 150.0  # mid-bucket
    newest_bucket = int(newest_t // 300)
    oldest_start = (newest_bucket - 288) * 300.0
    times = np.array([oldest_start - 1.0, oldest_start, oldest_start + 120.0, newest_t - 310.0, newest_t - 10.0])
    values = np.array([[1000.0], [10.0], [20.0], [30.0], [40.0]])
    _learn(tier, state, values[:2], times[:2])
    _learn(tier, state, values[2:], times[2:])
    count, mean, _ = state.window_totals(newest_bucket)
    # 1000 expired (a second too old); 40 is in the scored reading's own bucket: not in its window
    assert count[0] == 3 and mean[0] == 20.0
    np.testing.assert_allclose(std_of(state.window_totals(newest_bucket))[0], np.std([10, 20, 30], ddof=1))
    assert int((oldest_start - 1.0) // 300) not in state.buckets
    scores = tier.score(state, np.array([[20.0]]), np.array([newest_t]), newest_bucket)
    assert scores.centre[0, 0] == 20.0 and scores.z[0, 0] == 0.0


def test_robust_option_ignores_outliers_in_the_window() -> None:
    rng = np.random.default_rng(3)
    rows = 100 + rng.standard_normal((1000, 1))
    rows[:30] = 10_000.0  # a 3 % burst of garbage inside the window
    centre, spread = robust_centre_spread(rows)
    assert abs(centre[0] - 100) < 0.2 and 0.9 < spread[0] < 1.2
    assert rows.std(ddof=1) > 1000  # the plain standard deviation is blown up ...


def test_robust_tier_still_flags_after_a_burst() -> None:
    idx = f.index(n_process=2, n_hourly=0)
    robust = StatisticalSettings(_env_file=None, robust=True, min_history=10, spread_floor=0.001)  # type: ignore[call-arg]
    plain = robust.model_copy(update={"robust": False})
    times = f.START + 10.0 * np.arange(600)
    values = f.normal_rows(600, 2, scale=1.0)
    values[100:130, 0] = 10_000.0
    flags = {}
    for name, config in (("robust", robust), ("plain", plain)):
        tier = StatisticalTier(idx, config)
        state = tier.new_state()
        _learn(tier, state, values, times)
        t = times[-1] + 600
        bucket = int(t // 300)
        scores = tier.score(state, np.array([[500.0 + 8, 500.0]]), np.array([t]), bucket)
        flags[name] = int(scores.status[0, 0])
    assert flags == {"robust": 2, "plain": 1}  # ANOMALY with median/MAD, hidden by the inflated std
