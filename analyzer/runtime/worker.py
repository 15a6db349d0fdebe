"""The local stream worker: a Redis consumer group on the stream.

* Reads with ``XREADGROUP >`` in batches; analyses the batch; acknowledges only after the results
  are stored (at-least-once; the writes are idempotent, so a redelivery does no harm).
* Every ``claim_idle`` it runs ``XAUTOCLAIM`` over the group's pending entries, following the
  cursor, so the entries of a consumer that died are taken over by a live one.
* An entry delivered ``max_deliveries`` times without success, or that is malformed, goes to the
  dead-letter stream with the reason and its original fields, and is acknowledged.
* When a batch fails, its entries are retried one by one so one poison entry cannot hold back the
  others; the failing one stays pending and is retried after ``claim_idle``.
* On stop (SIGTERM/SIGINT set the stop event) it finishes the batch in hand, acknowledges it, and
  deletes its consumer if it holds no pending entries.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from analyzer.analysis.pipeline import Pipeline
from analyzer.keys import CONSUMER_GROUP, RedisKeys, entry_order
from analyzer.runtime.dead_letter import dead_letter

log = logging.getLogger(__name__)

Entry = tuple[str, Mapping[str, str]]
MAX_REMEMBERED_ERRORS = 10_000


def default_consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class WorkerConfig:
    batch_size: int = 64
    block_ms: int = 1000
    claim_idle_ms: int = 60_000
    max_deliveries: int = 5
    group: str = CONSUMER_GROUP


@dataclass
class WorkerStats:
    analysed: int = 0
    dead_lettered: int = 0
    failed_batches: int = 0
    claimed: int = 0
    #: Delivered again after their result was stored (a crash before XACK, a rewound group): acked, not re-analysed.
    already_done: int = 0


async def ensure_group(redis: Redis, stream: str, group: str = CONSUMER_GROUP) -> None:
    """Create the consumer group (and the stream) if missing; from the start, so nothing is skipped."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


