"""Thresholds calibrated on training scores: the finite-sample guarantee, per column, incremental counts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from analyzer.tiers.statistical.calibration import (
    ExceedanceCounts,
    gaussian_threshold,
    min_rows,
    rank_for,
    scaled_chi2_threshold,
    threshold,
    thresholds,
)


@pytest.mark.parametrize("n", [99, 200, 999])
def test_the_false_alarm_rate_meets_the_target_on_average_over_training_sets(n: int) -> None:
    """The guarantee is over the draw of the training rows: average the exceedance over many draws.

    Heavy-tailed scores (|t_2|) on purpose: no distribution is assumed.
    """
    rng = np.random.default_rng(n)
    target = 0.05 if n < 999 else 0.01
    rates = []
    for _ in range(400):
        training = np.abs(rng.standard_t(2, size=n))
        limit = threshold(training, target)
        assert limit.certified
        fresh = np.abs(rng.standard_t(2, size=5000))
        rates.append((fresh > limit.value).mean())
    expected = (n + 1 - rank_for(n, target)) / (n + 1)
    assert expected <= target
    assert np.mean(rates) == pytest.approx(expected, abs=0.15 * target)


def test_too_few_rows_cannot_certify_and_say_so() -> None:
    assert min_rows(0.001) == 999
    short = threshold(np.arange(998.0), 0.001)
    assert not short.certified and math.isinf(short.value)
    enough = threshold(np.arange(999.0), 0.001)
    assert enough.certified and enough.value == 998.0  # the largest of 999 certifies 1/1000
    assert threshold(np.array([np.nan, 1.0, np.inf]), 0.4).n == 1  # non-finite scores are not counted


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 60), st.integers(1, 4)), elements=st.floats(0, 100) | st.just(np.nan)),
    st.sampled_from([0.01, 0.05, 0.2, 0.5]),
)
def test_per_column_thresholds_equal_one_column_at_a_time(scores: np.ndarray, target: float) -> None:
    together = thresholds(scores, target)
    for column in range(scores.shape[1]):
        assert together[column] == threshold(scores[:, column], target).value


@settings(max_examples=30, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(30, 300), st.just(2)), elements=st.floats(0.02, 500)),
    st.integers(0, 29),
)
def test_counts_add_merge_and_expire_in_any_order(scores: np.ndarray, cut: int) -> None:
    empty = ExceedanceCounts.empty(2)
    whole = empty.add(scores)
    split = empty.add(scores[cut:]).merge(empty.add(scores[:cut]))
    assert np.array_equal(whole.counts, split.counts)
    assert np.array_equal(whole.remove(scores[:cut]).counts, empty.add(scores[cut:]).counts)
    exact, approx = thresholds(scores, 0.05), whole.thresholds(0.05)
    certified = np.isfinite(exact)
    assert np.all(approx[certified] > exact[certified])  # flagging above the bin edge: never more alarms
    assert np.all(approx[certified] <= exact[certified] * 1.02 + 1e-12)
    assert np.array_equal(np.isinf(approx), ~certified)


def test_parametric_fallbacks_reach_rates_the_rows_cannot_certify() -> None:
    rng = np.random.default_rng(8)
    z = rng.standard_normal((2_000_000, 4))
    assert (np.abs(z).max(axis=1) > gaussian_threshold(1e-4, tests=4)).mean() == pytest.approx(1e-4, rel=0.15)
    # a sum of squares with unequal weights (as Q is): the matched chi-square from 3,000 rows only
    weights = np.array([3.0, 1.0, 0.5, 0.2])
    q = (z**2 * weights).sum(axis=1)
    limit = scaled_chi2_threshold(q[:3000], 1e-4)
    assert not threshold(q[:3000], 1e-4).certified
    # two moments cannot know the tail exactly: with one weight dominating, the real rate is
    # about three times the target (documented in scaled_chi2_threshold)
    assert 1e-4 / 3 < (q > limit).mean() < 4e-4
    assert math.isinf(scaled_chi2_threshold(np.array([1.0, np.nan]), 0.01))
