"""The 24-hour window as time buckets of per-sensor count, mean and sum of squared deviations.

Each bucket (``bucket_s`` seconds of reading time, 300 s by default) holds, per sensor, the
count ``n``, the mean and ``M2`` (the sum of squared deviations from the mean) of the values
learned in it. A batch of readings is folded into its buckets with Chan's parallel update, and
the window for a reading in bucket ``b`` is the ``n_buckets`` buckets ``b - n_buckets + 1 .. b``,
combined the same way. So learning is O(1) per reading and per sensor, nothing is recomputed
from the raw window, and a whole bucket expires at once at the 24-hour edge (the window is 24 h
rounded to the bucket size). Mean/M2 rather than sums of squares keep the variance exact for
large values with small spread (e.g. 350 degC +- 0.01).

The robust option centres on the median and scales by ``1.4826 x MAD`` (the normal-consistent
median absolute deviation) of the protected rows kept in the window (see ``store.py``); an outlier
or two in the window moves neither, where it can inflate a standard deviation enough to hide the
next upset.

>>> values = np.array([[1.0, 10.0], [3.0, np.nan], [5.0, 14.0]])
>>> stats = aggregate(values)
>>> stats[COUNT].tolist(), stats[MEAN].tolist(), stats[M2].tolist()
([3.0, 2.0], [3.0, 12.0], [8.0, 8.0])
>>> both = combine(np.stack([aggregate(values[:1]), aggregate(values[1:])]))
>>> np.allclose(both, stats)
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

COUNT, MEAN, M2 = 0, 1, 2
#: Consistency constant: 1.4826 x MAD estimates the standard deviation of normal data.
MAD_SCALE = 1.482602218505602
_STREAM_ID = re.compile(r"^(\d+)-(\d+)$")


def empty(n_sensors: int) -> np.ndarray:
    """A bucket with nothing learned: shape ``(3, n_sensors)`` of count, mean, M2."""
    state = np.zeros((3, n_sensors))
    return state


def aggregate(values: np.ndarray) -> np.ndarray:
    """Count, mean and M2 per column of ``values`` (rows = readings), ignoring NaN."""
    present = ~np.isnan(values)
    count = present.sum(axis=0).astype(float)
    safe = np.where(present, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, safe.sum(axis=0) / np.maximum(count, 1), 0.0)
    deviation = np.where(present, values - mean, 0.0)
    return np.stack([count, mean, (deviation * deviation).sum(axis=0)])


def merge(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Chan's parallel update: the statistics of the union of two disjoint sets of samples."""
    na, nb = a[COUNT], b[COUNT]
    total = na + nb
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = b[MEAN] - a[MEAN]
        share = np.where(total > 0, nb / np.where(total > 0, total, 1), 0.0)
        mean = a[MEAN] + delta * share
        m2 = a[M2] + b[M2] + delta * delta * na * share
    return np.stack([total, mean, m2])


def combine(buckets: np.ndarray) -> np.ndarray:
    """Statistics of a stack of buckets, shape ``(m, 3, n)`` -> ``(3, n)``."""
    if len(buckets) == 0:
        raise ValueError("combine needs at least one bucket")
    counts = buckets[:, COUNT]
    total = counts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(total > 0, (counts * buckets[:, MEAN]).sum(axis=0) / np.where(total > 0, total, 1), 0.0)
    spread = buckets[:, MEAN] - mean
    m2 = buckets[:, M2].sum(axis=0) + (counts * spread * spread).sum(axis=0)
    return np.stack([total, mean, m2])


def std_of(stats: np.ndarray) -> np.ndarray:
    """Sample standard deviation (``ddof=1``); NaN where fewer than two samples."""
    count = stats[COUNT]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= 2, np.sqrt(np.maximum(stats[M2], 0.0) / (count - 1)), np.nan)


def robust_centre_spread(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and ``1.4826 x MAD`` per column, ignoring NaN (NaN for an all-NaN column).

    >>> rows = np.array([[1.0], [2.0], [3.0], [4.0], [1000.0]])
    >>> centre, spread = robust_centre_spread(rows)
    >>> float(centre[0]), round(float(spread[0]), 4)
    (3.0, 1.4826)
    """
    if rows.size == 0:
        nan = np.full(rows.shape[1], np.nan)
        return nan, nan.copy()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: sensors never learned
        centre = np.nanmedian(rows, axis=0)
        mad = np.nanmedian(np.abs(rows - centre), axis=0)
    return centre.astype(float), (MAD_SCALE * mad).astype(float)


def stream_id_key(entry_id: str, fallback_ms: int) -> tuple[int, int]:
    """Order key of a stream entry id ``ms-seq``; other ids order by the reading time (ms, 0).

    >>> stream_id_key("1700000000000-3", 0), stream_id_key("route-7", 42)
    ((1700000000000, 3), (42, 0))
    """
    match = _STREAM_ID.match(entry_id)
    if match is None:
        return (fallback_ms, 0)
    return (int(match.group(1)), int(match.group(2)))


@dataclass
class WindowMirror:
    """This replica's copy of the shared window: buckets, last values, protected rows.

    It is updated from the results of this replica's own writes and refreshed from Redis
    periodically, so scoring needs no Redis read. Totals per current bucket are cached until a
    bucket changes.
    """

    n_sensors: int
    n_buckets: int
    buckets: dict[int, np.ndarray] = field(default_factory=dict)
    rows: dict[int, np.ndarray] = field(default_factory=dict)
    #: Per sensor: last value seen, time it last changed, time it was last present (NaN = never).
    last: np.ndarray = field(init=False)
    #: Per sensor: consecutive real updates at ``|z| >= threshold`` up to the last learned reading.
    #: Kept by this replica only (see ``tier.py``).
    streak: np.ndarray = field(init=False)
    #: The same for the IsolationForest's flag.
    ml_streak: int = 0
    cursor: tuple[int, int] | None = None
    learned: int = 0
    _totals: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.last = np.full((3, self.n_sensors), np.nan)
        self.streak = np.zeros(self.n_sensors, dtype=np.int64)

    def set_bucket(self, bucket: int, stats: np.ndarray) -> None:
        self.buckets[bucket] = stats
        self._totals.clear()

    def replace(self, buckets: dict[int, np.ndarray]) -> None:
        self.buckets = dict(buckets)
        self._totals.clear()

    def expire(self, newest_bucket: int) -> None:
        oldest = newest_bucket - self.n_buckets + 1
        for bucket in [b for b in self.buckets if b < oldest]:
            del self.buckets[bucket]
            self._totals.clear()
        for bucket in [b for b in self.rows if b < oldest]:
            del self.rows[bucket]

    def totals(self, bucket: int) -> np.ndarray:
        """Window statistics for a reading in ``bucket``: the ``n_buckets`` buckets ending there."""
        cached = self._totals.get(bucket)
        if cached is not None:
            return cached
        oldest = bucket - self.n_buckets + 1
        inside = [stats for b, stats in self.buckets.items() if oldest <= b <= bucket]
        result = combine(np.stack(inside)) if inside else empty(self.n_sensors)
        if len(self._totals) > 8:
            self._totals.clear()
        self._totals[bucket] = result
        return result

    def window_rows(self, bucket: int) -> np.ndarray:
        oldest = bucket - self.n_buckets + 1
        inside = [r for b, r in sorted(self.rows.items()) if oldest <= b <= bucket]
        if not inside:
            return np.empty((0, self.n_sensors), dtype=np.float32)
        return np.concatenate(inside)
