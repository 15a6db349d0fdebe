"""One sensor's readings over a time range, downsampled so a chart gets a bounded number of
points and a spike survives (each point keeps the bucket's min and max).

Inside the 24 h window the readings come from the stream; the scan starts at the entry id of the
range's start (entry ids are landing times in ms) and stops once both the landing time and the
reading time have passed the range's end plus the allowed landing lag, so a live query reads
little more than its range while a backfill (landed late, in reading-time order) is still found.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import cast

import numpy as np
import orjson
from redis.asyncio import Redis

from analyzer.keys import PAYLOAD_FIELD, RedisKeys
from analyzer.store._paging import to_micros

#: Entries fetched per XRANGE call.
CHUNK = 1000


@dataclass(frozen=True)
class Buckets:
    """Downsampled readings: per bucket its bounds (µs), min, max, mean and count."""

    start_us: np.ndarray
    end_us: np.ndarray
    low: np.ndarray
    high: np.ndarray
    mean: np.ndarray
    count: np.ndarray


def downsample(times_us: np.ndarray, values: np.ndarray, start_us: int, end_us: int, points: int) -> Buckets:
    """Readings in ``[start_us, end_us)`` into at most ``points`` equal-width buckets, vectorised
    (one sort, one ``searchsorted`` and ``reduceat`` per statistic). Empty buckets are left out;
    with no more readings than ``points``, each reading is its own bucket.

    >>> t = np.arange(0, 100, 1.0) * 1e6               # 100 readings, 1 s apart
    >>> v = np.full(100, 10.0); v[57] = 99.0            # one spike
    >>> b = downsample(t.astype(np.int64), v, 0, 100_000_000, 10)
    >>> b.count.tolist()
    [10, 10, 10, 10, 10, 10, 10, 10, 10, 10]
    >>> b.high.tolist()[5], b.low.tolist()[5], round(float(b.mean[5]), 1)
    (99.0, 10.0, 18.9)
    """
    order = np.argsort(times_us, kind="stable")
    times_us, values = times_us[order], values[order]
    keep = (times_us >= start_us) & (times_us < end_us) & np.isfinite(values)
    times_us, values = times_us[keep], values[keep]
    if len(times_us) <= points:
        return Buckets(times_us, times_us, values, values, values, np.ones(len(values), dtype=np.int64))
    width = (end_us - start_us) / points
    index = np.minimum(((times_us - start_us) // width).astype(np.int64), points - 1)
    firsts = np.flatnonzero(np.r_[True, index[1:] != index[:-1]])
    counts = np.diff(np.r_[firsts, len(values)])
    bucket = index[firsts]
    return Buckets(
        start_us=(start_us + bucket * width).astype(np.int64),
        end_us=(start_us + (bucket + 1) * width).astype(np.int64),
        low=np.minimum.reduceat(values, firsts),
        high=np.maximum.reduceat(values, firsts),
        mean=np.add.reduceat(values, firsts) / counts,
        count=counts,
    )


@dataclass(frozen=True)
class StreamScan:
    times_us: np.ndarray
    values: np.ndarray
    #: Entries read (including those of other times or without the sensor).
    entries: int
    truncated: bool


async def scan_stream(
    redis: Redis,
    keys: RedisKeys,
    sensor: str,
    start: datetime,
    end: datetime,
    *,
    max_entries: int,
    early_s: float,
    late_s: float,
) -> StreamScan:
    """The sensor's readings with reading times in ``[start, end)`` from the stream.

    ``early_s``: how far before its reading time a payload may land (the landing's future skew);
    ``late_s``: how long after. At most ``max_entries`` entries are read.
    """
    start_us, end_us = to_micros(start), to_micros(end)
    cursor = f"{max(0, (start_us // 1000) - int(early_s * 1000))}-0"
    stop_us = end_us + int(late_s * 1_000_000)
    times: list[int] = []
    values: list[float] = []
    read = 0
    while read < max_entries:
        chunk = cast(
            list[tuple[str, dict[str, str]]],
            await redis.xrange(keys.stream, min=cursor, max="+", count=min(CHUNK, max_entries - read)),
        )
        if not chunk:
            return StreamScan(np.array(times, dtype=np.int64), np.array(values), read, truncated=False)
        read += len(chunk)
        for entry_id, fields in chunk:
            document = _document(fields)
            reading_us = _reading_time_us(document)
            if reading_us is None:
                continue
            landed_us = int(entry_id.partition("-")[0]) * 1000
            if landed_us > stop_us and reading_us > stop_us:
                return StreamScan(np.array(times, dtype=np.int64), np.array(values), read, truncated=False)
            value = document.get(sensor)
            if start_us <= reading_us < end_us and isinstance(value, int | float) and not isinstance(value, bool):
                times.append(reading_us)
                values.append(float(value))
        cursor = f"({chunk[-1][0]}"
    return StreamScan(np.array(times, dtype=np.int64), np.array(values), read, truncated=True)


def _document(fields: dict[str, str]) -> dict[str, object]:
    try:
        document = orjson.loads(fields.get(PAYLOAD_FIELD, ""))
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


def _reading_time_us(document: dict[str, object]) -> int | None:
    stamp = document.get("timestamp")
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    return to_micros(moment) if moment.tzinfo is not None else None
