"""Where the shared window lives: one Redis hash per deployment and sensor catalogue.

``{stream}:stats:window:{catalogue fingerprint}`` (a single key, so the Lua script is
cluster-safe) holds:

==================  ===========================================================================
field               value
==================  ===========================================================================
``cursor``          the last learned stream entry id ``ms-seq``
``learned``         protected rows learned so far (drives retraining)
``newest``          the newest bucket id
``last``            3 x n little-endian doubles: per sensor last value, time it last changed,
                    time it was last present (epoch s; NaN = never)
``b:{bucket}``      3 x n doubles: per sensor count, mean, M2 of the values learned in the bucket
``r:{bucket}``      float32 rows (n per row) of the protected readings, for IsolationForest
                    training and the robust median/MAD
==================  ===========================================================================

A batch is folded in by one Lua script call (one round trip): it refuses the whole batch when its
first entry id is not after ``cursor`` (a replay after a crash), and the caller drops the entries
already learned and tries again, so an entry is never counted twice. Buckets older than the window
are deleted when a new bucket opens; the hash expires two windows after the last write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

import numpy as np
import redis.asyncio as aioredis

from analyzer.keys import RedisKeys
from analyzer.tiers.statistical.window import merge


def catalogue_fingerprint(names: Sequence[str]) -> str:
    """Short hash of the sensor order; a changed catalogue starts a fresh window."""
    return hashlib.sha1("\n".join(names).encode()).hexdigest()[:12]


def window_key(keys: RedisKeys, names: Sequence[str]) -> str:
    return keys.stats(f"window:{catalogue_fingerprint(names)}")


@dataclass(frozen=True, slots=True)
class BucketUpdate:
    bucket: int
    stats: np.ndarray  # (3, n)
    rows: np.ndarray  # (k, n) float32, may be empty


@dataclass(frozen=True, slots=True)
class WindowUpdate:
    """What one batch adds: per-bucket statistics, protected rows and the sensors' last values."""

    first_id: tuple[int, int]
    last_id: tuple[int, int]
    oldest_bucket: int
    last: np.ndarray  # (3, n)
    buckets: tuple[BucketUpdate, ...]

    @property
    def n_rows(self) -> int:
        return sum(len(b.rows) for b in self.buckets)


@dataclass(frozen=True, slots=True)
class Applied:
    cursor: tuple[int, int]
    learned: int
    last: np.ndarray
    buckets: dict[int, np.ndarray]


@dataclass(frozen=True, slots=True)
class Stale:
    """The batch starts at or before ``cursor``: some entries were learned already."""

    cursor: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Snapshot:
    cursor: tuple[int, int] | None
    learned: int
    newest: int | None
    last: np.ndarray | None
    buckets: dict[int, np.ndarray]


class WindowStore(Protocol):
    async def apply(self, update: WindowUpdate) -> Applied | Stale: ...

    async def snapshot(self) -> Snapshot: ...

    async def rows(self, oldest: int, newest: int) -> dict[int, np.ndarray]: ...

    async def clear(self) -> None: ...


def _merge_last(stored: np.ndarray, incoming: np.ndarray) -> np.ndarray:
    """Per sensor, keep the triple (value, changed, sampled) with the later sample time."""
    newer = ~np.isnan(incoming[2]) & (np.isnan(stored[2]) | (incoming[2] > stored[2]))
    return np.where(newer, incoming, stored)


