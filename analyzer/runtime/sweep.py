"""The sweep: analyse entries in the 24 h window that have no stored result.

In Azure the Redis stream trigger acknowledges an entry whether or not the function succeeded,
so delivery is at most once. The sweep makes the whole at least once: it walks the stream oldest
first, asks the store which entries have results, and analyses the rest. Entries younger than
``grace_s`` are left to the trigger (which is probably analysing them right now), entries already
dead-lettered are skipped, and a Redis lock keeps two sweeps from running at once.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import cast

from redis.asyncio import Redis

from analyzer.analysis.pipeline import Pipeline
from analyzer.keys import RedisKeys
from analyzer.runtime.dead_letter import dead_lettered_ids
from analyzer.store.protocol import Store
from schemas.api import SweepResponse

log = logging.getLogger(__name__)

LOCK_TTL_MS = 10 * 60 * 1000


async def sweep(
    redis: Redis,
    keys: RedisKeys,
    store: Store,
    pipeline: Pipeline,
    *,
    grace_s: float = 60.0,
    chunk: int = 500,
) -> SweepResponse:
    """Analyse what the window holds without a result; returns what was scanned and done."""
    lock, token = keys.sweep_lock, secrets.token_hex(8)
    if not await redis.set(lock, token, nx=True, px=LOCK_TTL_MS):
        log.info("another sweep holds %s; skipping", lock)
        return SweepResponse(scanned=0, analysed=0, already_done=0, dead_lettered=0)
    totals = {"scanned": 0, "analysed": 0, "already_done": 0, "dead_lettered": 0}
    try:
        newest = f"{int((time.time() - grace_s) * 1000)}-0"
        start = "-"
        while True:
            # The client decodes responses: ids and fields are str (redis-py types them loosely).
            reply = await redis.xrange(keys.stream, min=start, max=newest, count=chunk)
            entries = cast(list[tuple[str, dict[str, str]]], reply)
            if not entries:
                break
            ids = [entry_id for entry_id, _ in entries]
            done = await store.existing_result_ids(ids) | await dead_lettered_ids(redis, keys, ids)
            missing = [(i, f) for i, f in entries if i not in done]
            outcome = await pipeline.analyze_entries(missing)  # dead-letters what it cannot analyse
            totals["scanned"] += len(entries)
            totals["already_done"] += len(entries) - len(missing)
            totals["analysed"] += len(outcome.results)
            totals["dead_lettered"] += len(outcome.rejected)
            start = f"({ids[-1]}"
    finally:
        await redis.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
            1,
            lock,
            token,
        )
    if totals["analysed"] or totals["dead_lettered"]:
        log.warning("sweep analysed %(analysed)d entries missed by the trigger", totals)
    return SweepResponse(**totals)
