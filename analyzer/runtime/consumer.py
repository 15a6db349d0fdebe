"""A Redis stream consumer-group member: the generic part of every consumer here (the analysis
worker on the readings stream, tier 3 on the alarm events).

* Creates the group idempotently (only BUSYGROUP is ignored), from the start of the stream.
* On start it first takes back its own pending entries (``XREADGROUP 0``): a consumer that comes
  back under its stable name resumes what it held, without waiting for the claim timeout.
* Reads new entries with ``XREADGROUP >`` in batches; the handler says which entries are done
  (acknowledged), which are rejected (dead-lettered with the reason, then acknowledged) and which
  stay pending (retried).
* Every ``claim_idle`` it runs ``XAUTOCLAIM`` over the group's pending entries, following the
  cursor: a dead consumer's entries are taken over (logged with counts), entries delivered more
  than ``max_deliveries`` times are dead-lettered with their last error, and consumers idle for
  ``forget_after`` with nothing pending are removed from the group.
* A failing batch is retried entry by entry so one poison entry cannot hold back the others.
* Redis unreachable or the store unavailable: one warning when the outage starts, retry with
  capped exponential backoff, one line when it is back (no traceback per entry). The batch in hand
  is held and retried first, without re-reading it, so an outage never counts as a delivery.
* On stop it finishes the batch in hand and deletes itself from the group if it holds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from analyzer.keys import RedisKeys, entry_order
from analyzer.runtime.dead_letter import dead_letter
from analyzer.store.protocol import StoreUnavailableError

log = logging.getLogger(__name__)

Entry = tuple[str, Mapping[str, str]]
MAX_REMEMBERED_ERRORS = 10_000
#: Redis errors that mean "not reachable right now": wait and retry rather than fail.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)
#: A dependency away (Redis, or the store locked or unreachable): the batch in hand is held and
#: retried with backoff, in this process, without counting as a failed delivery.
OUTAGE = (*UNREACHABLE, StoreUnavailableError)


def default_consumer_name() -> str:
    """Stable per replica, so a restarted replica finds its own pending entries at once (``resume_own``):
    the Container Apps replica name, else the host name and ``WORKER_INDEX`` (default 0; give each
    worker process on one host its own index)."""
    replica = os.environ.get("CONTAINER_APP_REPLICA_NAME")
    return replica or f"{socket.gethostname()}-{os.environ.get('WORKER_INDEX', '0')}"


class OutageLog:
    """One warning when a dependency becomes unreachable and one line when it is back, however many
    attempts fail in between (instead of a traceback per entry or per round)."""

    def __init__(self, what: str, logger: logging.Logger = log) -> None:
        self.what = what
        self.logger = logger
        self.since: float | None = None
        self.outages = 0

    def down(self, error: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            self.outages += 1
            self.logger.warning(
                "%s: unreachable (%s: %s); retrying with backoff", self.what, type(error).__name__, error
            )

    def up(self) -> None:
        if self.since is not None:
            self.logger.warning("%s: reachable again after %.1f s", self.what, time.monotonic() - self.since)
            self.since = None


@dataclass(frozen=True)
class ConsumerConfig:
    batch_size: int = 64
    block_ms: int = 1000
    claim_idle_ms: int = 60_000
    max_deliveries: int = 5
    #: Consumers idle this long with nothing pending are removed from the group.
    forget_after_ms: int = 3_600_000
    #: Reconnection backoff bounds while Redis is unreachable.
    backoff_min_s: float = 0.2
    backoff_max_s: float = 10.0


@dataclass
class Handled:
    """What a handler made of a batch."""

    done: list[str] = field(default_factory=list)
    #: (entry id, reason, original fields): dead-lettered, then acknowledged.
    rejected: list[tuple[str, str, Mapping[str, str]]] = field(default_factory=list)
    #: Entries the handler dead-lettered itself: acknowledged, counted as dead letters.
    dead_lettered: list[str] = field(default_factory=list)


@dataclass
class ConsumerStats:
    handled: int = 0
    dead_lettered: int = 0
    failed_batches: int = 0
    claimed: int = 0
    resumed: int = 0
    outages: int = 0


Handler = Callable[[Sequence[Entry]], Awaitable[Handled]]


async def ensure_group(redis: Redis, stream: str, group: str) -> None:
    """Create the consumer group (and the stream) if missing; from the start, so nothing is skipped."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