def _parse_id(text: bytes | str) -> tuple[int, int]:
    raw = text.decode() if isinstance(text, bytes) else text
    ms, _, seq = raw.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class MemoryWindowStore:
    """The same semantics as :class:`RedisWindowStore`, in process (evaluation, benchmark, tests)."""

    n_sensors: int
    cursor: tuple[int, int] | None = None
    learned: int = 0
    newest: int | None = None
    last: np.ndarray | None = None
    buckets: dict[int, np.ndarray] = field(default_factory=dict)
    row_chunks: dict[int, list[np.ndarray]] = field(default_factory=dict)

    async def apply(self, update: WindowUpdate) -> Applied | Stale:
        if self.cursor is not None and update.first_id <= self.cursor:
            return Stale(self.cursor)
        merged: dict[int, np.ndarray] = {}
        for part in update.buckets:
            current = self.buckets.get(part.bucket)
            stats = part.stats if current is None else merge(current, part.stats)
            self.buckets[part.bucket] = merged[part.bucket] = stats
            if len(part.rows):
                self.row_chunks.setdefault(part.bucket, []).append(part.rows)
            self.newest = part.bucket if self.newest is None else max(self.newest, part.bucket)
        for bucket in [b for b in self.buckets if b < update.oldest_bucket]:
            del self.buckets[bucket]
            self.row_chunks.pop(bucket, None)
        self.last = update.last.copy() if self.last is None else _merge_last(self.last, update.last)
        self.cursor = update.last_id
        self.learned += update.n_rows
        return Applied(self.cursor, self.learned, self.last.copy(), merged)

    async def snapshot(self) -> Snapshot:
        return Snapshot(
            self.cursor,
            self.learned,
            self.newest,
            None if self.last is None else self.last.copy(),
            {b: s.copy() for b, s in self.buckets.items()},
        )

    async def rows(self, oldest: int, newest: int) -> dict[int, np.ndarray]:
        return {b: np.concatenate(chunks) for b, chunks in self.row_chunks.items() if oldest <= b <= newest and chunks}

    async def clear(self) -> None:
        self.cursor, self.learned, self.newest, self.last = None, 0, None, None
        self.buckets.clear()
        self.row_chunks.clear()


#: KEYS[1] window hash. ARGV: first_ms, first_seq, last_id, n, oldest_bucket, last (3n doubles),
#: n_rows, ttl_ms, then per bucket: id, stats (3n doubles), rows (float32 bytes).
_APPLY = """
local key = KEYS[1]
local cur = redis.call('HGET', key, 'cursor')
if cur then
  local cms, cseq = string.match(cur, '^(%d+)-(%d+)$')
  cms = tonumber(cms); cseq = tonumber(cseq)
  local fms = tonumber(ARGV[1]); local fseq = tonumber(ARGV[2])
  if fms < cms or (fms == cms and fseq <= cseq) then return {0, cur} end
end
local n = tonumber(ARGV[4])
local oldest = tonumber(ARGV[5])
local fmt = '<' .. string.rep('d', 3 * n)
local function unpack3(s) local t = {struct.unpack(fmt, s)}; t[#t] = nil; return t end
local function isnan(x) return x ~= x end
-- last values: keep the triple with the later sample time
local incoming = unpack3(ARGV[6])
local stored_raw = redis.call('HGET', key, 'last')
local last = incoming
if stored_raw then
  last = unpack3(stored_raw)
  for i = 1, n do
    local ts = incoming[2 * n + i]
    if not isnan(ts) and (isnan(last[2 * n + i]) or ts > last[2 * n + i]) then
      last[i] = incoming[i]; last[n + i] = incoming[n + i]; last[2 * n + i] = ts
    end
  end
end
local packed_last = struct.pack(fmt, unpack(last))
redis.call('HSET', key, 'last', packed_last, 'cursor', ARGV[3])
local learned = redis.call('HINCRBY', key, 'learned', tonumber(ARGV[7]))
local out = {1, ARGV[3], learned, packed_last}
local opened = false
local newest = tonumber(redis.call('HGET', key, 'newest') or '-1')
for k = 9, #ARGV, 3 do
  local bucket = ARGV[k]
  local b = unpack3(ARGV[k + 1])
  local field = 'b:' .. bucket
  local raw = redis.call('HGET', key, field)
  local a
  if raw then
    a = unpack3(raw)
    for i = 1, n do
      local na, nb = a[i], b[i]
      if nb > 0 then
        if na == 0 then
          a[i] = nb; a[n + i] = b[n + i]; a[2 * n + i] = b[2 * n + i]
        else
          local total = na + nb
          local share = nb / total
          local delta = b[n + i] - a[n + i]
          a[n + i] = a[n + i] + delta * share
          a[2 * n + i] = a[2 * n + i] + b[2 * n + i] + delta * delta * na * share
          a[i] = total
        end
      end
    end
  else
    a = b
    opened = true
  end
  local packed = struct.pack(fmt, unpack(a))
  redis.call('HSET', key, field, packed)
  if #ARGV[k + 2] > 0 then
    local rows = redis.call('HGET', key, 'r:' .. bucket)
    redis.call('HSET', key, 'r:' .. bucket, (rows or '') .. ARGV[k + 2])
  end
  if tonumber(bucket) > newest then newest = tonumber(bucket) end
  table.insert(out, bucket)
  table.insert(out, packed)
end
redis.call('HSET', key, 'newest', newest)
if opened then
  for _, name in ipairs(redis.call('HKEYS', key)) do
    local id = string.match(name, '^[br]:(-?%d+)$')
    if id and tonumber(id) < oldest then redis.call('HDEL', key, name) end
  end
end
redis.call('PEXPIRE', key, ARGV[8])
return out
"""


