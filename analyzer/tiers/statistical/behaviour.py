"""Each sensor's own behaviour, learned from its samples: update interval, resolution, unchanged runs,
lag-1 autocorrelation, and the threshold widening a young window needs. Vectorised over sensors.

A catalogue flag (10 s or hourly) cannot describe a real plant: an analyser reports every 6
minutes, a valve position holds for hours, a temperature is quantised to 0.1 K. Tier 2 learns it:

``sample_interval``
    median time between consecutive present samples;
``update_interval``
    median time between consecutive *changes* (a laboratory value repeated in every payload
    updates hourly even though it is present every 10 s);
``resolution``
    the smallest step between two consecutive different values, ignoring float noise (steps below
    ``rel_tol`` (1e-6, float32 round trips) of the values' magnitude): a spread floor for a sensor
    without limits;
``longest_run_s``, ``longest_run_samples``
    the longest time and the most samples the sensor held one value: a stuck rule relative to its
    own habit (:func:`stuck_limits`);
``lag1``
    lag-1 autocorrelation of consecutive samples, for :func:`effective_samples`.

State
-----
:class:`BehaviourState` is a few arrays per sensor: the last sample, the current run, counters,
two log-spaced histograms of gaps (count and sum per bin) and the co-moments of consecutive
pairs. :meth:`BehaviourState.fold` takes a batch of rows in stream order (``times``, ``values``
with NaN = absent) and returns the next state: pure, no loop over rows; folding batch after batch
equals folding them at once. The state is cumulative (the longest runs are the longest seen): to
let a past fault expire, keep one state per window bucket for the run maxima
(:meth:`BehaviourState.with_runs_reset` at a bucket's start) and take the maximum over the
window's buckets, or fold only baseline (protected) periods into the longest runs.

Young windows
-------------
A sensor is scored once it has :data:`MIN_SAMPLES` samples (10), with its threshold widened by
:func:`young_window_factor`: the Student-t prediction interval for a new sample when the mean and
spread come from ``n`` samples, so the false-alarm rate of a young window matches that of a mature
one instead of the sensor staying silent. Autocorrelated samples carry less information than
their count: pass :func:`effective_samples` instead of the raw count.

>>> times = np.arange(8.0) * 60.0
>>> values = np.array([[1.0, 5.0], [1.0, 5.1], [1.0, 5.2], [1.5, 5.3], [1.5, 5.2], [1.5, 5.1], [1.5, 5.2], [2.0, 5.3]])
>>> state = BehaviourState.empty(2).fold(times, values)
>>> state.sample_interval().tolist(), state.update_interval().tolist()
([60.0, 60.0], [240.0, 60.0])
>>> state.resolution.round(6).tolist(), state.longest_run_samples.tolist(), state.longest_run_s.tolist()
([0.5, 0.1], [4, 1], [180.0, 0.0])
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

#: Fewest samples before a sensor is scored (with a widened threshold, :func:`young_window_factor`).
MIN_SAMPLES = 10
#: Gap histograms: geometric bins from 10 ms to about 116 days, 5 % wide.
_GAP_LOW, _GAP_RATIO, _GAP_BINS = 0.01, 1.05, 425
_EDGES = _GAP_LOW * _GAP_RATIO ** np.arange(_GAP_BINS + 1)


def _forward_fill(values: np.ndarray, mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Per column, the last ``values`` where ``mask`` at or before each row (``seed`` before any)."""
    n_rows = len(values)
    extended = np.vstack([seed[None, :], values])
    marks = np.vstack([np.ones((1, values.shape[1]), dtype=bool), mask])
    at = np.maximum.accumulate(np.where(marks, np.arange(n_rows + 1)[:, None], 0), axis=0)
    return np.take_along_axis(extended, at[1:], axis=0)


