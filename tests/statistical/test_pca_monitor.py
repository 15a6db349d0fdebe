"""The PCA monitor in the fold: trained with the forest on the same rows, limits calibrated on the
training rows, shared with the model, and a broken correlation is a ``pca`` alarm naming the pair."""

from __future__ import annotations

import numpy as np

from analyzer.tiers.statistical import StatisticalSettings
from analyzer.tiers.statistical.monitor import PcaModel
from tests.statistical import factories as f

SETTINGS = StatisticalSettings(  # type: ignore[call-arg]
    _env_file=None,
    spread_floor=0.001,
    if_min_training_span=0.0,
    if_min_training_rows=600,
    if_retrain_after_rows=100_000,
    if_retrain_interval_s=10**9,
    if_n_estimators=50,
)


def _plant(n: int, seed: int = 0) -> np.ndarray:
    """Six sensors: TI-0..2 follow one driver (a flow and what it drives), TI-3..5 independent noise."""
    rng = np.random.default_rng(seed)
    driver = np.zeros(n)
    for k in range(1, n):  # a stationary load swinging slowly (AR(1), unit spread)
        driver[k] = 0.98 * driver[k - 1] + 0.2 * rng.normal()
    values = 500 + rng.normal(size=(n, 6))
    for j in range(3):
        values[:, j] = 500 + 4 * driver + 0.3 * rng.normal(size=n)
    return values


async def test_a_broken_correlation_is_a_pca_alarm_naming_the_pair() -> None:
    fold = f.InMemoryFold(f.index(n_process=6, n_hourly=0), SETTINGS)
    n = 1500
    values, times = _plant(n + 200), f.START + 10.0 * np.arange(n + 200)
    results = await fold.feed(values[:n], times[:n])
    pca = fold.tier2.pca
    assert isinstance(pca, PcaModel) and fold.tier2.model is not None and pca.version == fold.tier2.model.version
    assert pca.monitor.features == tuple(f"TI-{j}" for j in range(6)) and pca.monitor.n_components < 6
    assert all(np.isfinite([pca.t2_limit, pca.q_limit, pca.residual_limit]))
    scored = [r for r in results if r.ml is not None and r.ml.pca is not None]
    assert scored and sum(r.ml.pca.status == "Anomaly" for r in scored) <= 3  # type: ignore[union-attr]
    assert not any(a.startswith("pca:") for r in scored for a in r.alarm_ids)
    # TI-1 leaves its partners by 3 of its own sigma (about 1 sensor sigma: invisible to its z-score).
    broken = values[n:].copy()
    broken[:, 1] += 3 * 0.3 * 4
    after = await fold.feed(broken, times[n:], seq0=n)
    flagged = [r for r in after if r.ml is not None and r.ml.pca is not None and r.ml.pca.status == "Anomaly"]
    assert len(flagged) >= 150
    top = flagged[-1].ml.pca  # type: ignore[union-attr]
    assert top is not None and next(iter(top.values)) == "TI-1" and top.residual > top.residual_limit  # type: ignore[operator]
    assert any(a.startswith("pca:plant") for r in after for a in r.alarm_ids)
    assert all("zscore:TI-1" not in " ".join(r.alarm_ids) for r in after[:50])  # the z-score does not see it
