"""Tier 3's consumer: the ``explainer`` consumer group on the alarm events (``{stream}:alarm-events``).

It reacts to ``opened`` and ``escalated`` events only (an escalation is the opening of a
higher-priority alarm of the same sensor), so the model is asked once per new alarm record, never
per reading; every other event is acknowledged and ignored. For each one it:

1. reads the record as it is now (:meth:`AlarmService.get`); a record resolved or gone meanwhile,
   or already explained for this event (a redelivery), is skipped;
2. asks :meth:`ContextService.explain_from_stream` (evidence, cache, guards, provider, fallback;
   identical situations within ``LLM_CACHE_TTL_S`` get the cached answer);
3. writes the context with :meth:`AlarmService.explain`, a compare-and-set transition of the live
   alarm that never races the worker counting more readings of it;
4. when the context is ``deferred`` (circuit open, rate limit, budget, timeout, 429/5xx), the
   offline text written now carries the reason, and the record goes into the retry queue
   (:mod:`analyzer.runtime.explain_retry`) to be asked again after ``retry_after_s``. Every
   ``EXPLAIN_RETRY_POLL_S`` the consumer claims the due ones; a model answer then replaces the
   offline text, a deferral again only moves the due time (the record keeps its text).

Nothing here is on the analysis path: the worker publishes events and moves on; a model that
hangs holds only this consumer's tasks. Delivery is the stream consumer's (at least once, idle
entries claimed, a poison entry dead-lettered on ``{stream}:alarm-events:dead``), and the skip in
step 1 makes a redelivery free.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import ValidationError
from redis.asyncio import Redis

from analyzer.alarms.service import AlarmNotFound, AlarmService
from analyzer.keys import EXPLAIN_GROUP, RedisKeys
from analyzer.runtime.consumer import UNREACHABLE, ConsumerConfig, Entry, Handled, OutageLog, StreamConsumer
from analyzer.runtime.explain_retry import RetryClaim, RetryQueue
from analyzer.settings import Settings
from analyzer.tiers.llm.evidence import AlarmView
from analyzer.tiers.llm.explain import ContextService
from schemas.alarms import AlarmEvent, AlarmEventKind, AlarmKind, AlarmRecord, ResolvedAlarm
from schemas.llm import AlarmEvent as AskedEvent
from schemas.llm import LLMContext

if TYPE_CHECKING:
    from analyzer.runtime.services import Services

log = logging.getLogger(__name__)

#: The events tier 3 is asked about.
ASKED: frozenset[AlarmEventKind] = frozenset({AlarmEventKind.OPENED, AlarmEventKind.ESCALATED})
#: Alarm kinds whose record evidence is model contributions; the others carry z-scores.
CONTRIBUTION_KINDS = frozenset({AlarmKind.FOREST, AlarmKind.PCA})

Outcome = Literal[
    "ignored", "gone", "already", "ok", "cached", "fallback", "deferred", "rescheduled", "expired", "released"
]


def alarm_view(record: AlarmRecord, event: AskedEvent) -> AlarmView:
    """What tier 3 is told about ``record`` for ``event`` (``opened`` or ``escalated``)."""
    by_sensor = dict(record.evidence)
    contributions = by_sensor if record.kind in CONTRIBUTION_KINDS else {}
    return AlarmView(
        alarm_id=record.id,
        alarm_key=record.alarm_key,
        kind=record.kind.value,  # type: ignore[arg-type]  # the same names (AlarmKind is a StrEnum)
        tier=record.tier,
        priority=record.severity_level.value,  # type: ignore[arg-type]  # Severity's values are the priorities
        event=event,
        sensors=tuple(record.sensors),
        opened_at=record.opened_at,
        last_seen=record.last_seen,
        count=record.count,
        peak_value=record.peak_value,
        peak_deviation=record.peak_deviation,
        last_value=record.last_value,
        description=record.description,
        z_scores={} if contributions else by_sensor,
        contributions=contributions,
    )


def longest_call_s(settings: Settings) -> float:
    """The longest one model call may take: every attempt timing out, the longest wait between them."""
    return settings.llm_max_attempts * (settings.llm_timeout_s + settings.llm_retry_max_wait_s)


class AlarmExplainer:
    """Explains alarm events (the consumer's handler) and retries deferred contexts."""

    def __init__(
        self,
        alarms: AlarmService,
        context: ContextService,
        retries: RetryQueue,
        *,
        concurrency: int = 4,
        retry_min_s: float = 30.0,
        retry_max_age_s: float = 24 * 3600,
    ) -> None:
        self.alarms = alarms
        self.context = context
        self.retries = retries
        self.concurrency = concurrency
        self.retry_min_s = retry_min_s
        self.retry_max_age_s = retry_max_age_s
        self.outcomes: Counter[str] = Counter()
        self._slots = asyncio.Semaphore(concurrency)

    @classmethod
    def from_settings(
        cls, settings: Settings, redis: Redis, keys: RedisKeys, alarms: AlarmService, context: ContextService
    ) -> AlarmExplainer:
        # A claimed retry is held for twice the longest call, so a slow call is never retried twice.
        retries = RetryQueue(redis, keys.llm_retry, lease_s=2 * longest_call_s(settings) + 10)
        return cls(
            alarms,
            context,
            retries,
            concurrency=settings.explain_concurrency,
            retry_min_s=settings.explain_retry_min_s,
            retry_max_age_s=settings.explain_retry_max_age_s,
        )

    # ------------------------------------------------------------------ alarm events

    async def __call__(self, entries: Sequence[Entry]) -> Handled:
        """The stream consumer's handler: one batch of alarm events."""
        handled = Handled()
        asked: list[tuple[str, AlarmEvent]] = []
        for entry_id, fields in entries:
            try:
                event = AlarmEvent.model_validate_json(fields["event"])
            except (KeyError, ValidationError) as error:
                reason = f"not an alarm event: {error}" if isinstance(error, ValidationError) else "no 'event' field"
                handled.rejected.append((entry_id, reason, fields))
                continue
            if event.kind in ASKED:
                asked.append((entry_id, event))
            else:
                self.outcomes["ignored"] += 1
                handled.done.append(entry_id)
        results = await asyncio.gather(*(self.explain_event(event) for _, event in asked), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            # The consumer retries the batch entry by entry; the explained ones are skipped then.
            raise failures[0]
        handled.done += [entry_id for entry_id, _ in asked]
        return handled

    async def explain_event(self, event: AlarmEvent) -> Outcome:
        """Write the context for one ``opened`` or ``escalated`` event; returns what happened."""
        asked: AskedEvent = event.kind.value  # type: ignore[assignment]  # ASKED only
        async with self._slots:
            record = await self._open_record(event.alarm_id)
            if record is None:
                return self._count("gone")
            if record.llm is not None and record.llm.for_event == asked:
                if record.llm.status == "deferred":
                    # Written before a crash that lost the schedule: make sure it is asked again.
                    await self.retries.schedule(event.alarm_id, self._delay(record.llm), keep_existing=True)
                return self._count("already")
            context = await self.context.explain_from_stream(alarm_view(record, asked))
            if await self.alarms.explain(event.alarm_id, context) is None:
                return self._count("gone")  # resolved while the model was thinking
            if context.status == "deferred":
                await self.retries.schedule(event.alarm_id, self._delay(context))
            log.info("tier 3: %s %s: %s (%s)", asked, event.alarm_id, context.status, context.provider)
            return self._count(context.status)

    # ------------------------------------------------------------------ deferred contexts

    async def retry_due(self) -> int:
        """Ask again for the deferred contexts that are due (one batch); returns how many were claimed."""
        claims = await self.retries.claim_due(self.concurrency * 4)
        results = await asyncio.gather(*(self._retry(claim) for claim in claims), return_exceptions=True)
        for claim, result in zip(claims, results, strict=True):
            if isinstance(result, BaseException):
                # The claim lapses after its lease and the record is due again: nothing is lost.
                log.warning(
                    "tier 3: retry of %s failed (%s: %s); asking again after the lease",
                    claim.alarm_id,
                    type(result).__name__,
                    result,
                )
        return len(claims)

    async def _retry(self, claim: RetryClaim) -> Outcome:
        async with self._slots:
            record = await self._open_record(claim.alarm_id)
            if record is None or record.llm is None or record.llm.status != "deferred":
                await self.retries.release(claim)
                return self._count("released")
            age = datetime.now(UTC) - record.opened_at
            if self.retry_max_age_s and age > timedelta(seconds=self.retry_max_age_s):
                log.warning(
                    "tier 3: %s opened %.1f h ago; the offline text stays (EXPLAIN_RETRY_MAX_AGE_S)",
                    claim.alarm_id,
                    age.total_seconds() / 3600,
                )
                await self.retries.release(claim)
                return self._count("expired")
            context = await self.context.explain_from_stream(alarm_view(record, record.llm.for_event))
            if context.status == "deferred":
                # Still deferred: the record keeps the offline text and its reason; only the due time moves.
                await self.retries.reschedule(claim, self._delay(context))
                return self._count("rescheduled")
            await self.alarms.explain(claim.alarm_id, context)
            await self.retries.release(claim)
            log.info("tier 3: retried %s: %s (%s)", claim.alarm_id, context.status, context.provider)
            return self._count(context.status)

    async def run_retries(self, stop: asyncio.Event, *, every_s: float) -> None:
        """Poll the retry queue until ``stop``; a failed round is logged and the next one retries."""
        outage = OutageLog("tier 3 retries: Redis", log)
        while not stop.is_set():
            try:
                while await self.retry_due() >= self.concurrency * 4 and not stop.is_set():
                    pass  # a backlog: keep going
                outage.up()
            except UNREACHABLE as error:
                outage.down(error)
            except Exception:
                log.exception("tier 3 retries: the round failed; next round in %.0f s", every_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)

    # ------------------------------------------------------------------ helpers

    async def _open_record(self, alarm_id: str) -> AlarmRecord | None:
        """The record if it is still open (a resolved one is no longer worth a model call)."""
        try:
            record = await self.alarms.get(alarm_id)
        except AlarmNotFound:
            return None
        return None if isinstance(record, ResolvedAlarm) else record

    def _delay(self, context: LLMContext) -> float:
        return max(context.retry_after_s or 0.0, self.retry_min_s)

    def _count(self, outcome: Outcome) -> Outcome:
        self.outcomes[outcome] += 1
        return outcome


def explanation_consumer(
    redis: Redis,
    keys: RedisKeys,
    explainer: AlarmExplainer,
    config: ConsumerConfig | None = None,
    consumer: str | None = None,
) -> StreamConsumer:
    """The ``explainer`` group's member on the alarm events. Its dead letters go to the events
    stream's own dead-letter stream (``{stream}:alarm-events:dead``), not the readings' one."""
    return StreamConsumer(
        redis, RedisKeys(keys.alarm_events), keys.alarm_events, EXPLAIN_GROUP, explainer, config, consumer
    )


def consumer_config(settings: Settings) -> ConsumerConfig:
    """One batch is explained at once, so a batch takes about one model call: entries are claimed
    from a consumer only after twice the longest call (or ``WORKER_CLAIM_IDLE_MS`` if longer)."""
    return ConsumerConfig(
        batch_size=settings.explain_concurrency,
        block_ms=settings.worker_block_ms,
        claim_idle_ms=max(settings.worker_claim_idle_ms, int(2 * longest_call_s(settings) * 1000)),
        max_deliveries=settings.worker_max_deliveries,
    )


async def run_explainer(
    services: Services,
    stop: asyncio.Event,
    *,
    context: ContextService | None = None,
    consumer: str | None = None,
    config: ConsumerConfig | None = None,
) -> AlarmExplainer:
    """Run tier 3's consumer and its retries on ``services`` until ``stop``; returns the explainer
    (its ``outcomes``). ``context`` defaults to the one ``services.settings`` describe (closed here)."""
    settings = services.settings
    owned = context is None
    context = context or ContextService.from_settings(settings, services.redis, catalog=services.index.catalog)
    explainer = AlarmExplainer.from_settings(settings, services.redis, services.keys, services.alarms, context)
    member = explanation_consumer(
        services.redis,
        services.keys,
        explainer,
        config or consumer_config(settings),
        consumer or settings.worker_consumer_name,
    )
    log.info("tier 3: explaining alarm events with provider %s", context.explainer.provider)
    try:
        await asyncio.gather(member.run(stop), explainer.run_retries(stop, every_s=settings.explain_retry_poll_s))
    finally:
        if owned:
            await context.aclose()
    return explainer