def _histogram(gaps: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per column and bin: the count of gaps and their sum, shape ``(2, columns, bins)``."""
    safe = np.where(valid, gaps, 1.0)
    slot = np.clip(np.searchsorted(_EDGES, safe, side="right") - 1, 0, _GAP_BINS - 1)
    histogram = np.zeros((2, gaps.shape[1], _GAP_BINS))
    for column in range(gaps.shape[1]):
        chosen = valid[:, column]
        histogram[0, column] = np.bincount(slot[chosen, column], minlength=_GAP_BINS)
        histogram[1, column] = np.bincount(slot[chosen, column], weights=safe[chosen, column], minlength=_GAP_BINS)
    return histogram


def _median_gap(histogram: np.ndarray) -> np.ndarray:
    """The mean gap in the bin holding the median (exact for regular sampling; within the bin's
    5 % otherwise); NaN for a sensor without gaps."""
    counts, sums = histogram
    n = counts.sum(axis=1)
    slot = np.minimum((np.cumsum(counts, axis=1) < (n[:, None] + 1) / 2).sum(axis=1), _GAP_BINS - 1)
    rows = np.arange(len(n))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, sums[rows, slot] / counts[rows, slot], np.nan)


@dataclass(frozen=True)
class BehaviourState:
    """Per sensor (arrays of length ``n_sensors``, histograms ``n_sensors x bins``)."""

    last_value: np.ndarray
    last_time: np.ndarray
    #: Time and sample count of the current run of one value (started at the last change).
    run_start: np.ndarray
    run_samples: np.ndarray
    longest_run_s: np.ndarray
    longest_run_samples: np.ndarray
    last_change: np.ndarray
    resolution: np.ndarray
    samples: np.ndarray
    #: Gaps between samples and between changes: per sensor and log-spaced bin, count and sum.
    gaps: np.ndarray  # (2, n_sensors, bins)
    change_gaps: np.ndarray
    #: Co-moments of consecutive pairs (previous, current): count, means, M2s, cross moment.
    pairs: np.ndarray  # (6, n_sensors)

    @classmethod
    def empty(cls, n_sensors: int) -> BehaviourState:
        nan = np.full(n_sensors, np.nan)
        zeros = np.zeros(n_sensors)
        return cls(
            last_value=nan.copy(),
            last_time=nan.copy(),
            run_start=nan.copy(),
            run_samples=np.zeros(n_sensors, dtype=np.int64),
            longest_run_s=zeros.copy(),
            longest_run_samples=np.zeros(n_sensors, dtype=np.int64),
            last_change=nan.copy(),
            resolution=np.full(n_sensors, np.inf),
            samples=np.zeros(n_sensors, dtype=np.int64),
            gaps=np.zeros((2, n_sensors, _GAP_BINS)),
            change_gaps=np.zeros((2, n_sensors, _GAP_BINS)),
            pairs=np.zeros((6, n_sensors)),
        )

    def fold(self, times: np.ndarray, values: np.ndarray, *, rel_tol: float = 1e-6) -> BehaviourState:
        """The state after the rows ``values`` (rows x sensors, NaN = absent) at ``times`` (stream order)."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        n_rows, n = values.shape
        if n_rows == 0:
            return self
        present = ~np.isnan(values)
        when = np.broadcast_to(np.asarray(times, dtype=float)[:, None], (n_rows, n))
        before = _forward_fill(values, present, self.last_value)  # last value at or before each row
        previous = np.vstack([self.last_value[None, :], before[:-1]])
        previous_time = np.vstack([self.last_time[None, :], _forward_fill(when, present, self.last_time)[:-1]])
        has_previous = present & ~np.isnan(previous)
        with np.errstate(invalid="ignore"):
            changed = has_previous & (values != previous)
            starts = present & (np.isnan(previous) | changed)  # a first sample starts a run too
        # Runs: time and samples since the last start, seeded with the run in progress.
        run_start = _forward_fill(when, starts, self.run_start)
        counted = np.cumsum(present, axis=0)  # present samples so far in the batch, this one included
        # samples in the run = counted - (counted just before the run's first sample); before any
        # start in the batch the run in progress continues, with self.run_samples already counted
        at_start = _forward_fill(counted - 1, starts, -self.run_samples.astype(float))
        run_samples = np.where(present, counted - at_start, 0).astype(np.int64)
        run_s = np.where(present, when - run_start, 0.0)
        # Gaps between samples and between changes.
        sample_gaps = when - previous_time
        change_before = np.vstack([self.last_change[None, :], _forward_fill(when, changed, self.last_change)[:-1]])
        change_gaps = when - change_before
        # Resolution: the smallest step above float noise.
        with np.errstate(invalid="ignore"):
            step = np.abs(values - previous)
            noise = rel_tol * np.maximum(np.abs(values), np.abs(previous))
            real_step = changed & (step > noise)
        smallest = np.where(real_step, step, np.inf).min(axis=0)
        last_seen = present.any(axis=0)
        last_row = np.where(last_seen, n_rows - 1 - np.argmax(present[::-1], axis=0), 0)
        columns = np.arange(n)
        return BehaviourState(
            last_value=np.where(last_seen, before[-1], self.last_value),
            last_time=np.where(last_seen, when[last_row, columns], self.last_time),
            run_start=np.where(last_seen, run_start[-1], self.run_start),
            run_samples=np.where(last_seen, run_samples[last_row, columns], self.run_samples).astype(np.int64),
            longest_run_s=np.maximum(self.longest_run_s, run_s.max(axis=0)),
            longest_run_samples=np.maximum(self.longest_run_samples, run_samples.max(axis=0)).astype(np.int64),
            last_change=_forward_fill(when, changed, self.last_change)[-1],
            resolution=np.minimum(self.resolution, smallest),
            samples=self.samples + present.sum(axis=0),
            gaps=self.gaps + _histogram(sample_gaps, present & ~np.isnan(sample_gaps)),
            change_gaps=self.change_gaps + _histogram(change_gaps, changed & ~np.isnan(change_gaps)),
            pairs=_merge_pairs(self.pairs, _pair_moments(previous, values, has_previous)),
        )

    def sample_interval(self) -> np.ndarray:
        """Median time between present samples, seconds (NaN before two samples)."""
        return _median_gap(self.gaps)

    def update_interval(self) -> np.ndarray:
        """Median time between changes of value, seconds (NaN before two changes)."""
        return _median_gap(self.change_gaps)

    def lag1(self) -> np.ndarray:
        """Lag-1 autocorrelation of consecutive samples (NaN before three pairs or without spread)."""
        count, _, _, m2_prev, m2_cur, cross = self.pairs
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = cross / np.sqrt(m2_prev * m2_cur)
        return np.where((count >= 3) & (m2_prev > 0) & (m2_cur > 0), rho, np.nan)

    def with_runs_reset(self) -> BehaviourState:
        """The same state with the longest runs forgotten (start of a new window bucket)."""
        n = len(self.last_value)
        return replace(self, longest_run_s=np.zeros(n), longest_run_samples=np.zeros(n, dtype=np.int64))


def _pair_moments(previous: np.ndarray, current: np.ndarray, valid: np.ndarray) -> np.ndarray:
    count = valid.sum(axis=0).astype(float)
    safe_count = np.maximum(count, 1)
    a, b = np.where(valid, previous, 0.0), np.where(valid, current, 0.0)
    mean_a, mean_b = a.sum(axis=0) / safe_count, b.sum(axis=0) / safe_count
    da, db = np.where(valid, previous - mean_a, 0.0), np.where(valid, current - mean_b, 0.0)
    return np.stack([count, mean_a, mean_b, (da * da).sum(axis=0), (db * db).sum(axis=0), (da * db).sum(axis=0)])


def _merge_pairs(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Chan's update of the pair co-moments (as ``window.merge``, with a cross term)."""
    nx, ny = x[0], y[0]
    total = nx + ny
    share = np.where(total > 0, ny / np.where(total > 0, total, 1), 0.0)
    da, db = y[1] - x[1], y[2] - x[2]
    weight = nx * share
    return np.stack(
        [
            total,
            x[1] + da * share,
            x[2] + db * share,
            x[3] + y[3] + da * da * weight,
            x[4] + y[4] + db * db * weight,
            x[5] + y[5] + da * db * weight,
        ]
    )


def effective_samples(n: np.ndarray | float, lag1: np.ndarray | float) -> np.ndarray:
    """Independent-sample equivalent of ``n`` samples with lag-1 autocorrelation ``lag1`` (AR(1)):
    ``n (1 - rho) / (1 + rho)``, ``rho`` clipped to ``[0, 0.99]``; unknown ``rho`` (NaN) counts as 0.

    >>> effective_samples(100, 0.9).round(2).tolist(), effective_samples(100, np.nan).tolist()
    (5.26, 100.0)
    """
    rho = np.clip(np.nan_to_num(np.asarray(lag1, dtype=float), nan=0.0), 0.0, 0.99)
    return np.asarray(n, dtype=float) * (1 - rho) / (1 + rho)


def young_window_factor(n: np.ndarray | float, z_threshold: float, *, min_samples: int = MIN_SAMPLES) -> np.ndarray:
    """How much to widen a ``|z|`` threshold when the centre and spread come from ``n`` samples.

    For Gaussian samples, ``(x - mean_n) / (s_n sqrt(1 + 1/n))`` of a new sample follows Student's
    t with ``n - 1`` degrees of freedom. The factor is ``t(1 - a/2; n - 1) sqrt(1 + 1/n) / z`` with
    ``a = 2 (1 - Phi(z))``: the two-sided rate of ``|z| >= z_threshold`` under a known mean and
    spread, kept for the young window. It tends to 1 as ``n`` grows; below ``min_samples`` it is
    ``inf`` (not scored yet). ``n`` may be fractional (:func:`effective_samples`).

    >>> young_window_factor(np.array([5, 10, 30, 100, 1000]), 3.5).round(2).tolist()
    [inf, 1.6, 1.15, 1.04, 1.0]
    """
    n = np.asarray(n, dtype=float)
    rate = 2 * stats.norm.sf(z_threshold)
    dof = np.maximum(n - 1, 1.0)
    factor = stats.t.isf(rate / 2, dof) * np.sqrt(1 + 1 / np.maximum(n, 1.0)) / z_threshold
    return np.where(n >= min_samples, factor, np.inf)


def stuck_limits(state: BehaviourState, *, factor: float = 2.0, min_samples: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Per sensor: unchanged for longer than this (seconds) *and* this many samples is stuck.

    ``factor`` times the longest run the sensor showed in its baseline, at least ``min_samples``
    samples (and that many sample intervals): a sensor that naturally holds its value for hours is
    not stuck after three minutes, and a noisy one that never repeats is stuck after a few.

    >>> s = BehaviourState.empty(1).fold(np.arange(6.0) * 10, np.array([[1.0], [1.0], [1.0], [2.0], [3.0], [4.0]]))
    >>> [x.tolist() for x in stuck_limits(s)]
    [[50.0], [6]]
    """
    interval = np.nan_to_num(state.sample_interval(), nan=0.0)
    seconds = np.maximum(factor * state.longest_run_s, min_samples * interval)
    samples = np.maximum(np.ceil(factor * state.longest_run_samples), min_samples).astype(np.int64)
    return seconds, samples
