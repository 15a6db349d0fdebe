"""The compiled forest equals scikit-learn; contributions point at the perturbed sensor; persistence."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from analyzer.tiers.statistical.forest import ForestModel, compile_forest, fit_model


@pytest.mark.parametrize(("max_features", "max_samples", "seed"), [(1.0, 256, 0), (0.5, 64, 3), (1.0, 1000, 7)])
def test_compiled_scores_equal_score_samples(max_features: float, max_samples: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(2000, 20)) * np.arange(1, 21) + 350.0
    forest = IsolationForest(n_estimators=60, max_samples=max_samples, max_features=max_features, random_state=seed)
    forest.fit(train)
    probes = np.vstack([train[:300], rng.normal(size=(300, 20)) * 4 * np.arange(1, 21) + 350.0])
    compiled = compile_forest(forest)
    np.testing.assert_allclose(compiled.raw_scores(probes), -forest.score_samples(probes), rtol=0, atol=1e-9)
    single = compiled.raw_scores(probes[-1:])
    assert abs(single[0] + forest.score_samples(probes[-1:])[0]) < 1e-9


def test_contributions_point_at_the_perturbed_sensor() -> None:
    rng = np.random.default_rng(11)
    base = rng.normal(size=(3000, 1))
    train = np.hstack([base + 0.1 * rng.normal(size=(3000, 1)) for _ in range(8)])  # correlated sensors
    names = tuple(f"S{i}" for i in range(8))
    model = fit_model(train, names, seed=1)
    for sensor in range(8):
        probe = np.median(train, axis=0)[None, :].copy()
        probe[0, sensor] += 2.5  # breaks the correlation on one sensor only
        drops = model.contributions(probe)[0]
        assert int(np.argmax(drops)) == sensor
        typical = np.median(train, axis=0)[None, :]
        assert model.raw_scores(probe)[0] > model.raw_scores(typical)[0]


def test_missing_values_are_imputed_with_the_typical_value() -> None:
    rng = np.random.default_rng(2)
    train = rng.normal(size=(500, 4))
    model = fit_model(train, ("a", "b", "c", "d"), n_estimators=30)
    row = np.array([[0.1, np.nan, -0.2, np.nan]])
    filled = np.array([[0.1, model.medians[1], -0.2, model.medians[3]]])
    assert model.raw_scores(row)[0] == model.raw_scores(filled)[0]


def test_model_round_trips_through_bytes_without_pickle() -> None:
    rng = np.random.default_rng(5)
    train = rng.normal(size=(800, 5))
    model = fit_model(train, tuple("abcde"), n_estimators=20)
    again = ForestModel.from_bytes(
        model.to_bytes(),
        features=model.features,
        version=model.version,
        trained_at=model.trained_at,
        n_samples=model.n_samples,
        training_s=model.training_s,
    )
    np.testing.assert_array_equal(again.raw_scores(train), model.raw_scores(train))
    np.testing.assert_array_equal(
        again.calibrate(np.array([0.3, 0.5, 0.7])), model.calibrate(np.array([0.3, 0.5, 0.7]))
    )
    assert model.calibrate(model.raw_scores(train)).min() >= 0.0 and model.calibrate(np.array([0.99]))[0] == 1.0


@pytest.mark.slow
def test_training_a_full_day_is_fast() -> None:
    rng = np.random.default_rng(0)
    day = rng.normal(size=(8640, 85))
    model = fit_model(day, tuple(f"S{i}" for i in range(85)))
    assert model.training_s < 2.0
