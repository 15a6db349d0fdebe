"""PCA monitor: Hotelling's T^2 and the squared prediction error (Q, SPE) with per-sensor contributions.

The process industry's standard multivariate monitor. Sensors that move together (a flow and the
pressure drop it causes) span a few principal directions; a reading that stays inside every
sensor's own band but breaks such a relation leaves that plane and shows in Q, which a per-sensor
z-score cannot see.

Model
-----
Training rows are standardised per feature, ``z = (x - mean) / scale`` (``scale`` = the sample
standard deviation, floored by ``scale_floor``, e.g. each sensor's resolution, so a sensor that sat
still in training does not divide by zero). The correlation matrix ``R = V diag(lambda) V^T`` is
decomposed, eigenvalues descending, and the first ``k`` eigenvectors ``P`` (the loadings) are kept:

* ``k`` is the smallest number of components whose share of the total variance reaches
  ``explained`` (default 0.90), at least 1 and at most ``p - 1`` so that Q keeps a residual space
  (with a single feature, ``k = 1`` and Q is identically 0).

For a standardised row ``z``: scores ``t = P^T z``, ``T^2 = sum_a t_a^2 / lambda_a`` (the distance
inside the model plane, in units of the training spread), and ``Q = ||z - P t||^2`` (the squared
distance to the plane).

Control limits
--------------
Kept for reference at ``alpha`` (default 0.01): ``T^2_lim = k (n-1)(n+1) / (n (n-k)) F(1-alpha;
k, n-k)`` (a new observation, independent of the training rows) and Box's approximation for Q,
``Q_lim = g chi2(1-alpha; h)`` with ``g = theta2 / theta1``, ``h = theta1^2 / theta2``, ``theta_i =
sum_{j>k} lambda_j^i``. Both assume independent Gaussian rows; process data are autocorrelated
and rarely Gaussian, so the tier should set its thresholds from the training rows' own scores
(:mod:`.calibration`) and use these limits only as a fallback.

Per-sensor residuals
--------------------
Q sums the residuals of every feature, so one broken pair among a hundred sensors is diluted by
the other residual dimensions' noise. :meth:`PcaMonitor.residual_z` keeps them apart: each
feature's residual ``e_j`` divided by its own residual spread (``residual_scale``), a z-score of
"this sensor against what the others say it should read". Test ``max_j |residual_z|`` against a
Bonferroni threshold (:func:`~.calibration.gaussian_threshold` with ``tests = p``). The spread
set at fitting is the in-sample one, which is too small (the model fitted those rows' noise):
set it on later rows the model did not see with :meth:`PcaMonitor.with_held_out`. On the
simulator this found 10 of 17 broken correlations at 0.25 false alarms per day where Q found 5
at 2 per day (``bench/experiments/tier2_ideas.py``).

Contributions
-------------
Q: ``c_j = e_j^2`` with ``e = z - P t`` (exact: they add up to Q). T^2: the complete decomposition
(Alcala and Qin, 2009), ``c_j = ((P Lambda^-1/2 P^T z)_j)^2``, which also adds up exactly. Both
cost one more matrix product, so they are computed on request (for flagged rows).

Missing sensors
---------------
Training folds complete rows only (:class:`CovarianceState`): the tier should choose as features
the sensors present in nearly every payload. When scoring, a row with absent features is projected
onto the model plane from its present features (least squares ``t = argmin ||z_o - P_o t||``,
"projection to the model plane", Nelson, Taylor and MacGregor 1996): T^2 from that ``t``, Q from the
present features' residuals only (so Q can only shrink: an absent sensor never raises an alarm);
the absent features' contributions are NaN. A row needs at least ``k + 1`` present features to be
scored, otherwise T^2 and Q are NaN. Rows are grouped by their pattern of absent features, so a
batch costs one solve per pattern.

State and sharing
-----------------
:class:`CovarianceState` (count, mean vector, co-moment matrix) folds batches in any grouping and
merges exactly (Chan's update, like ``window.py``'s buckets); :func:`fit_from_state` turns it into
a model. A :class:`PcaMonitor` is flat arrays only: :meth:`PcaMonitor.to_bytes` is an ``.npz``
archive read back without pickle, to be shared through Redis like the forest.

>>> rng = np.random.default_rng(0)
>>> driver = rng.normal(size=2000)
>>> train = np.column_stack([driver, driver + 0.1 * rng.normal(size=2000), rng.normal(size=2000)])
>>> monitor = fit_pca(train, ("flow", "dp", "temp"))
>>> monitor.n_components, monitor.features
(2, ('flow', 'dp', 'temp'))
>>> broken = np.array([[1.0, -1.0, 0.0]])  # flow up, its pressure drop down: each within its band
>>> scores = monitor.score(broken)
>>> bool(scores.q[0] > monitor.q_limit), bool(scores.t2[0] < monitor.t2_limit)
(True, True)
>>> _, q_parts = monitor.contributions(broken)
>>> [round(float(c), 2) for c in q_parts[0]], round(float(scores.q[0]), 2)
([1.0, 1.0, 0.0], 1.99)
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

DEFAULT_EXPLAINED = 0.90
DEFAULT_ALPHA = 0.01
_MIN_RESIDUAL = 1e-6  # a feature the model reproduces exactly: no division by zero


@dataclass(frozen=True)
class CovarianceState:
    """Count, mean and co-moment matrix ``sum (x - mean)(x - mean)^T`` of complete rows.

    Folding is exact and order-free: ``CovarianceState.of(a).merge(CovarianceState.of(b))`` equals
    ``CovarianceState.of(vstack([a, b]))`` up to rounding.

    >>> rows = np.arange(12.0).reshape(6, 2) ** 1.5
    >>> whole = CovarianceState.of(rows)
    >>> parts = CovarianceState.of(rows[:2]).merge(CovarianceState.of(rows[2:]))
    >>> bool(np.allclose(whole.comoment, parts.comoment)), whole.count
    (True, 6)
    """

    count: int
    mean: np.ndarray
    comoment: np.ndarray

    @classmethod
    def empty(cls, n_features: int) -> CovarianceState:
        return cls(0, np.zeros(n_features), np.zeros((n_features, n_features)))

    @classmethod
    def of(cls, rows: np.ndarray) -> CovarianceState:
        """The state of the complete rows (no NaN) of ``rows``."""
        complete = rows[~np.isnan(rows).any(axis=1)]
        if not len(complete):
            return cls.empty(rows.shape[1])
        mean = complete.mean(axis=0)
        centred = complete - mean
        return cls(len(complete), mean, centred.T @ centred)

    def merge(self, other: CovarianceState) -> CovarianceState:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        total = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / total)
        comoment = self.comoment + other.comoment + np.outer(delta, delta) * (self.count * other.count / total)
        return CovarianceState(total, mean, comoment)

    def fold(self, rows: np.ndarray) -> CovarianceState:
        return self.merge(CovarianceState.of(rows))


@dataclass(frozen=True)
class PcaScores:
    """Per row: Hotelling's T^2 and Q (NaN where too few features were present to score)."""

    t2: np.ndarray
    q: np.ndarray


