"""The 24-hour window as time buckets of per-sensor count, mean and sum of squared deviations.

Each bucket (``bucket_s`` seconds of stream-id time, 300 s by default) holds, per sensor, the
count ``n``, the mean and ``M2`` (the sum of squared deviations from the mean) of the values
learned in it. A batch of readings is folded into its buckets with Chan's parallel update, and
buckets are combined the same way. So learning is O(1) per reading and per sensor, nothing is recomputed
from the raw window, and a whole bucket expires at once at the 24-hour edge (the window is 24 h
rounded to the bucket size). Mean/M2 rather than sums of squares keep the variance exact for
large values with small spread (e.g. 350 degC +- 0.01).

The robust option centres on the median and scales by ``1.4826 x MAD`` (the normal-consistent
median absolute deviation) of the protected rows kept in the window (see ``state.py``); an outlier
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

import numpy as np

COUNT, MEAN, M2 = 0, 1, 2
#: Consistency constant: 1.4826 x MAD estimates the standard deviation of normal data.
MAD_SCALE = 1.482602218505602


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


def accumulate(bucket: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """A bucket's running statistics with ``rows`` added, one reading at a time (NaN = absent).

    The bucket is ``(4, n)``: count, mean *offset*, M2 and a reference (the first value learned,
    per sensor); the mean is ``reference + offset``. Adding readings one by one in stream order
    makes the result the same bit for bit however the readings were grouped (a worker taking 1 entry
    or 64), and keeping the mean as a small offset from a value of the same size keeps Welford's
    update exact to the last digits even for 1e6 +- 1e-3 (:func:`bucket_stats` gives count, mean, M2).

    >>> values = np.array([[1.0, 10.0], [3.0, np.nan], [5.0, 14.0]])
    >>> np.allclose(bucket_stats(accumulate(None, values)), aggregate(values))
    True
    """
    n = rows.shape[1]
    if bucket is None:
        bucket = np.zeros((4, n))
        bucket[3] = np.nan
    count, offset, m2, ref = (bucket[i].copy() for i in range(4))
    for row in rows:
        present = ~np.isnan(row)
        if not present.any():
            continue
        ref = np.where(np.isnan(ref) & present, row, ref)
        x = np.where(present, row - ref, 0.0)  # exact for values close to the reference (Sterbenz)
        count = count + present
        delta = np.where(present, x - offset, 0.0)
        offset = offset + np.where(present, delta / np.maximum(count, 1), 0.0)
        m2 = m2 + np.where(present, delta * (x - offset), 0.0)
    return np.stack([count, offset, m2, ref])


def bucket_stats(bucket: np.ndarray) -> np.ndarray:
    """Count, mean and M2 of a bucket kept by :func:`accumulate`."""
    mean = np.where(bucket[COUNT] > 0, np.nan_to_num(bucket[3]) + bucket[1], 0.0)
    return np.stack([bucket[COUNT], mean, bucket[M2]])


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
