"""The sweep: analyse entries in the 24 h window that have no stored result.

In Azure the Redis stream trigger acknowledges an entry whether or not the function succeeded,
so delivery is at most once. Every analysis folds the stream in order up to the entry it was asked
about, so an entry the trigger missed is analysed as soon as a later one is; the sweep covers the
rest: it walks the window oldest first, asks the store which entries have results, and hands the
others to the pipeline (which folds them, or stores the verdicts of a fold that was interrupted
before its results were written). Entries younger than ``grace_s`` are left to the trigger, and a
Redis lock keeps two sweeps from running at once.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import cast

from redis.asyncio import Redis

from analyzer.analysis.pipeline import Pipeline
from analyzer.keys import RedisKeys
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
            done = await store.existing_result_ids(ids)
            missing = [(i, f) for i, f in entries if i not in done]
            # Folds what is not folded yet (dead-lettering what cannot be analysed) and finalises
            # what was folded but not stored; entries the fold rejected before come back as such.
            outcome = await pipeline.analyze_entries(missing, want_results=False)
            earlier = sum(r.earlier for r in outcome.rejected)
            totals["scanned"] += len(entries)
            totals["already_done"] += len(done) + earlier
            totals["analysed"] += len(outcome.analysed)
            totals["dead_lettered"] += len(outcome.rejected) - earlier
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
