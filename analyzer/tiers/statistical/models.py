"""Sharing the trained IsolationForest between replicas.

``{stream}:model:current`` is one hash written in one command (so a reader never sees half a
model): ``version``, ``features`` (JSON list), ``trained_at`` (epoch s), ``n_samples``,
``training_s``, ``learned_at`` (the window's learned-row counter when it was trained) and
``model`` (the compiled forest as an ``.npz`` archive, arrays only: nothing is unpickled).
``{stream}:model:training`` is a short lock so that only one replica trains at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol, cast

import redis.asyncio as aioredis

from analyzer.keys import RedisKeys
from analyzer.tiers.statistical.forest import ForestModel


@dataclass(frozen=True, slots=True)
class StoredModel:
    model: ForestModel
    learned_at: int


class ModelStore(Protocol):
    async def version(self) -> str | None: ...

    async def load(self) -> StoredModel | None: ...

    async def save(self, model: ForestModel, learned_at: int) -> None: ...

    async def try_lock(self, owner: str, ttl_s: float) -> bool: ...

    async def unlock(self, owner: str) -> None: ...


class MemoryModelStore:
    """In-process model store (evaluation, benchmark, unit tests)."""

    def __init__(self) -> None:
        self.stored: StoredModel | None = None

    async def version(self) -> str | None:
        return None if self.stored is None else self.stored.model.version

    async def load(self) -> StoredModel | None:
        return self.stored

    async def save(self, model: ForestModel, learned_at: int) -> None:
        self.stored = StoredModel(model, learned_at)

    async def try_lock(self, owner: str, ttl_s: float) -> bool:
        return True

    async def unlock(self, owner: str) -> None:
        return None


_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisModelStore:
    def __init__(self, redis: aioredis.Redis, keys: RedisKeys) -> None:
        self.redis = redis
        self.key = keys.model("current")
        self.lock_key = keys.model("training")
        self._unlock = redis.register_script(_UNLOCK)

    async def version(self) -> str | None:
        raw = await self.redis.hget(self.key, "version")
        return raw.decode() if isinstance(raw, bytes) else raw

    async def load(self) -> StoredModel | None:
        # This client does not decode: keys and values are bytes (redis-py types them loosely).
        fields = cast(dict[bytes, bytes], await self.redis.hgetall(self.key))
        if not fields:
            return None
        text = {k.decode(): v for k, v in fields.items() if k != b"model"}
        meta = {k: v.decode() for k, v in text.items()}
        model = ForestModel.from_bytes(
            fields[b"model"],
            features=tuple(json.loads(meta["features"])),
            version=meta["version"],
            trained_at=float(meta["trained_at"]),
            n_samples=int(meta["n_samples"]),
            training_s=float(meta["training_s"]),
        )
        return StoredModel(model, int(meta.get("learned_at", 0)))

    async def save(self, model: ForestModel, learned_at: int) -> None:
        await self.redis.hset(
            self.key,
            mapping={
                "version": model.version,
                "features": json.dumps(list(model.features)),
                "trained_at": repr(model.trained_at),
                "n_samples": model.n_samples,
                "training_s": repr(model.training_s),
                "learned_at": learned_at,
                "model": model.to_bytes(),
            },
        )

    async def try_lock(self, owner: str, ttl_s: float) -> bool:
        return bool(await self.redis.set(self.lock_key, owner, nx=True, px=int(ttl_s * 1000)))

    async def unlock(self, owner: str) -> None:
        await self._unlock(keys=[self.lock_key], args=[owner])
