"""The fold's state in Redis, shared by every worker and analyzer replica.

One script call commits a fold (one round trip): it checks that the stored ``cursor`` (the last
folded entry) and ``epoch`` (bumped by every operator action on an alarm) are still the ones the
fold started from, and only then writes the new state: the cursor, tier 2's per-sensor arrays and
the window buckets it changed, the rows it learned, the alarms it changed (and marks them dirty for
the store), every folded entry's verdict (its result, or why it was rejected) and the alarm events.
A worker whose commit is refused re-reads the state and folds again from there; the entries
another worker folded meanwhile already have their verdicts. See ``analyzer/keys.py`` for the keys.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import orjson
import redis.asyncio as aioredis

from analyzer.alarms.book import AlarmBook, MaintenanceWindow
from analyzer.alarms.codec import dump_alarm, load_alarm
from analyzer.alarms.limits import AcceptedLimits, with_accepted
from analyzer.analysis.fold import Folder, FoldOutcome, FoldState
from analyzer.catalog.index import SensorIndex
from analyzer.keys import RedisKeys
from analyzer.tiers.statistical.forest import ForestModel
from analyzer.tiers.statistical.monitor import PcaModel
from analyzer.tiers.statistical.state import Tier2State

EVENTS_MAXLEN = 10_000
_HEAD_FIELDS = ("cursor", "epoch", "t2", "t2:sensors", "flood", "windows", "limits", "accept")

_COMMIT = """
local cur = redis.call('HGET', KEYS[1], 'cursor') or ''
local epoch = redis.call('HGET', KEYS[1], 'epoch') or '0'
if cur ~= ARGV[1] or epoch ~= ARGV[2] then return {0, cur, epoch} end
local ttl = tonumber(ARGV[4])
local n_set, n_del = tonumber(ARGV[6]), tonumber(ARGV[7])
local n_aset, n_adel = tonumber(ARGV[8]), tonumber(ARGV[9])
local n_verdicts, n_events = tonumber(ARGV[10]), tonumber(ARGV[11])
local n_rows, n_rows_del = tonumber(ARGV[12]), tonumber(ARGV[13])
local a = 14
for _ = 1, n_set do redis.call('HSET', KEYS[1], ARGV[a], ARGV[a + 1]); a = a + 2 end
for _ = 1, n_del do redis.call('HDEL', KEYS[1], ARGV[a]); a = a + 1 end
for _ = 1, n_aset do
  redis.call('HSET', KEYS[2], ARGV[a], ARGV[a + 1]); redis.call('SADD', KEYS[5], ARGV[a]); a = a + 2
end
for _ = 1, n_adel do
  redis.call('HDEL', KEYS[2], ARGV[a]); redis.call('SADD', KEYS[5], ARGV[a]); a = a + 1
end
for _ = 1, n_verdicts do redis.call('HSET', KEYS[3], ARGV[a], ARGV[a + 1]); a = a + 2 end
for _ = 1, n_events do
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', 'event', ARGV[a]); a = a + 1
end
for k = 1, n_rows do
  redis.call('RPUSH', KEYS[5 + k], ARGV[a]); redis.call('PEXPIRE', KEYS[5 + k], ttl); a = a + 1