class RedisWindowStore:
    """The shared window in Redis; see the module docstring for the layout."""

    def __init__(self, redis: aioredis.Redis, key: str, n_sensors: int, *, ttl_s: int) -> None:
        self.redis = redis
        self.key = key
        self.n_sensors = n_sensors
        self.ttl_ms = ttl_s * 1000
        self._apply = redis.register_script(_APPLY)

    def _array(self, raw: bytes) -> np.ndarray:
        return np.frombuffer(raw, dtype="<f8").reshape(3, self.n_sensors).copy()

    async def apply(self, update: WindowUpdate) -> Applied | Stale:
        args: list[bytes | str | int] = [
            update.first_id[0],
            update.first_id[1],
            f"{update.last_id[0]}-{update.last_id[1]}",
            self.n_sensors,
            update.oldest_bucket,
            update.last.astype("<f8").tobytes(),
            update.n_rows,
            self.ttl_ms,
        ]
        for part in update.buckets:
            args += [part.bucket, part.stats.astype("<f8").tobytes(), part.rows.astype("<f4").tobytes()]
        reply = await self._apply(keys=[self.key], args=args)
        if int(reply[0]) == 0:
            return Stale(_parse_id(reply[1]))
        buckets = {int(reply[i]): self._array(reply[i + 1]) for i in range(4, len(reply), 2)}
        return Applied(_parse_id(reply[1]), int(reply[2]), self._array(reply[3]), buckets)

    async def snapshot(self) -> Snapshot:
        names = [n.decode() if isinstance(n, bytes) else n for n in await self.redis.hkeys(self.key)]
        fields = ["cursor", "learned", "newest", "last", *[n for n in names if n.startswith("b:")]]
        # This client does not decode: every value is bytes (redis-py types them loosely).
        values = cast(list[bytes | None], await self.redis.hmget(self.key, fields))
        cursor, learned, newest, last, *stats = values
        return Snapshot(
            cursor=_parse_id(cursor) if cursor else None,
            learned=int(learned or 0),
            newest=int(newest) if newest is not None else None,
            last=self._array(last) if last else None,
            buckets={int(f[2:]): self._array(v) for f, v in zip(fields[4:], stats, strict=True) if v},
        )

    async def rows(self, oldest: int, newest: int) -> dict[int, np.ndarray]:
        names = [n.decode() if isinstance(n, bytes) else n for n in await self.redis.hkeys(self.key)]
        wanted = [n for n in names if n.startswith("r:") and oldest <= int(n[2:]) <= newest]
        if not wanted:
            return {}
        values = cast(list[bytes], await self.redis.hmget(self.key, wanted))
        return {
            int(name[2:]): np.frombuffer(raw, dtype="<f4").reshape(-1, self.n_sensors)
            for name, raw in zip(wanted, values, strict=True)
            if raw
        }

    async def clear(self) -> None:
        await self.redis.delete(self.key)
