"""``Idempotency-Key`` for the workflow's writes: the same request sent again (a lost response, a
double click) gets the first answer back and changes nothing.

A key is scoped to the caller (two operators' keys never collide) and remembered in Redis for
``DASHBOARD_IDEMPOTENCY_TTL_S``. While the first request runs the key is *pending*: a concurrent
repeat gets 409 instead of acting twice. A request that failed (4xx/5xx other than 409) forgets the
key, so the client may retry with it. The same key with another request is refused (422).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import HTTPException, status
from redis.asyncio import Redis

from analyzer.keys import RedisKeys


@dataclass(frozen=True)
class Remembered:
    status_code: int
    body: Any
    etag: str | None


class IdempotentRequest:
    def __init__(self, redis: Redis, keys: RedisKeys, who: str, key: str, request: Any, ttl_s: int) -> None:
        digest = hashlib.sha256(f"{who}\x00{key}".encode()).hexdigest()
        self.redis = redis
        self.name = f"{keys.stream}:dashboard:idempotency:{digest}"
        self.fingerprint = hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()
        self.ttl_s = ttl_s

    async def begin(self) -> Remembered | None:
        """The first answer when this request was completed before; ``None``: go ahead (now pending)."""
        pending = orjson.dumps({"fingerprint": self.fingerprint, "pending": True})
        if await self.redis.set(self.name, pending, nx=True, ex=self.ttl_s):
            return None
        raw = await self.redis.get(self.name)
        if raw is None:  # expired in between: go ahead
            return None if await self.redis.set(self.name, pending, nx=True, ex=self.ttl_s) else await self.begin()
        stored = orjson.loads(raw)
        if stored.get("fingerprint") != self.fingerprint:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "this Idempotency-Key was used for another request; choose a new key for a new request",
            )
        if stored.get("pending"):
            raise HTTPException(
                status.HTTP_409_CONFLICT, "a request with this Idempotency-Key is in progress; try again shortly"
            )
        return Remembered(int(stored["status"]), stored["body"], stored.get("etag"))

    async def finish(self, status_code: int, body: Any, etag: str | None) -> None:
        done = {"fingerprint": self.fingerprint, "status": status_code, "body": body, "etag": etag}
        await self.redis.set(self.name, orjson.dumps(done), ex=self.ttl_s)

    async def forget(self) -> None:
        await self.redis.delete(self.name)