class StreamWorker:
    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        pipeline: Pipeline,
        config: WorkerConfig | None = None,
        consumer: str | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.pipeline = pipeline
        self.config = config or WorkerConfig()
        self.consumer = consumer or default_consumer_name()
        self.stats = WorkerStats()
        self._last_claim = 0.0
        #: The last error of entries that failed here, for the dead-letter reason (bounded).
        self._last_errors: dict[str, str] = {}

    async def run(self, stop: asyncio.Event) -> WorkerStats:
        await ensure_group(self.redis, self.keys.stream, self.config.group)
        log.info("worker %s reading %s as group %s", self.consumer, self.keys.stream, self.config.group)
        while not stop.is_set():
            if time.monotonic() - self._last_claim >= self.config.claim_idle_ms / 1000:
                await self.claim_idle()
            await self.read_once()
        await self._leave()
        return self.stats

    async def read_once(self) -> int:
        """Read and process one batch of new entries; returns how many were read."""
        # The client decodes responses: ids and fields are str (redis-py types them loosely).
        response = await self.redis.xreadgroup(
            self.config.group,
            self.consumer,
            {self.keys.stream: ">"},
            count=self.config.batch_size,
            block=self.config.block_ms or None,
        )
        batches = cast(list[tuple[str, list[tuple[str, dict[str, str] | None]]]], response)
        entries: list[Entry] = [(i, f) for _, batch in batches or [] for i, f in batch if f is not None]
        await self.process(entries)
        return len(entries)

    async def claim_idle(self) -> int:
        """Take over entries idle longer than ``claim_idle_ms`` (a dead consumer's, or our own failures)."""
        self._last_claim = time.monotonic()
        cursor, claimed_total = "0-0", 0
        while True:
            cursor, claimed, deleted = await self.redis.xautoclaim(
                self.keys.stream,
                self.config.group,
                self.consumer,
                min_idle_time=self.config.claim_idle_ms,
                start_id=cursor,
                count=self.config.batch_size,
            )
            if deleted:
                # Trimmed out of the window while pending: nothing left to analyse.
                await self.redis.xack(self.keys.stream, self.config.group, *deleted)
            entries = [(i, f) for i, f in claimed if f is not None]
            if entries:
                claimed_total += len(entries)
                await self.process(await self._dead_letter_exhausted(entries))
            if cursor in ("0-0", b"0-0"):
                break
        self.stats.claimed += claimed_total
        return claimed_total

    async def _dead_letter_exhausted(self, entries: list[Entry]) -> list[Entry]:
        """Dead-letter the entries delivered too often; return the rest."""
        ids = [i for i, _ in entries]
        # Only this consumer's pending entries (the claimed ones are ours now): other consumers' entries
        # between the first and last claimed id could fill the count and hide a delivery count.
        pending = await self.redis.xpending_range(
            self.keys.stream,
            self.config.group,
            min=min(ids, key=entry_order),
            max=max(ids, key=entry_order),
            count=len(ids) * 4,
            consumername=self.consumer,
        )
        deliveries = {str(p["message_id"]): int(p["times_delivered"]) for p in pending}
        exhausted = [(i, f) for i, f in entries if deliveries.get(i, 0) > self.config.max_deliveries]
        if exhausted:
            reason = f"analysis failed {self.config.max_deliveries} times; giving up"
            await self._reject([(i, _with_last_error(reason, self._last_errors.pop(i, None)), f) for i, f in exhausted])
        exhausted_ids = {i for i, _ in exhausted}
        return [(i, f) for i, f in entries if i not in exhausted_ids]

    async def process(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        try:
            await self._analyse_and_ack(entries)
        except Exception:
            self.stats.failed_batches += 1
            log.exception("batch of %d entries failed; retrying them one by one", len(entries))
            for entry in entries:
                try:
                    await self._analyse_and_ack([entry])
                    self._last_errors.pop(entry[0], None)
                except Exception as error:
                    log.exception("entry %s failed; it stays pending and will be retried", entry[0])
                    self._last_errors[entry[0]] = f"{type(error).__name__}: {error}"
                    if len(self._last_errors) > MAX_REMEMBERED_ERRORS:
                        del self._last_errors[next(iter(self._last_errors))]

    async def _analyse_and_ack(self, entries: Sequence[Entry]) -> None:
        # An entry whose result is stored was analysed: acknowledge it again instead of re-analysing.
        # Tier 2 is stateful, so re-scoring an old reading after newer ones would overwrite its result
        # with a different verdict and count other readings into its episodes.
        stored = await self.pipeline.store.existing_result_ids([i for i, _ in entries])
        if stored:
            await self.redis.xack(self.keys.stream, self.config.group, *stored)
            self.stats.already_done += len(stored)
            entries = [(i, f) for i, f in entries if i not in stored]
        outcome = await self.pipeline.analyze_entries(entries)
        await self._reject([(r.entry_id, r.reason, r.fields) for r in outcome.rejected])
        done = [r.id for r in outcome.results]
        if done:
            await self.redis.xack(self.keys.stream, self.config.group, *done)
        self.stats.analysed += len(done)

    async def _reject(self, rejected: Sequence[tuple[str, str, Mapping[str, str]]]) -> None:
        if not rejected:
            return
        await dead_letter(self.redis, self.keys, rejected)
        await self.redis.xack(self.keys.stream, self.config.group, *[i for i, _, _ in rejected])
        self.stats.dead_lettered += len(rejected)
        for entry_id, reason, _ in rejected:
            log.warning("dead-lettered entry %s: %s", entry_id, reason)

    async def _leave(self) -> None:
        """Delete this consumer from the group if it holds nothing, so the group does not fill with ghosts."""
        pending = await self.redis.xpending_range(
            self.keys.stream, self.config.group, min="-", max="+", count=1, consumername=self.consumer
        )
        if not pending:
            await self.redis.xgroup_delconsumer(self.keys.stream, self.config.group, self.consumer)
        log.info("worker %s stopped: %s", self.consumer, self.stats)


def _with_last_error(reason: str, last_error: str | None) -> str:
    return f"{reason} (last error: {last_error})" if last_error else reason