class StreamConsumer:
    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        stream: str,
        group: str,
        handler: Handler,
        config: ConsumerConfig | None = None,
        consumer: str | None = None,
        *,
        dead_letter_source: str = "analyzer",
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.stream = stream
        self.group = group
        self.handler = handler
        self.config = config or ConsumerConfig()
        self.consumer = consumer or default_consumer_name()
        self.dead_letter_source = dead_letter_source
        self.stats = ConsumerStats()
        self._last_claim = 0.0
        self._last_errors: dict[str, str] = {}
        self._outage = OutageLog(f"consumer {self.consumer}: Redis or the store")
        #: Entries whose processing an outage interrupted: retried first, without re-reading them
        #: (re-reading would count a delivery per attempt and dead-letter them after a long outage).
        self._held: list[Entry] = []

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> ConsumerStats:
        await self._until_reachable(stop, lambda: ensure_group(self.redis, self.stream, self.group))
        log.info("consumer %s reading %s as group %s", self.consumer, self.stream, self.group)
        await self._until_reachable(stop, self.resume_own)
        while not stop.is_set():
            await self._until_reachable(stop, self._tick)
        with contextlib.suppress(*UNREACHABLE, ResponseError):  # leaving is a courtesy; never fail the stop
            await self._leave()
        return self.stats

    async def _tick(self) -> None:
        if time.monotonic() - self._last_claim >= self.config.claim_idle_ms / 1000:
            await self.claim_idle()
        await self.read_once()

    async def _until_reachable(self, stop: asyncio.Event, step: Callable[[], Awaitable[Any]]) -> None:
        """Run ``step``; while Redis is unreachable, back off and retry (one log line per outage)."""
        delay = self.config.backoff_min_s
        while not stop.is_set():
            try:
                if self._held:
                    held, self._held = self._held, []
                    await self.process(held)
                await step()
            except ResponseError as error:
                if not str(error).startswith(("NOGROUP", "UNBLOCKED")):
                    raise
                # The stream or its group is gone (a Redis that lost its data, a deleted key; UNBLOCKED
                # when it went while this reader was blocked): recreate the group from the start of
                # what the stream holds, then go on.
                log.warning("consumer %s: %s; creating the group again", self.consumer, error)
                await ensure_group(self.redis, self.stream, self.group)
                continue
            except OUTAGE as error:
                self._outage.down(error)
                self.stats.outages = self._outage.outages
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, self.config.backoff_max_s)
                continue
            self._outage.up()
            return

    async def resume_own(self) -> int:
        """Take back this consumer's own pending entries (it restarted under the same name)."""
        resumed, start = 0, "0"
        while True:
            response = await self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: start}, count=self.config.batch_size
            )
            entries = _entries(response)
            if not entries:
                break
            resumed += len(entries)
            await self.process(await self._dead_letter_exhausted(entries))
            start = entries[-1][0]
        if resumed:
            self.stats.resumed += resumed
            log.info("consumer %s resumed %d entries it held before a restart", self.consumer, resumed)
        return resumed

    async def read_once(self) -> int:
        """Read and process one batch of new entries; returns how many were read."""
        response = await self.redis.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.config.batch_size,
            block=self.config.block_ms or None,
        )
        entries = _entries(response)
        await self.process(entries)
        return len(entries)

    async def claim_idle(self) -> int:
        """Take over entries idle longer than ``claim_idle_ms`` (a dead consumer's, or our own failures)."""
        self._last_claim = time.monotonic()
        cursor, claimed_total = "0-0", 0
        previous_owners = await self._pending_owners()
        while True:
            cursor, claimed, deleted = await self.redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=self.config.claim_idle_ms,
                start_id=cursor,
                count=self.config.batch_size,
            )
            if deleted:
                # Trimmed out of the window while pending: nothing left to analyse.
                await self.redis.xack(self.stream, self.group, *deleted)
            entries = [(_text(i), _fields(f)) for i, f in claimed if f is not None]
            if entries:
                claimed_total += len(entries)
                await self.process(await self._dead_letter_exhausted(entries))
            if _text(cursor) == "0-0":
                break
        if claimed_total:
            self.stats.claimed += claimed_total
            others = {k: v for k, v in previous_owners.items() if k != self.consumer}
            log.warning(
                "consumer %s took over %d idle entries (pending before: %s)",
                self.consumer,
                claimed_total,
                ", ".join(f"{name}: {count}" for name, count in sorted(others.items())) or "its own",
            )
        await self._forget_dead_consumers()
        return claimed_total

    async def _pending_owners(self) -> dict[str, int]:
        summary = cast(dict[str, Any], await self.redis.xpending(self.stream, self.group))
        return {_text(c["name"]): int(c["pending"]) for c in summary.get("consumers") or []}

    async def _forget_dead_consumers(self) -> None:
        consumers = cast(list[dict[str, Any]], await self.redis.xinfo_consumers(self.stream, self.group))
        for info in consumers:
            name = _text(info["name"])
            if name != self.consumer and int(info["pending"]) == 0 and int(info["idle"]) >= self.config.forget_after_ms:
                await self.redis.xgroup_delconsumer(self.stream, self.group, name)
                log.info(
                    "removed consumer %s from group %s: idle %d s, nothing pending",
                    name,
                    self.group,
                    int(info["idle"]) // 1000,
                )

    async def _dead_letter_exhausted(self, entries: Sequence[Entry]) -> list[Entry]:
        """Dead-letter the entries delivered too often; return the rest."""
        ids = [i for i, _ in entries]
        pending = await self.redis.xpending_range(
            self.stream,
            self.group,
            min=min(ids, key=entry_order),
            max=max(ids, key=entry_order),
            count=len(ids) * 4,
            consumername=self.consumer,
        )
        deliveries = {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        exhausted = [(i, f) for i, f in entries if deliveries.get(i, 0) > self.config.max_deliveries]
        if exhausted:
            reason = f"failed {self.config.max_deliveries} times; giving up"
            await self._reject([(i, _with_last_error(reason, self._last_errors.pop(i, None)), f) for i, f in exhausted])
        exhausted_ids = {i for i, _ in exhausted}
        return [(i, f) for i, f in entries if i not in exhausted_ids]

    async def process(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        try:
            await self._handle_and_ack(entries)
        except OUTAGE:
            self._held = list(entries)
            raise  # an outage, not a poison entry: the loop backs off and retries the batch
        except Exception as error:
            self.stats.failed_batches += 1
            log.warning(
                "batch of %d entries failed (%s: %s); retrying them one by one",
                len(entries),
                type(error).__name__,
                error,
            )
            for position, entry in enumerate(entries):
                try:
                    await self._handle_and_ack([entry])
                    self._last_errors.pop(entry[0], None)
                except OUTAGE:
                    self._held = list(entries[position:])
                    raise
                except Exception as single:
                    log.exception("entry %s failed; it stays pending and will be retried", entry[0])
                    self._last_errors[entry[0]] = f"{type(single).__name__}: {single}"
                    if len(self._last_errors) > MAX_REMEMBERED_ERRORS:
                        del self._last_errors[next(iter(self._last_errors))]

    async def _handle_and_ack(self, entries: Sequence[Entry]) -> None:
        handled = await self.handler(entries)
        await self._reject(handled.rejected)
        acked = handled.done + handled.dead_lettered
        if acked:
            await self.redis.xack(self.stream, self.group, *acked)
        self.stats.handled += len(handled.done)
        self.stats.dead_lettered += len(handled.dead_lettered)

    async def _reject(self, rejected: Sequence[tuple[str, str, Mapping[str, str]]]) -> None:
        if not rejected:
            return
        await dead_letter(self.redis, self.keys, rejected, source=self.dead_letter_source)
        await self.redis.xack(self.stream, self.group, *[i for i, _, _ in rejected])
        self.stats.dead_lettered += len(rejected)
        for entry_id, reason, _ in rejected:
            log.warning("dead-lettered entry %s: %s", entry_id, reason)

    async def _leave(self) -> None:
        """Delete this consumer from the group if it holds nothing, so the group does not fill with ghosts."""
        pending = await self.redis.xpending_range(
            self.stream, self.group, min="-", max="+", count=1, consumername=self.consumer
        )
        if not pending:
            await self.redis.xgroup_delconsumer(self.stream, self.group, self.consumer)
        log.info("consumer %s stopped: %s", self.consumer, self.stats)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(fields: Mapping[Any, Any]) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in fields.items()}


def _entries(response: Any) -> list[Entry]:
    batches = cast(list[tuple[Any, list[tuple[Any, Mapping[Any, Any] | None]]]], response or [])
    return [(_text(i), _fields(f)) for _, batch in batches for i, f in batch if f is not None]


def _with_last_error(reason: str, last_error: str | None) -> str:
    return f"{reason} (last error: {last_error})" if last_error else reason
