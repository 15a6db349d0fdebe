"""Detector thresholds calibrated on the training rows to a target false-alarm rate.

Every tier 2 detector gives a score where higher is more unusual: the forest's raw or calibrated
score, T^2, Q, a sensor's |z|. Instead of a fixed constant, each threshold is the score that the
training rows themselves exceed at most at the configured rate ``target`` (e.g. 0.001 per row).

The quantile, finite-sample correct
-----------------------------------
With ``n`` training scores sorted ``s_(1) <= ... <= s_(n)``, the threshold is the order statistic
``s_(r)`` with ``r = ceil((n + 1)(1 - target))``, and a row is flagged when its score is *above*
it. If a new row's score is exchangeable with the training scores (same process, no drift), the
chance that it exceeds ``s_(r)`` is at most ``(n + 1 - r) / (n + 1) <= target``, whatever the
scores' distribution: this is the conformal-prediction quantile. ``np.quantile`` with its default
interpolation does not give that guarantee for small ``n``. When ``r > n`` (fewer than
``1 / target - 1`` rows) no training score can certify the target; the threshold is then
``+inf`` and :attr:`Threshold.certified` is false: the caller falls back to a parametric
threshold (a Student-t factor, :mod:`.behaviour`, or the PCA limits) rather than flag on a guess.

Two honest caveats, for whoever sets ``target``: process rows are autocorrelated, so the rate holds
on average over a long run but alarms come in clumps; and a detector confirmed only after ``m``
consecutive exceedances alarms far less often than ``target`` per row.

Incremental form
----------------
:class:`ExceedanceCounts` keeps, per detector column (e.g. per sensor), the counts of scores in
fixed geometric bins: adding batches, merging replicas' counts and expiring a bucket's counts are
additions and subtractions, so the same counts come out in any order. The threshold from the
counts is the upper edge of the bin holding ``s_(r)``: never below the exact one, so the
false-alarm guarantee holds, and at most one bin width (``ratio``, 2 % by default) above it.

>>> rng = np.random.default_rng(0)
>>> training = np.abs(rng.standard_normal(99_999))
>>> limit = threshold(training, 0.001)
>>> limit.certified, limit.rank, round(limit.value, 2)
(True, 99900, 3.28)
>>> threshold(training[:500], 0.001).certified  # 500 rows cannot certify one in a thousand
False
>>> fresh = np.abs(rng.standard_normal(1_000_000))
>>> bool((fresh > limit.value).mean() <= 0.0011)
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Threshold:
    """A calibrated threshold: flag scores strictly above ``value``."""

    value: float
    #: Order statistic used (1-based), ``ceil((n + 1)(1 - target))``.
    rank: int
    n: int
    target: float

    @property
    def certified(self) -> bool:
        """Whether ``n`` training scores were enough to certify ``target``."""
        return self.rank <= self.n


def rank_for(n: int, target: float) -> int:
    """``ceil((n + 1)(1 - target))``: the order statistic that certifies ``target`` (see the module).

    >>> rank_for(999, 0.001), rank_for(99, 0.05), rank_for(10, 0.001)
    (999, 95, 11)
    """
    if not 0 < target < 1:
        raise ValueError(f"the target false-alarm rate is a share in (0, 1), got {target}")
    # the small tolerance keeps exact products (999 + 1) * 0.999 from rounding up to 1000
    return max(1, math.ceil((n + 1) * (1 - target) - 1e-9))


def min_rows(target: float) -> int:
    """The fewest training rows that can certify ``target``.

    >>> min_rows(0.001), min_rows(0.01)
    (999, 99)
    """
    return math.ceil(1 / target - 1 - 1e-9)


def threshold(scores: np.ndarray, target: float) -> Threshold:
    """The calibrated threshold of one detector from its training ``scores`` (NaN ignored)."""
    finite = np.asarray(scores, dtype=float)
    finite = finite[np.isfinite(finite)]
    rank = rank_for(len(finite), target)
    if rank > len(finite):
        return Threshold(math.inf, rank, len(finite), target)
    return Threshold(float(np.partition(finite, rank - 1)[rank - 1]), rank, len(finite), target)


def thresholds(scores: np.ndarray, target: float) -> np.ndarray:
    """Per column of ``scores`` (rows = training rows, e.g. one column per sensor's |z|), vectorised.

    NaN cells (a sensor absent or not scored) are left out of that column's count; a column that
    cannot certify ``target`` gets ``+inf``.

    >>> z = np.array([[0.5, 1.0], [2.0, np.nan], [1.0, 3.0], [4.0, 0.2]])
    >>> thresholds(z, 0.2).tolist()
    [4.0, inf]
    """
    ordered = np.sort(np.where(np.isfinite(scores), scores, np.nan), axis=0)  # NaN sort last
    n = np.isfinite(ordered).sum(axis=0)
    rank = np.ceil((n + 1) * (1 - target) - 1e-9).astype(np.int64)
    rank = np.maximum(rank, 1)
    picked = np.take_along_axis(ordered, np.clip(rank - 1, 0, max(len(ordered) - 1, 0))[None, :], axis=0)[0]
    return np.where(rank <= n, picked, np.inf)


def gaussian_threshold(target: float, tests: int = 1) -> float:
    """``|z|`` threshold with two-sided rate ``target`` over ``tests`` Gaussian scores (Bonferroni).

    The parametric fallback when the training rows cannot certify ``target`` (rates of one per
    week at 10-second rows need 60,000 of them), e.g. for ``max_j |residual_z_j|`` of a PCA monitor
    over ``p`` sensors, or a young sensor's |z| (with :func:`~.behaviour.young_window_factor`).

    >>> round(gaussian_threshold(0.0027), 2), round(gaussian_threshold(1e-5, tests=85), 2)
    (3.0, 5.3)
    """
    return float(stats.norm.isf(target / (2 * tests)))


def scaled_chi2_threshold(scores: np.ndarray, target: float) -> float:
    """A threshold for a sum of squares (Q, T^2) at any rate: ``g chi2(1 - target; h)`` with ``g``
    and ``h`` matched to the mean and variance of ``scores`` (Nomikos and MacGregor's rule for Q).

    Use it on scores of rows the model was not fitted on; it extrapolates the tail by a
    distribution, where :func:`threshold` only reads it off the data. Two moments do not fix the
    far tail: when one residual direction dominates Q, the real rate at 1e-4 can be about three
    times ``target``; pick ``target`` with that margin (the persistence rule then thins it).

    >>> rng = np.random.default_rng(0)
    >>> q = (rng.standard_normal((20_000, 6)) ** 2).sum(axis=1)
    >>> round(scaled_chi2_threshold(q, 1e-4), 1), round(float(stats.chi2.isf(1e-4, 6)), 1)
    (28.2, 27.9)
    """
    finite = np.asarray(scores, dtype=float)
    finite = finite[np.isfinite(finite)]
    if len(finite) < 3:
        return math.inf
    mean, variance = float(finite.mean()), float(finite.var(ddof=1))
    if mean <= 0 or variance <= 0:
        return float(finite.max()) if len(finite) else math.inf
    g, h = variance / (2 * mean), 2 * mean * mean / variance
    return g * float(stats.chi2.isf(target, h))


@dataclass(frozen=True)
class ExceedanceCounts:
    """Per column, counts of scores in geometric bins ``edges[i] <= s < edges[i+1]``; the state is
    ``counts`` (columns x bins + 2: below the first edge, the bins, at or above the last edge).

    >>> counts = ExceedanceCounts.empty(2, low=0.1, high=100.0).add(np.array([[0.5, 1.0], [2.0, np.nan]]))
    >>> counts.n.tolist()
    [2, 1]
    >>> bins = ExceedanceCounts.empty(1, low=0.1, high=100.0)
    >>> rng = np.random.default_rng(1)
    >>> scores = np.abs(rng.standard_normal((50_000, 1)))
    >>> approx = float(bins.add(scores).thresholds(0.001)[0])
    >>> exact = float(thresholds(scores, 0.001)[0])
    >>> exact <= approx <= exact * 1.02
    True
    """

    edges: np.ndarray
    counts: np.ndarray

    @classmethod
    def empty(cls, n_columns: int, *, low: float = 0.01, high: float = 1e6, ratio: float = 1.02) -> ExceedanceCounts:
        n_edges = int(np.ceil(np.log(high / low) / np.log(ratio))) + 1
        edges = low * ratio ** np.arange(n_edges)
        return cls(edges, np.zeros((n_columns, n_edges + 1), dtype=np.int64))

    @property
    def n(self) -> np.ndarray:
        return self.counts.sum(axis=1)

    def _binned(self, scores: np.ndarray) -> np.ndarray:
        scores = np.atleast_2d(scores)
        binned = np.zeros_like(self.counts)
        slot = np.searchsorted(self.edges, scores, side="right")  # 0 = below the first edge
        for column in range(scores.shape[1]):
            seen = np.isfinite(scores[:, column])
            binned[column] = np.bincount(slot[seen, column], minlength=self.counts.shape[1])
        return binned

    def add(self, scores: np.ndarray) -> ExceedanceCounts:
        """Counts with a batch of rows added (columns as ``counts``; NaN left out)."""
        return ExceedanceCounts(self.edges, self.counts + self._binned(scores))

    def remove(self, scores: np.ndarray) -> ExceedanceCounts:
        """Counts with a batch taken out again (a bucket expiring from the window)."""
        return ExceedanceCounts(self.edges, self.counts - self._binned(scores))

    def merge(self, other: ExceedanceCounts) -> ExceedanceCounts:
        return ExceedanceCounts(self.edges, self.counts + other.counts)

    def thresholds(self, target: float) -> np.ndarray:
        """Per column: the upper edge of the bin holding the certifying order statistic (``inf``
        when the column cannot certify ``target`` or that statistic is beyond the last edge)."""
        n = self.n
        rank = np.maximum(np.ceil((n + 1) * (1 - target) - 1e-9).astype(np.int64), 1)
        cumulative = np.cumsum(self.counts, axis=1)
        slot = (cumulative < rank[:, None]).sum(axis=1)  # the bin where the rank-th score lies
        upper = np.r_[self.edges, np.inf][np.minimum(slot, len(self.edges))]
        return np.where(rank <= n, upper, np.inf)