@dataclass(frozen=True)
class PcaMonitor:
    """A fitted PCA monitor: standardisation, loadings, eigenvalues and reference limits."""

    features: tuple[str, ...]
    mean: np.ndarray  # (p,)
    scale: np.ndarray  # (p,)
    #: Every eigenvalue of the training correlation matrix, descending (p,); the first k are retained.
    eigenvalues: np.ndarray
    loadings: np.ndarray  # (p, k)
    t2_limit: float
    q_limit: float
    alpha: float
    n_samples: int
    #: Spread of each feature's standardised residual (in-sample at fitting; see with_held_out).
    residual_scale: np.ndarray

    @property
    def n_components(self) -> int:
        return int(self.loadings.shape[1])

    def standardise(self, x: np.ndarray) -> np.ndarray:
        return (np.atleast_2d(x) - self.mean) / self.scale

    def score(self, x: np.ndarray) -> PcaScores:
        """T^2 and Q of each row of ``x`` (columns = ``features``; NaN = absent, see the module)."""
        t2, q, _, _ = self._project(self.standardise(x), with_contributions=False)
        return PcaScores(t2, q)

    def residual_z(self, x: np.ndarray) -> np.ndarray:
        """Per row and feature: the signed residual over its spread (NaN for absent features)."""
        z = self.standardise(x)
        _, _, _, q_parts = self._project(z, with_contributions=True)
        assert q_parts is not None
        signed = np.sign(z - self._reconstruct(z)) * np.sqrt(q_parts)
        return signed / self.residual_scale

    def with_held_out(self, rows: np.ndarray) -> PcaMonitor:
        """The same model with ``residual_scale`` measured on ``rows`` (rows it was not fitted on):
        the root mean square of each feature's residual, absent cells left out."""
        _, _, _, q_parts = self._project(self.standardise(rows), with_contributions=True)
        assert q_parts is not None
        with np.errstate(invalid="ignore"):
            rms = np.sqrt(np.nanmean(q_parts, axis=0)) if len(q_parts) else np.full(len(self.features), np.nan)
        scale = np.where(np.isfinite(rms) & (rms > 0), rms, self.residual_scale)
        return replace(self, residual_scale=np.maximum(scale, _MIN_RESIDUAL))

    def _reconstruct(self, z: np.ndarray) -> np.ndarray:
        """``P t`` per row (absent features' cells as the projection puts them), NaN rows kept NaN."""
        out = np.full_like(z, np.nan)
        absent = np.isnan(z)
        patterns, which = np.unique(absent, axis=0, return_inverse=True)
        for code, pattern in enumerate(patterns):
            rows = np.flatnonzero(which.ravel() == code)
            present = ~pattern
            if present.sum() < min(self.n_components + 1, z.shape[1]):
                continue
            scores = np.linalg.lstsq(self.loadings[present], z[np.ix_(rows, present)].T, rcond=None)[0].T
            out[rows] = scores @ self.loadings.T
        return out

    def contributions(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row and feature: the contributions to T^2 and to Q (each row adds up to T^2, Q)."""
        _, _, t2_parts, q_parts = self._project(self.standardise(x), with_contributions=True)
        assert t2_parts is not None and q_parts is not None
        return t2_parts, q_parts

    def _project(
        self, z: np.ndarray, *, with_contributions: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        n_rows, p = z.shape
        k = self.n_components
        lam = self.eigenvalues[:k]
        t2, q = np.full(n_rows, np.nan), np.full(n_rows, np.nan)
        t2_parts = np.full((n_rows, p), np.nan) if with_contributions else None
        q_parts = np.full((n_rows, p), np.nan) if with_contributions else None
        absent = np.isnan(z)
        patterns, which = np.unique(absent, axis=0, return_inverse=True)
        for code, pattern in enumerate(patterns):
            rows = np.flatnonzero(which.ravel() == code)
            present = ~pattern
            if present.sum() < min(k + 1, p):
                continue
            zo = z[np.ix_(rows, present)]
            if pattern.any():  # projection to the model plane from the present features
                scores = np.linalg.lstsq(self.loadings[present], zo.T, rcond=None)[0].T
            else:
                scores = zo @ self.loadings
            residual = zo - scores @ self.loadings[present].T
            t2[rows] = (scores * scores / lam).sum(axis=1)
            q[rows] = (residual * residual).sum(axis=1)
            if t2_parts is not None and q_parts is not None:
                # D^1/2 z with D = P Lambda^-1 P^T, z rebuilt in the plane from the scores: exact sum.
                half = (scores / np.sqrt(lam)) @ self.loadings.T
                t2_parts[rows] = half * half
                q_parts[np.ix_(rows, present)] = residual * residual
                q_parts[np.ix_(rows, ~present)] = np.nan
        return t2, q, t2_parts, q_parts

    # ------------------------------------------------------------------ sharing

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat arrays only (the feature names as a unicode array)."""
        return {
            "features": np.array(self.features, dtype=str),
            "mean": self.mean,
            "scale": self.scale,
            "eigenvalues": self.eigenvalues,
            "loadings": self.loadings,
            "limits": np.array([self.t2_limit, self.q_limit, self.alpha]),
            "n_samples": np.array([self.n_samples]),
            "residual_scale": self.residual_scale,
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> PcaMonitor:
        t2_limit, q_limit, alpha = (float(v) for v in arrays["limits"])
        return cls(
            features=tuple(str(f) for f in arrays["features"]),
            mean=np.asarray(arrays["mean"], dtype=float),
            scale=np.asarray(arrays["scale"], dtype=float),
            eigenvalues=np.asarray(arrays["eigenvalues"], dtype=float),
            loadings=np.asarray(arrays["loadings"], dtype=float).reshape(len(arrays["mean"]), -1),
            t2_limit=t2_limit,
            q_limit=q_limit,
            alpha=alpha,
            n_samples=int(arrays["n_samples"][0]),
            residual_scale=np.asarray(arrays["residual_scale"], dtype=float),
        )

    def to_bytes(self) -> bytes:
        """An ``.npz`` archive of :meth:`to_arrays` (nothing is unpickled on load)."""
        buffer = io.BytesIO()
        arrays = self.to_arrays()
        np.savez(
            buffer,
            features=arrays["features"],
            mean=arrays["mean"],
            scale=arrays["scale"],
            eigenvalues=arrays["eigenvalues"],
            loadings=arrays["loadings"],
            limits=arrays["limits"],
            n_samples=arrays["n_samples"],
            residual_scale=arrays["residual_scale"],
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PcaMonitor:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            return cls.from_arrays({name: arrays[name] for name in arrays.files})


def carry_forward(rows: np.ndarray, last: np.ndarray | None = None) -> np.ndarray:
    """Each absent cell filled with that sensor's last present value (``last`` before the first row).

    What a plant's operator screen shows for a sensor that skipped a payload; used to make
    complete training rows when a few sensors are sometimes absent (a row with any absent feature
    is otherwise left out of the covariance).

    >>> carry_forward(np.array([[1.0, np.nan], [np.nan, 2.0], [3.0, np.nan]]), np.array([0.0, 9.0])).tolist()
    [[1.0, 9.0], [1.0, 2.0], [3.0, 2.0]]
    """
    rows = np.asarray(rows, dtype=float)
    seed = np.full(rows.shape[1], np.nan) if last is None else np.asarray(last, dtype=float)
    present = ~np.isnan(rows)
    extended = np.vstack([seed[None, :], rows])
    marks = np.vstack([np.ones((1, rows.shape[1]), dtype=bool), present])
    at = np.maximum.accumulate(np.where(marks, np.arange(len(rows) + 1)[:, None], 0), axis=0)
    return np.take_along_axis(extended, at[1:], axis=0)


def n_components_for(eigenvalues: np.ndarray, explained: float) -> int:
    """The smallest ``k`` whose leading eigenvalues reach ``explained`` of the total, in ``1 .. p-1``.

    >>> n_components_for(np.array([5.0, 3.0, 1.5, 0.5]), 0.9)
    3
    >>> n_components_for(np.array([1.0]), 0.9)
    1
    """
    p = len(eigenvalues)
    total = float(eigenvalues.sum())
    if p == 1 or total <= 0:
        return 1
    share = np.cumsum(eigenvalues) / total
    k = int(np.searchsorted(share, explained - 1e-12) + 1)
    return max(1, min(k, p - 1))


def control_limits(eigenvalues: np.ndarray, k: int, n: int, alpha: float) -> tuple[float, float]:
    """The reference T^2 and Q limits at ``alpha`` (formulas in the module docstring)."""
    t2 = np.inf  # too few rows for the F limit
    if n > k + 1:
        t2 = k * (n - 1) * (n + 1) / (n * (n - k)) * float(stats.f.ppf(1 - alpha, k, n - k))
    residual = np.clip(eigenvalues[k:], 0.0, None)
    theta1, theta2 = float(residual.sum()), float((residual**2).sum())
    if theta1 <= 1e-12 * max(1, len(eigenvalues)) or theta2 <= 0:
        return t2, 0.0 if len(residual) == 0 else 1e-12
    g, h = theta2 / theta1, theta1**2 / theta2
    return t2, g * float(stats.chi2.ppf(1 - alpha, h))


def fit_from_state(
    state: CovarianceState,
    features: tuple[str, ...],
    *,
    explained: float = DEFAULT_EXPLAINED,
    alpha: float = DEFAULT_ALPHA,
    scale_floor: np.ndarray | None = None,
) -> PcaMonitor:
    """A monitor from a folded :class:`CovarianceState` (at least 3 complete rows)."""
    p = len(features)
    if state.count < 3:
        raise ValueError(f"a PCA monitor needs at least 3 complete training rows, got {state.count}")
    if not 0 < explained <= 1:
        raise ValueError(f"explained is a share of the variance in (0, 1], got {explained}")
    std = np.sqrt(np.clip(np.diag(state.comoment), 0.0, None) / (state.count - 1))
    floor = np.zeros(p) if scale_floor is None else np.nan_to_num(np.asarray(scale_floor, dtype=float))
    tiny = 1e-9 * np.maximum(1.0, np.abs(state.mean))  # a sensor that never moved: do not divide by 0
    scale = np.maximum(np.maximum(std, floor), tiny)
    correlation = state.comoment / (state.count - 1) / np.outer(scale, scale)
    eigenvalues, vectors = np.linalg.eigh((correlation + correlation.T) / 2)
    order = np.argsort(eigenvalues)[::-1]
    eigenvalues, vectors = np.clip(eigenvalues[order], 0.0, None), vectors[:, order]
    k = n_components_for(eigenvalues, explained)
    # Retained eigenvalues must be positive to divide by; a degenerate plant keeps fewer components.
    k = max(1, min(k, int((eigenvalues > 1e-12 * max(1.0, float(eigenvalues[0]))).sum())))
    signs = np.where(vectors[np.abs(vectors).argmax(axis=0), np.arange(p)] < 0, -1.0, 1.0)
    loadings = (vectors * signs)[:, :k]  # a fixed sign per component: the same model from the same data
    t2_limit, q_limit = control_limits(eigenvalues, k, state.count, alpha)
    # in-sample residual variance of each feature: diag((I - P P^T) R (I - P P^T)) = sum_{a>k} lambda_a v_ja^2
    residual = np.sqrt(((vectors[:, k:] ** 2) * eigenvalues[k:]).sum(axis=1))
    return PcaMonitor(
        features=tuple(features),
        mean=state.mean.copy(),
        scale=scale,
        eigenvalues=eigenvalues,
        loadings=loadings,
        t2_limit=float(t2_limit),
        q_limit=float(q_limit),
        alpha=alpha,
        n_samples=state.count,
        residual_scale=np.maximum(residual, _MIN_RESIDUAL),
    )


def fit_pca(
    rows: np.ndarray,
    features: tuple[str, ...],
    *,
    explained: float = DEFAULT_EXPLAINED,
    alpha: float = DEFAULT_ALPHA,
    scale_floor: np.ndarray | None = None,
) -> PcaMonitor:
    """Fit on training ``rows`` (columns = ``features``; rows with an absent feature are left out)."""
    return fit_from_state(
        CovarianceState.of(np.asarray(rows, dtype=float)),
        features,
        explained=explained,
        alpha=alpha,
        scale_floor=scale_floor,
    )
