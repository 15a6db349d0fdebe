"""The PCA monitor as tier 2 runs it: trained beside the IsolationForest on the same rows, its three
limits calibrated on the training rows to ``STAT_PCA_FALSE_ALARM_TARGET``, shared like the forest.

Training (at the forest's training points, on the same protected window rows, feature columns):

1. absent cells are carried forward from the sensor's last value (``pca.carry_forward``), rows still
   incomplete (before a sensor's first value) are left out;
2. the model is fitted on the first two thirds of the rows in time order, with each feature's scale
   floored by its resolution (a sensor that sat still does not divide by ~0);
3. the last third, which the model did not see, sets each feature's residual spread
   (``PcaMonitor.with_held_out``) and the limits: Hotelling's T^2, Q (SPE) and the largest
   per-sensor residual ``max_j |e_j| / spread_j``, each the value those rows exceed at the target
   rate (``calibration.threshold``) when they are enough to certify it, otherwise extrapolated: T^2
   and Q by the moment-matched scaled chi-square of the held-out scores, the residual by a Bonferroni
   Gaussian over the features (``calibration``). In-sample limits would let Q fire all day on the
   next day (measured on the simulator: ``bench/experiments/tier2_ideas.py``).

A reading is flagged when any of the three exceeds its limit; the per-sensor residual is what finds a
single broken pair among many sensors (Q dilutes it with every other sensor's noise). The evidence
names the sensors with the largest residuals, each with its contribution to Q.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from analyzer.tiers.statistical.calibration import gaussian_threshold, scaled_chi2_threshold, threshold
from analyzer.tiers.statistical.pca import PcaMonitor, carry_forward, fit_pca

#: Fewest complete training rows for a PCA monitor (two thirds fit, one third calibrates), and per
#: feature: a covariance of p sensors needs many more than p rows to be worth monitoring against.
MIN_ROWS = 30
ROWS_PER_FEATURE = 10


@dataclass(frozen=True)
class PcaModel:
    """A fitted monitor and its calibrated limits; ``version`` is the forest's it was trained with."""

    monitor: PcaMonitor
    t2_limit: float
    q_limit: float
    residual_limit: float
    version: str
    n_samples: int

    def to_bytes(self) -> bytes:
        arrays = self.monitor.to_arrays()
        buffer = io.BytesIO()
        np.savez(
            buffer,
            **arrays,  # type: ignore[arg-type]
            calibrated=np.array([self.t2_limit, self.q_limit, self.residual_limit, float(self.n_samples)]),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, version: str) -> PcaModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        t2, q, residual, n = (float(v) for v in arrays.pop("calibrated"))
        return cls(PcaMonitor.from_arrays(arrays), t2, q, residual, version, int(n))


@dataclass(frozen=True)
class PcaScores:
    """Per row: T^2, Q, the largest per-sensor residual, the verdict and the explanation."""

    model: PcaModel
    t2: np.ndarray
    q: np.ndarray
    residual: np.ndarray
    flagged: np.ndarray
    contributions: list[tuple[tuple[str, float], ...]]


def _limit(scores: np.ndarray, target: float, fallback: float) -> float:
    calibrated = threshold(scores, target)
    return calibrated.value if calibrated.certified else fallback


def fit_pca_model(
    rows: np.ndarray,
    features: tuple[str, ...],
    *,
    resolution: np.ndarray,
    target: float,
    explained: float,
    version: str,
) -> PcaModel | None:
    """The monitor of ``rows`` (time order, columns = ``features``, NaN = absent), or ``None`` with
    fewer than two features or too few complete rows (:data:`MIN_ROWS`, :data:`ROWS_PER_FEATURE`)."""
    if len(features) < 2:
        return None
    filled = carry_forward(rows)
    filled = filled[~np.isnan(filled).any(axis=1)]
    if len(filled) < max(MIN_ROWS, ROWS_PER_FEATURE * len(features)):
        return None
    cut = 2 * len(filled) // 3
    fit, held = filled[:cut], filled[cut:]
    monitor = fit_pca(fit, features, explained=explained, scale_floor=np.nan_to_num(resolution)).with_held_out(held)
    own = monitor.score(held)
    residual = np.nanmax(np.abs(monitor.residual_z(held)), axis=1)
    return PcaModel(
        monitor=monitor,
        t2_limit=_limit(own.t2, target, scaled_chi2_threshold(own.t2, target)),
        q_limit=_limit(own.q, target, scaled_chi2_threshold(own.q, target)),
        residual_limit=_limit(residual, target, gaussian_threshold(target, tests=len(features))),
        version=version,
        n_samples=len(filled),
    )


def score_pca(model: PcaModel, x: np.ndarray, *, top: int) -> PcaScores:
    """Score rows ``x`` (columns = the model's features, NaN = absent: projected, never imputed)."""
    monitor = model.monitor
    scores = monitor.score(x)
    # Matrix products over a batch may differ in the last bits with the batch's size (BLAS blocking);
    # rounded to float32, a reading's scores are the same however the stream was batched.
    t2, q = _settled(scores.t2), _settled(scores.q)
    with np.errstate(invalid="ignore"):
        absolute = _settled(np.abs(monitor.residual_z(x)))
        residual = np.where(
            np.isnan(absolute).all(axis=1), np.nan, np.nanmax(np.nan_to_num(absolute, nan=-1.0), axis=1)
        )
        flagged = (t2 > model.t2_limit) | (q > model.q_limit) | (residual > model.residual_limit)
    explained: list[tuple[tuple[str, float], ...]] = [()] * len(x)
    if flagged.any():
        rows = np.flatnonzero(flagged)
        q_parts = _settled(monitor.contributions(x[rows])[1])
        for k, row in enumerate(rows):
            order = np.argsort(-np.nan_to_num(absolute[row], nan=-1.0))[:top]
            explained[row] = tuple(
                (monitor.features[j], round(float(q_parts[k, j]), 6)) for j in order if math.isfinite(q_parts[k, j])
            )
    return PcaScores(model, t2, q, residual, flagged, explained)


def _settled(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float32).astype(np.float64)