end
for k = 1, n_rows_del do redis.call('DEL', KEYS[5 + n_rows + k]) end
redis.call('HSET', KEYS[1], 'cursor', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('PEXPIRE', KEYS[3], ttl)
return {1}
"""


@dataclass(frozen=True, slots=True)
class Refused:
    """The stored state moved on since the fold started (another worker, or an operator)."""

    cursor: str | None
    epoch: int


def _pack_arrays(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **cast(dict[str, Any], arrays))
    return buffer.getvalue()


def _unpack_arrays(raw: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def dump_model(model: ForestModel) -> dict[str, bytes]:
    meta = {
        "version": model.version,
        "features": list(model.features),
        "trained_at": model.trained_at,
        "n_samples": model.n_samples,
        "training_s": model.training_s,
        "raw_threshold": model.raw_threshold if math.isfinite(model.raw_threshold) else None,
    }
    return {"meta": json.dumps(meta).encode(), "model": model.to_bytes()}


def load_model(fields: Mapping[bytes, bytes]) -> ForestModel:
    meta = json.loads(fields[b"meta"])
    return ForestModel.from_bytes(
        fields[b"model"],
        features=tuple(meta["features"]),
        version=meta["version"],
        trained_at=float(meta["trained_at"]),
        n_samples=int(meta["n_samples"]),
        training_s=float(meta["training_s"]),
        raw_threshold=math.inf if meta.get("raw_threshold") is None else float(meta["raw_threshold"]),
    )


class SharedFold:
    """Reads and commits the fold's state; ``redis`` must not decode responses (the state is binary)."""

    def __init__(self, redis: aioredis.Redis, keys: RedisKeys, folder: Folder, *, window_s: int) -> None:
        self.redis = redis
        self.keys = keys
        #: The folder of the catalogue as loaded; rebuilt when accepted limits change (see ``limits.py``).
        self.base_folder = folder
        self.folder = folder
        self._limits_raw: bytes | None = None
        self.ttl_ms = 2 * window_s * 1000
        self._commit = redis.register_script(_COMMIT)

    # ------------------------------------------------------------------ reading

    async def load(self, local: FoldState | None = None) -> FoldState:
        """The stored state, read as one consistent snapshot (a MULTI/EXEC of every read, retried
        when the window moved on between choosing the buckets to read and reading them). Buckets
        that ``local`` holds and that cannot change any more (those before its newest) are reused."""
        known = local.tier2 if local is not None else None
        for _ in range(20):
            head = cast(bytes | None, await self.redis.hget(self.keys.fold, "t2"))
            newest = orjson.loads(head).get("newest") if head else None
            fetch = self._buckets_to_read(newest, known)
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hmget(self.keys.fold, list(_HEAD_FIELDS))
                pipe.hgetall(self.keys.alarms)
                pipe.hmget(self.keys.fold, [f"b:{b}" for b in fetch] or ["b:none"])
                for b in fetch:
                    pipe.lrange(self.keys.rows(b), 0, -1)
                replies = await pipe.execute()
            fields = dict(zip(_HEAD_FIELDS, cast(list[bytes | None], replies[0]), strict=True))
            self._adopt_limits(fields["limits"])
            meta = orjson.loads(fields["t2"]) if fields["t2"] else None
            if (meta.get("newest") if meta else None) != newest:
                continue  # another worker opened a new bucket meanwhile: choose again
            buckets = dict(zip(fetch, cast(list[bytes | None], replies[2]), strict=False))
            rows = dict(zip(fetch, cast(list[list[bytes]], replies[3:]), strict=True))
            return await self._assemble(fields, meta, cast(dict[bytes, bytes], replies[1]), buckets, rows, known)
        raise RuntimeError("the shared fold state kept moving while being read; try again")

    def _adopt_limits(self, raw: bytes | None) -> None:
        """Fold with the accepted learned limits: rebuild the folder when they changed."""
        if raw == self._limits_raw:
            return
        accepted = {k: AcceptedLimits.model_validate(v) for k, v in orjson.loads(raw).items()} if raw else {}
        base = self.base_folder
        index = SensorIndex.from_catalog(with_accepted(base.index.catalog, accepted))
        self.folder = base.with_index(index) if accepted else base
        self._limits_raw = raw

    def _buckets_to_read(self, newest: int | None, local: Tier2State | None) -> list[int]:
        tier = self.folder.statistical
        if tier is None or newest is None:
            return []
        wanted = range(int(newest) - tier.n_buckets, int(newest) + 1)
        if local is None or local.newest is None:
            return list(wanted)
        return [b for b in wanted if b not in local.buckets or b >= local.newest]

    async def _assemble(
        self,
        fields: dict[str, bytes | None],
        meta: dict[str, Any] | None,
        raw_alarms: dict[bytes, bytes],
        buckets: dict[int, bytes | None],
        rows: dict[int, list[bytes]],
        local: Tier2State | None,
    ) -> FoldState:
        flood = orjson.loads(fields["flood"]) if fields["flood"] else {"recent": [], "first": None}
        windows = fields["windows"]
        book = AlarmBook(
            self.folder.index,
            self.folder.policy,
            {k.decode(): load_alarm(v) for k, v in raw_alarms.items()},
            recent_activations=[(float(t), str(i)) for t, i in flood["recent"]],
            flood_first=flood["first"],
            windows=[MaintenanceWindow.model_validate(w) for w in orjson.loads(windows)] if windows else [],
        )
        tier2 = None
        if self.folder.statistical is not None:
            tier2 = await self._tier2(meta, fields["t2:sensors"], buckets, rows, local)
        cursor = fields["cursor"]
        accepts = tuple(a["sensor"] for a in orjson.loads(fields["accept"])) if fields["accept"] else ()
        return FoldState(
            cursor=cursor.decode() if cursor else None,
            epoch=int(fields["epoch"] or 0),
            tier2=tier2,
            book=book,
            accepts=accepts,
        )

    async def _tier2(
        self,
        meta: dict[str, Any] | None,
        sensors_raw: bytes | None,
        buckets: dict[int, bytes | None],
        rows: dict[int, list[bytes]],
        local: Tier2State | None,
    ) -> Tier2State:
        tier = self.folder.statistical
        assert tier is not None
        state = tier.new_state()
        if meta is None:
            return state
        state.learned = int(meta["learned"])
        state.next_training = int(meta["next_training"])
        state.trained_at = float(meta["trained_at"])
        state.refused_version = meta.get("refused_version")
        if sensors_raw:
            state.sensors.update(_unpack_arrays(sensors_raw))
        newest = meta.get("newest")
        if newest is not None:
            for b in range(int(newest) - tier.n_buckets, int(newest) + 1):
                if b in buckets:
                    raw = buckets[b]
                    if raw:
                        state.buckets[b] = np.frombuffer(raw, dtype="<f8").reshape(-1, state.n_sensors).copy()
                    if rows.get(b):
                        chunk = np.frombuffer(b"".join(rows[b]), dtype="<f4").reshape(-1, state.n_sensors)
                        state.rows[b] = chunk.copy()
                elif local is not None and b in local.buckets:
                    # Final before the local newest: the same numbers, not read again.
                    state.buckets[b] = local.buckets[b]
                    if b in local.rows:
                        state.rows[b] = local.rows[b]
            if local is not None:
                # Baselines of buckets whose predecessors are final (valid in any consistent state).
                state.baselines, state.finals = local.baselines, local.finals
        version = meta.get("model_version")
        if version:
            if local is not None and local.model is not None and local.model.version == version:
                state.model, state.pca = local.model, local.pca
            else:
                state.model = await self.read_model(version)
                if state.model is None:
                    raise RuntimeError(f"IsolationForest model {version} named by the shared state is missing")
                state.pca = await self.read_pca(version)
        return state

    async def read_model(self, version: str) -> ForestModel | None:
        fields = cast(dict[bytes, bytes], await self.redis.hgetall(self.keys.model(version)))
        return load_model(fields) if fields else None

    async def read_pca(self, version: str) -> PcaModel | None:
        raw = cast(bytes | None, await self.redis.hget(self.keys.model(version), "pca"))
        return PcaModel.from_bytes(raw, version) if raw else None

    async def save_model(self, model: ForestModel, pca: PcaModel | None = None) -> None:
        """The forest and the PCA monitor trained with it, in one hash ``{stream}:model:{version}``."""
        key = self.keys.model(model.version)
        fields = dump_model(model)
        if pca is not None:
            fields["pca"] = pca.to_bytes()
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
            pipe.pexpire(key, self.ttl_ms)
            await pipe.execute()

    async def verdicts(self, entry_ids: Sequence[str]) -> dict[str, bytes]:
        if not entry_ids:
            return {}
        raw = cast(list[bytes | None], await self.redis.hmget(self.keys.verdicts, list(entry_ids)))
        return {i: v for i, v in zip(entry_ids, raw, strict=True) if v is not None}

    async def drop_verdicts(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self.redis.hdel(self.keys.verdicts, *entry_ids)

    # ------------------------------------------------------------------ committing

    async def commit(self, before: FoldState, outcome: FoldOutcome, verdicts: Mapping[str, bytes]) -> Refused | None:
        """Write ``outcome`` if the stored state is still ``before``'s; else say where it is now."""
        after = outcome.state
        for model in outcome.models:
            await self.save_model(model, outcome.pca.get(model.version))
        sets: list[tuple[str, bytes | str]] = []
        deletes: list[str] = []
        row_keys: list[str] = []
        row_blobs: list[bytes] = []
        dropped_rows: list[str] = []
        tier2 = after.tier2
        if tier2 is not None:
            meta = {
                "learned": tier2.learned,
                "next_training": tier2.next_training,
                "trained_at": tier2.trained_at,
                "model_version": tier2.model.version if tier2.model else None,
                "refused_version": tier2.refused_version,
                "newest": tier2.newest,
            }
            sets.append(("t2", orjson.dumps(meta)))
            sets.append(("t2:sensors", _pack_arrays(tier2.sensors)))
            for bucket in sorted(outcome.buckets):
                stats = tier2.buckets.get(bucket)
                if stats is not None:
                    sets.append((f"b:{bucket}", stats.astype("<f8").tobytes()))
            for bucket, rows in sorted(outcome.rows.items()):
                if bucket in tier2.buckets:
                    row_keys.append(self.keys.rows(bucket))
                    row_blobs.append(rows.astype("<f4").tobytes())
            before_buckets = before.tier2.buckets if before.tier2 is not None else {}
            for bucket in before_buckets:
                if bucket not in tier2.buckets:
                    deletes.append(f"b:{bucket}")
                    dropped_rows.append(self.keys.rows(bucket))
        if before.accepts and not after.accepts:
            sets.append(("accept", b"[]"))  # applied by this fold (see Folder._fold_readings)
        book = after.book
        sets.append(("flood", orjson.dumps({"recent": list(book.recent_activations), "first": book.flood_first})))
        alarm_sets = [(k, dump_alarm(a)) for k, a in sorted(outcome.alarms.items()) if a is not None]
        alarm_dels = sorted(k for k, a in outcome.alarms.items() if a is None)
        events = [e.model_dump_json().encode() for e in outcome.events]
        args: list[Any] = [
            before.cursor or "",
            str(before.epoch),
            after.cursor or "",
            self.ttl_ms,
            EVENTS_MAXLEN,
            len(sets),
            len(deletes),
            len(alarm_sets),
            len(alarm_dels),
            len(verdicts),
            len(events),
            len(row_keys),
            len(dropped_rows),
        ]
        for name, value in sets:
            args += [name, value]
        args += deletes
        for key, value in alarm_sets:
            args += [key, value]
        args += alarm_dels
        for entry_id, verdict in verdicts.items():
            args += [entry_id, verdict]
        args += events
        args += row_blobs
        keys = [
            self.keys.fold,
            self.keys.alarms,
            self.keys.verdicts,
            self.keys.alarm_events,
            self.keys.alarms_dirty,
            *row_keys,
            *dropped_rows,
        ]
        reply = await self._commit(keys=keys, args=args)
        if int(reply[0]) == 1:
            return None
        cursor = reply[1].decode() if isinstance(reply[1], bytes) else reply[1]
        return Refused(cursor or None, int(reply[2]))
