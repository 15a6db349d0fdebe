"""Tier 2's state: what the tier knows after folding the stream up to some entry.

Everything here is a pure function of the stream entries folded so far (in stream-id order), so
every replica that folds the same entries holds the same state, and the shared copy in Redis
(``analyzer/analysis/shared_state.py``) is just this object written down.

* ``buckets``: per time bucket of *stream-id time* (``bucket_s``, default 300 s), per sensor, the
  running count, mean and M2 of the values learned (``window.accumulate``) and the sensor's
  behaviour in the bucket (runs, smallest step, gaps): ``(BUCKET_ROWS, n)`` arrays. Entries are
  folded in id order, so once an entry of bucket ``b`` exists every bucket before ``b`` is final:
  a reading in bucket ``b`` is scored against the window's buckets *before* ``b`` only, which is
  why a verdict does not depend on how the stream was cut into batches or shared among workers.
* ``rows``: the protected readings per bucket (float32), for training the multivariate models
  and for the robust median/MAD.
* ``sensors``: per-sensor arrays carried from reading to reading (last value, when it last
  changed, when it was last sampled, the frozen baseline of a sensor in alarm, ...).
* ``learned`` / ``next_training`` / ``model`` / ``pca``: the IsolationForest and the PCA monitor
  (trained together on the same rows) and when they are retrained:
  at fixed counts of learned rows, so when a model changes is part of the fold too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analyzer.tiers.statistical.forest import ForestModel
from analyzer.tiers.statistical.monitor import PcaModel
from analyzer.tiers.statistical.window import bucket_stats, combine, empty

#: Per-sensor arrays carried from reading to reading (NaN = unknown / not set).
SENSOR_FIELDS = (
    "last_value",  # last sampled value
    "changed_at",  # reading time the value last changed
    "seen_at",  # reading time the sensor was last sampled
    "frozen_centre",  # baseline kept while the sensor is in alarm (NaN = not frozen)
    "frozen_spread",
    "frozen_count",
    "run_start",  # reading time of the first sample of the current unchanged run
    "run_samples",  # samples in the current unchanged run
    "run_flag",  # 1 when a sample of the current run was protected or stuck (not a baseline run)
    "sampled_at",  # reading time of the last real sample (gaps between samples: the update interval)
    "baseline_from",  # first bucket of the sensor's baseline after an operator accepted a new operating point
)
#: Rows of a bucket array: Welford's count, mean offset, M2 and reference of the learned values, then
#: the sensor's behaviour in the bucket: the longest unchanged run (seconds, samples) that ended in it
#: outside any alarm, the smallest step between consecutive samples, and the gaps between samples
#: (sum in whole milliseconds, so sums are exact in any grouping, and count).
RUN_S, RUN_N, STEP, GAP_SUM_MS, GAP_N = 4, 5, 6, 7, 8
BUCKET_ROWS = 9


@dataclass(frozen=True, slots=True)
class Baseline:
    """A sensor-wise baseline: count, centre, spread and standard deviation (each ``(n,)``), and the
    sensor's behaviour over the window: longest unchanged run outside alarms (seconds, samples),
    resolution (smallest step, NaN before one) and update interval (median gap, NaN before one)."""

    count: np.ndarray
    centre: np.ndarray
    spread: np.ndarray
    std: np.ndarray
    longest_run_s: np.ndarray
    longest_run_n: np.ndarray
    resolution: np.ndarray
    interval: np.ndarray
    #: Seconds from the sensor's oldest learned sample in the window to the baseline's bucket.
    span_s: np.ndarray


@dataclass
class Tier2State:
    n_sensors: int
    n_buckets: int
    buckets: dict[int, np.ndarray] = field(default_factory=dict)
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    sensors: dict[str, np.ndarray] = field(default_factory=dict)
    learned: int = 0
    next_training: int = 0
    #: Stream-id time (epoch s) of the last training, for the time-based retraining rule.
    trained_at: float = 0.0
    model: ForestModel | None = None
    #: The PCA monitor trained with ``model`` on the same rows (``None``: too few rows or features).
    pca: PcaModel | None = None
    #: A model version this catalogue cannot use (its features are missing here), if any.
    refused_version: str | None = None
    #: Baselines by bucket; valid for good because the buckets before a bucket never change.
    baselines: dict[tuple[object, ...], Baseline] = field(default_factory=dict, repr=False)
    #: Count, mean and M2 of buckets that are final (before the newest), by bucket.
    finals: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for name in SENSOR_FIELDS:
            self.sensors.setdefault(name, np.full(self.n_sensors, np.nan))

    @property
    def newest(self) -> int | None:
        return max(self.buckets, default=None)

    def copy(self) -> Tier2State:
        """A state to fold into without touching this one (buckets and rows are replaced, not mutated)."""
        return Tier2State(
            n_sensors=self.n_sensors,
            n_buckets=self.n_buckets,
            buckets=dict(self.buckets),
            rows=dict(self.rows),
            sensors={k: v.copy() for k, v in self.sensors.items()},
            learned=self.learned,
            next_training=self.next_training,
            trained_at=self.trained_at,
            model=self.model,
            pca=self.pca,
            refused_version=self.refused_version,
            baselines=self.baselines,
            finals=self.finals,
        )

    def window_totals(self, bucket: int) -> np.ndarray:
        """Statistics of the window's buckets *before* ``bucket`` (``(3, n)``)."""
        oldest = bucket - self.n_buckets
        inside = [self._final(b, stats) for b, stats in sorted(self.buckets.items()) if oldest <= b < bucket]
        return combine(np.stack(inside)) if inside else empty(self.n_sensors)

    def _final(self, bucket: int, stats: np.ndarray) -> np.ndarray:
        """A bucket's count, mean and M2; remembered once no reading can be added to it any more."""
        known = self.finals.get(bucket)
        if known is not None:
            return known
        absolute = bucket_stats(stats)
        newest = self.newest
        if newest is not None and bucket < newest:
            self.finals[bucket] = absolute
        return absolute

    def window_buckets(self, bucket: int) -> np.ndarray:
        """The raw bucket arrays of the window before ``bucket``, ``(m, BUCKET_ROWS, n)``."""
        oldest = bucket - self.n_buckets
        inside = [stats for b, stats in sorted(self.buckets.items()) if oldest <= b < bucket]
        if not inside:
            return np.empty((0, BUCKET_ROWS, self.n_sensors))
        return np.stack(inside)

    def window_rows(self, bucket: int) -> np.ndarray:
        oldest = bucket - self.n_buckets
        inside = [r for b, r in sorted(self.rows.items()) if oldest <= b < bucket]
        if not inside:
            return np.empty((0, self.n_sensors), dtype=np.float32)
        return np.concatenate(inside)

    def expire(self) -> None:
        """Forget buckets older than the window of the newest bucket."""
        newest = self.newest
        if newest is None:
            return
        oldest = newest - self.n_buckets
        self.buckets = {b: s for b, s in self.buckets.items() if b >= oldest}
        self.rows = {b: r for b, r in self.rows.items() if b >= oldest}
        self.finals = {b: s for b, s in self.finals.items() if b >= oldest}
        if len(self.baselines) > 16:
            self.baselines = {k: v for k, v in self.baselines.items() if int(k[0]) >= newest - 4}  # type: ignore[call-overload]
