"""The dead-letter stream ``{stream}:dead``: entries that cannot be analysed, with the reason and the
original fields, so nothing is silently dropped. Dead-lettered ids are also kept in the sorted set
``{stream}:dead:ids`` (score = time) so the sweep does not pick them up again."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

from redis.asyncio import Redis

from analyzer.keys import RedisKeys

DEAD_LETTER_MAXLEN = 100_000


async def dead_letter(redis: Redis, keys: RedisKeys, entries: Sequence[tuple[str, str, Mapping[str, str]]]) -> None:
    """Record ``(entry_id, reason, original fields)`` triples in one round trip."""
    if not entries:
        return
    now_ms = int(time.time() * 1000)
    async with redis.pipeline(transaction=False) as pipe:
        for entry_id, reason, fields in entries:
            record = {**{f"field:{k}": v for k, v in fields.items()}, "entry_id": entry_id, "reason": reason}
            # redis-py types the fields as an invariant dict of its widest value union.
            pipe.xadd(keys.dead_letter, cast(dict[Any, Any], record), maxlen=DEAD_LETTER_MAXLEN, approximate=True)
            pipe.zadd(f"{keys.dead_letter}:ids", {entry_id: now_ms})
        await pipe.execute()


async def dead_lettered_ids(redis: Redis, keys: RedisKeys, entry_ids: Sequence[str]) -> set[str]:
    if not entry_ids:
        return set()
    scores = await redis.zmscore(f"{keys.dead_letter}:ids", list(entry_ids))
    return {entry_id for entry_id, score in zip(entry_ids, scores, strict=True) if score is not None}
