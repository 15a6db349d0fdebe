"""The PCA monitor: T^2 and Q, contributions, control limits, missing sensors, sharing as arrays."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from analyzer.tiers.statistical.calibration import gaussian_threshold, threshold
from analyzer.tiers.statistical.pca import CovarianceState, PcaMonitor, fit_from_state, fit_pca, n_components_for

FEATURES = ("flow", "dp", "current", "vibration", "temp")


def _plant(n: int, seed: int = 0) -> np.ndarray:
    """Two drivers behind four sensors, plus one independent temperature, on very different scales."""
    rng = np.random.default_rng(seed)
    load, speed = rng.normal(size=n), rng.normal(size=n)
    return np.column_stack(
        [
            120 + 15 * load + rng.normal(scale=1.0, size=n),  # flow
            2.5 + 0.3 * load + rng.normal(scale=0.02, size=n),  # pressure drop follows flow
            40 + 4 * speed + rng.normal(scale=0.3, size=n),  # pump current
            3 + 0.5 * speed + rng.normal(scale=0.05, size=n),  # vibration follows the pump
            350 + 0.5 * rng.normal(size=n),  # a temperature of its own
        ]
    )


@pytest.fixture(scope="module")
def monitor() -> PcaMonitor:
    return fit_pca(_plant(5000), FEATURES)


def test_components_follow_the_explained_variance(monitor: PcaMonitor) -> None:
    # two drivers carry 4 of 5 standardised units of variance, the temperature the fifth
    assert monitor.n_components == 3
    share = monitor.eigenvalues[:3].sum() / monitor.eigenvalues.sum()
    assert share >= 0.9 > monitor.eigenvalues[:2].sum() / monitor.eigenvalues.sum()
    assert fit_pca(_plant(5000), FEATURES, explained=0.75).n_components == 2
    assert n_components_for(np.array([3.0, 1.0, 1e-9]), 0.99) == 2


def test_a_broken_correlation_shows_in_q_and_its_contributions_name_the_pair(monitor: PcaMonitor) -> None:
    normal = _plant(1, seed=9)[0]
    broken = normal.copy()
    broken[1] = 2.5 - 0.3 * (normal[0] - 120) / 15  # dp moves against the flow, still inside its band
    z = np.abs(monitor.standardise(broken))[0]
    assert z.max() < 3  # every sensor within three of its own spreads
    scores = monitor.score(np.vstack([normal, broken]))
    assert scores.q[1] > monitor.q_limit > scores.q[0]
    t2_parts, q_parts = monitor.contributions(broken)
    assert set(np.argsort(-q_parts[0])[:2]) == {0, 1}  # flow and dp
    assert q_parts[0].sum() == pytest.approx(monitor.score(broken).q[0])
    assert t2_parts[0].sum() == pytest.approx(monitor.score(broken).t2[0])


def test_a_large_move_along_the_model_shows_in_t2_not_q(monitor: PcaMonitor) -> None:
    row = _plant(1, seed=4)[0]
    row[0], row[1] = 120 + 15 * 6, 2.5 + 0.3 * 6  # flow and dp together, six spreads up
    scores = monitor.score(row)
    assert scores.t2[0] > monitor.t2_limit and scores.q[0] < monitor.q_limit


def test_reference_limits_hold_on_independent_gaussian_rows() -> None:
    monitor = fit_pca(_plant(4000, seed=1), FEATURES, alpha=0.01)
    fresh = monitor.score(_plant(40_000, seed=2))
    assert (fresh.t2 > monitor.t2_limit).mean() == pytest.approx(0.01, abs=0.004)
    # Box's approximation for Q is close, not exact; calibration on training scores is the rule
    assert (fresh.q > monitor.q_limit).mean() == pytest.approx(0.01, abs=0.006)


def test_calibrated_thresholds_on_training_scores_meet_the_target() -> None:
    training = _plant(3000, seed=5)
    monitor = fit_pca(training, FEATURES)
    own = monitor.score(training)
    limit_t2, limit_q = threshold(own.t2, 0.01), threshold(own.q, 0.01)
    fresh = monitor.score(_plant(30_000, seed=6))
    assert (fresh.t2 > limit_t2.value).mean() <= 0.013
    assert (fresh.q > limit_q.value).mean() <= 0.013


def test_absent_sensors_are_projected_not_imputed(monitor: PcaMonitor) -> None:
    rows = _plant(2000, seed=7)
    full = monitor.score(rows)
    holed = rows.copy()
    holed[:, 4] = np.nan  # the independent temperature missing: the model plane is still estimable
    partial = monitor.score(holed)
    assert np.isfinite(partial.q).all() and np.isfinite(partial.t2).all()
    assert (partial.q <= full.q + 1e-9).mean() > 0.99  # fewer residual terms: Q can only shrink
    _, q_parts = monitor.contributions(holed[:3])
    assert np.isnan(q_parts[:, 4]).all() and np.isfinite(q_parts[:, :4]).all()
    assert q_parts[:, :4].sum(axis=1) == pytest.approx(partial.q[:3])
    too_few = rows[:1].copy()
    too_few[0, 1:] = np.nan  # one feature cannot place a row in a 3-dimensional model
    assert np.isnan(monitor.score(too_few).q[0]) and np.isnan(monitor.score(too_few).t2[0])


def test_sharing_as_arrays_gives_the_same_scores_without_pickle(monitor: PcaMonitor) -> None:
    data = monitor.to_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
    again = PcaMonitor.from_bytes(data)
    rows = _plant(50, seed=3)
    assert again.features == monitor.features and again.n_components == monitor.n_components
    assert np.array_equal(again.score(rows).q, monitor.score(rows).q)
    assert (again.t2_limit, again.q_limit, again.n_samples) == (monitor.t2_limit, monitor.q_limit, monitor.n_samples)


def test_degenerate_training_does_not_divide_by_zero() -> None:
    rows = _plant(500)
    rows[:, 4] = 350.0  # a sensor that never moved while training
    monitor = fit_pca(rows, FEATURES, scale_floor=np.array([0, 0, 0, 0, 0.1]))
    assert monitor.scale[4] == 0.1
    moved = rows[:2].copy()
    moved[1, 4] = 351.0
    scores = monitor.score(moved)
    assert np.isfinite(scores.q).all() and scores.q[1] > scores.q[0]
    single = fit_pca(rows[:, :1], FEATURES[:1])
    assert single.n_components == 1 and single.score(rows[:5, :1]).q.tolist() == [0.0] * 5
    with pytest.raises(ValueError, match="at least 3 complete training rows"):
        fit_pca(np.full((10, 2), np.nan), ("a", "b"))


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(6, 40), st.just(3)), elements=st.floats(-1e3, 1e3)),
    st.integers(1, 5),
)
def test_covariance_folds_in_any_grouping(rows: np.ndarray, cut: int) -> None:
    whole = CovarianceState.of(rows)
    cut = min(cut, len(rows) - 1)
    parts = CovarianceState.empty(3).fold(rows[:cut]).fold(rows[cut:])
    assert parts.count == whole.count
    assert np.allclose(parts.mean, whole.mean, atol=1e-6)
    assert np.allclose(parts.comoment, whole.comoment, rtol=1e-6, atol=1e-3)


def test_a_model_from_folded_batches_equals_one_from_all_rows() -> None:
    rows = _plant(3000, seed=11)
    state = CovarianceState.empty(5)
    for start in range(0, 3000, 64):
        state = state.fold(rows[start : start + 64])
    folded, direct = fit_from_state(state, FEATURES), fit_pca(rows, FEATURES)
    probe = _plant(20, seed=12)
    assert np.allclose(folded.score(probe).q, direct.score(probe).q)
    assert np.allclose(folded.loadings, direct.loadings)  # the sign convention makes them identical


def test_per_sensor_residuals_name_the_broken_pair_against_a_bonferroni_threshold() -> None:
    training = _plant(6000, seed=13)
    monitor = fit_pca(training[:4000], FEATURES).with_held_out(training[4000:])
    fresh = monitor.residual_z(_plant(20_000, seed=14))
    # on rows the model did not see, every feature's residual z has a spread of about one
    assert np.sqrt((fresh**2).mean(axis=0)) == pytest.approx(np.ones(5), abs=0.05)
    limit = gaussian_threshold(1e-4, tests=len(FEATURES))
    assert (np.abs(fresh).max(axis=1) > limit).mean() < 3e-4
    row = _plant(1, seed=15)[0]
    row[1] = 2.5 - 0.3 * (row[0] - 120) / 15  # dp against the flow again
    broken = monitor.residual_z(row)[0]
    assert np.abs(broken).max() > limit and set(np.argsort(-np.abs(broken))[:2]) == {0, 1}


def test_in_sample_residual_spread_matches_the_eigenvalues() -> None:
    training = _plant(5000, seed=16)
    monitor = fit_pca(training, FEATURES)
    measured = monitor.with_held_out(training).residual_scale  # the same rows: in-sample, measured
    assert measured == pytest.approx(monitor.residual_scale * np.sqrt(4999 / 5000), rel=1e-6)
    assert np.isnan(monitor.residual_z(np.full((1, 5), np.nan))).all()
