"""Each sensor's own behaviour: intervals, resolution, unchanged runs, autocorrelation, young windows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.tiers.statistical.behaviour import (
    MIN_SAMPLES,
    BehaviourState,
    effective_samples,
    stuck_limits,
    young_window_factor,
)


def _fold_in_batches(times: np.ndarray, values: np.ndarray, size: int) -> BehaviourState:
    state = BehaviourState.empty(values.shape[1])
    for start in range(0, len(times), size):
        state = state.fold(times[start : start + size], values[start : start + size])
    return state


def test_intervals_of_a_fast_sensor_an_analyser_and_a_lab_value_repeated_in_every_payload() -> None:
    rng = np.random.default_rng(0)
    times = np.arange(4320) * 10.0  # 12 h of 10-second payloads
    fast = 50 + rng.normal(size=4320)
    analyser = np.full(4320, np.nan)
    analyser[::36] = rng.normal(size=120)  # reports every 6 minutes, absent in between
    lab = np.repeat(rng.normal(size=12), 360)  # repeated in every payload, changes hourly
    state = _fold_in_batches(times, np.column_stack([fast, analyser, lab]), 64)
    assert state.sample_interval().tolist() == [10.0, 360.0, 10.0]
    assert state.update_interval().tolist() == [10.0, 360.0, 3600.0]
    assert state.samples.tolist() == [4320, 120, 4320]


def test_resolution_ignores_float_noise_and_float32_round_trips() -> None:
    steps = np.array([0, 1, 2, 2, 3, 5, 4, 4, 7], dtype=float)
    quantised = (steps * 0.1 + 20).astype(np.float32).astype(np.float64)  # 0.1 K, stored as float32
    noisy = np.r_[0.1 + 0.2, 0.3, 0.3 + 1e-17, 0.5]  # 0.30000000000000004 vs 0.3 is not a step
    state = BehaviourState.empty(1).fold(np.arange(9.0), quantised[:, None])
    assert state.resolution[0] == pytest.approx(0.1, rel=1e-4)  # float32: 20.1 - 20.0 = 0.0999985
    state = BehaviourState.empty(1).fold(np.arange(4.0), noisy[:, None])
    assert state.resolution[0] == pytest.approx(0.2)


def test_unchanged_runs_in_time_and_samples_across_batches_and_gaps() -> None:
    values = np.array([1, 1, np.nan, 1, 1, 2, 2, 3, np.nan, np.nan, 3, 3, 3, 3, 4], dtype=float)[:, None]
    times = np.arange(15) * 60.0
    for size in (1, 2, 5, 15):
        state = _fold_in_batches(times, values, size)
        # 3 present five times from t=420 to t=780: the longest run in samples; 1 held 240 s over 4 samples
        assert state.longest_run_samples[0] == 5 and state.longest_run_s[0] == 360.0
        assert state.run_samples[0] == 1 and state.run_start[0] == 840.0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.5, 1.0, 7.25, np.nan]), min_size=2, max_size=80),
    st.lists(st.integers(1, 9), min_size=1, max_size=80),
    st.integers(1, 17),
)
def test_folding_batch_by_batch_equals_folding_at_once(cells: list[float], gaps: list[int], size: int) -> None:
    n = len(cells)
    times = np.cumsum(np.resize(np.array(gaps, dtype=float), n))
    values = np.column_stack([cells, cells[::-1]])
    once = BehaviourState.empty(2).fold(times, values)
    batched = _fold_in_batches(times, values, size)
    for name in ("last_value", "last_time", "run_start", "last_change", "resolution"):
        assert np.array_equal(getattr(once, name), getattr(batched, name), equal_nan=True), name
    for name in ("run_samples", "longest_run_s", "longest_run_samples", "samples", "gaps", "change_gaps"):
        assert np.array_equal(getattr(once, name), getattr(batched, name)), name
    assert np.allclose(once.pairs, batched.pairs, atol=1e-9)


def test_lag1_autocorrelation_and_effective_samples() -> None:
    rng = np.random.default_rng(2)
    ar = np.zeros(20_000)
    for k in range(1, len(ar)):
        ar[k] = 0.9 * ar[k - 1] + rng.normal()
    white = rng.normal(size=20_000)
    state = _fold_in_batches(np.arange(20_000.0), np.column_stack([ar, white]), 500)
    rho = state.lag1()
    assert rho[0] == pytest.approx(0.9, abs=0.01) and abs(rho[1]) < 0.03
    assert effective_samples(1000, rho).round().tolist()[0] == pytest.approx(53, abs=6)


def test_young_window_factor_keeps_the_false_alarm_rate_of_a_mature_window() -> None:
    """Scored after ten samples: with the factor, |z| >= 3 fires about as often as it would with the
    true mean and spread (0.27 %); without it, several times as often."""
    rng = np.random.default_rng(3)
    z = 3.0
    nominal = 0.0027
    for n in (MIN_SAMPLES, 30):
        window = rng.normal(size=(100_000, n))
        fresh = rng.normal(size=100_000)
        scored = np.abs(fresh - window.mean(axis=1)) / window.std(axis=1, ddof=1)
        widened = (scored >= z * young_window_factor(n, z)).mean()
        plain = (scored >= z).mean()
        assert widened == pytest.approx(nominal, rel=0.15)
        assert plain > 1.5 * nominal
    assert np.isinf(young_window_factor(MIN_SAMPLES - 1, z))
    factors = young_window_factor(np.arange(MIN_SAMPLES, 2000), z)
    assert np.all(np.diff(factors) < 0) and factors[-1] == pytest.approx(1.0, abs=0.002)


def test_stuck_limits_follow_the_sensor_habit() -> None:
    times = np.arange(600) * 10.0
    noisy = np.random.default_rng(4).normal(size=600)
    holding = np.repeat(np.arange(10.0), 60)  # a valve position held for 10 minutes at a time
    state = BehaviourState.empty(2).fold(times, np.column_stack([noisy, holding]))
    seconds, samples = stuck_limits(state, factor=2.0, min_samples=5)
    assert samples.tolist() == [5, 120] and seconds.tolist() == [50.0, 1180.0]
