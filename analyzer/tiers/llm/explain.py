"""Tier 3's service: one alarm event in, the operator's context out.

:meth:`ContextService.explain` runs evidence -> cache -> guards -> provider -> fallback -> usage:

1. the evidence is built from the alarm, the catalogue and the last hour;
2. the ``offline`` provider answers at once (status ``ok``, ``offline: true``);
3. otherwise an answer cached for the same situation is reused (status ``cached``);
4. the guards may stop the call (circuit open, rate limit, budget): the offline text is written
   now with status ``deferred``, the reason in ``failure`` and ``retry_after_s``;
5. the model is asked. A valid answer is stored in the cache (status ``ok``). A transient
   failure (timeout, 429, 5xx after the retries) gives the offline text, ``deferred``; an answer
   invalid twice or a refused request gives the offline text, ``fallback``, with the reason;
6. every context is counted in the day's usage (tokens, latency, outcome).

It never raises for the model service's sake, so its caller (the episode-events consumer) can
store whatever comes back, and ask again later for ``deferred`` contexts. It holds no state
between calls beyond its clients: replicas share the guards, cache and usage through Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from redis.asyncio import Redis

from analyzer.catalog import load_catalog
from analyzer.keys import RedisKeys
from analyzer.settings import Settings
from analyzer.tiers.llm.cache import AnswerCache, fingerprint
from analyzer.tiers.llm.evidence import AlarmEvidence, AlarmView, EvidenceLimits, Sample, build_evidence, read_recent
from analyzer.tiers.llm.guard import Admission, Deferral, Guards
from analyzer.tiers.llm.offline import OFFLINE_MODEL, offline_answer
from analyzer.tiers.llm.prompt import build_messages, estimate_prompt_tokens
from analyzer.tiers.llm.providers import Explainer, TokenProvider, build_explainer
from analyzer.tiers.llm.quota import utc_day
from analyzer.tiers.llm.types import AnswerRejected, CallUsage, Explanation, ServiceRefused, ServiceUnavailable
from analyzer.tiers.llm.usage import DeferredBy, Outcome, record_usage
from schemas.catalog import SensorCatalog
from schemas.llm import ContextAnswer, ContextStatus, LLMContext, ProviderName

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ContextService:
    """Writes tier 3's context for alarm events. Build it with :meth:`from_settings`."""

    def __init__(
        self,
        *,
        explainer: Explainer,
        redis: Redis,
        keys: RedisKeys,
        catalog: SensorCatalog,
        guards: Guards,
        cache: AnswerCache,
        limits: EvidenceLimits | None = None,
        max_completion_tokens: int = 700,
        recent_window_s: float = 3600,
        recent_max_entries: int = 720,
        usage_retention_days: int = 400,
        clock: Clock = _utc_now,
    ) -> None:
        self.explainer = explainer
        self.redis = redis
        self.keys = keys
        self.catalog = catalog
        self.guards = guards
        self.cache = cache
        self.limits = limits or EvidenceLimits()
        self.max_completion_tokens = max_completion_tokens
        self.recent_window_s = recent_window_s
        self.recent_max_entries = recent_max_entries
        self.usage_retention_days = usage_retention_days
        self.clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        redis: Redis,
        *,
        catalog: SensorCatalog | None = None,
        explainer: Explainer | None = None,
        token_provider: TokenProvider | None = None,
        clock: Clock = _utc_now,
    ) -> ContextService:
        """The service ``settings`` describe, on ``redis`` (any client; ``decode_responses`` either way).

        ``catalog`` defaults to ``SENSOR_CATALOG``; ``explainer`` to the provider ``LLM_PROVIDER``
        names; ``token_provider`` replaces Entra ID for ``azure-openai`` without a key.
        """
        keys = RedisKeys(settings.stream_key)
        return cls(
            explainer=explainer or build_explainer(settings, token_provider=token_provider),
            redis=redis,
            keys=keys,
            catalog=catalog or load_catalog(settings.sensor_catalog),
            guards=Guards.from_settings(settings, redis, keys),
            cache=AnswerCache(redis, keys, settings.llm_cache_ttl_s),
            limits=EvidenceLimits(max_sensors=settings.llm_max_sensors, max_moved=settings.llm_max_moved_sensors),
            max_completion_tokens=settings.llm_max_completion_tokens,
            recent_window_s=settings.llm_recent_window_s,
            recent_max_entries=settings.llm_recent_max_entries,
            usage_retention_days=settings.llm_usage_retention_days,
            clock=clock,
        )

    async def aclose(self) -> None:
        await self.explainer.aclose()

    async def explain_from_stream(self, view: AlarmView, *, now: datetime | None = None) -> LLMContext:
        """:meth:`explain` with the last hour read from the stream, up to ``now`` (default: the
        alarm's ``last_seen``, so a context asked again later still describes that moment)."""
        history = await read_recent(
            self.redis,
            self.keys.stream,
            None,
            window_s=self.recent_window_s,
            now=now or view.last_seen,
            max_entries=self.recent_max_entries,
        )
        return await self.explain(view, history, history)

    async def explain(
        self, view: AlarmView, recent_all: Sequence[Sample], recent_involved: Sequence[Sample]
    ) -> LLMContext:
        """The context for one alarm event (see the module docstring for the steps)."""
        evidence = build_evidence(view, self.catalog, recent_involved, recent_all, limits=self.limits)
        if self.explainer.provider == "offline":
            explanation = await self.explainer.explain(evidence)
            return await self._finish(view, explanation, "ok", outcome="offline")
        provider, model = self.explainer.provider, self.explainer.model
        situation = fingerprint(evidence, provider, model)
        cached = await self.cache.get(situation)
        if cached is not None:
            return await self._store(
                view, cached.answer, provider=cached.provider, model=cached.model, status="cached", offline=False
            )
        estimate = estimate_prompt_tokens(build_messages(evidence)) + self.max_completion_tokens
        verdict = await self.guards.admit(estimate, self.clock())
        if isinstance(verdict, Deferral):
            return await self._offline(
                view, evidence, "deferred", verdict.reason, retry_after_s=verdict.retry_after_s, deferred_by=verdict.by
            )
        return await self._call(view, evidence, verdict, situation)

    async def _call(self, view: AlarmView, evidence: AlarmEvidence, admission: Admission, situation: str) -> LLMContext:
        try:
            explanation = await self.explainer.explain(evidence)
        except ServiceUnavailable as failure:
            await self.guards.failed(admission, failure.usage)
            log.warning("tier 3: %s deferred: %s", view.alarm_id, failure.reason)
            return await self._offline(
                view,
                evidence,
                "deferred",
                failure.reason,
                usage=failure.usage,
                retry_after_s=failure.retry_after_s,
                deferred_by="service",
            )
        except ServiceRefused as failure:
            await self.guards.failed(admission, failure.usage)
            log.error("tier 3: %s: the model service refused the request: %s", view.alarm_id, failure.reason)
            return await self._offline(view, evidence, "fallback", failure.reason, usage=failure.usage)
        except AnswerRejected as failure:
            await self.guards.succeeded(admission, failure.usage)
            log.warning("tier 3: %s: %s", view.alarm_id, failure.reason)
            return await self._offline(view, evidence, "fallback", failure.reason, usage=failure.usage)
        except BaseException:
            await self.guards.abandoned(admission)
            raise
        await self.guards.succeeded(admission, explanation.usage)
        await self.cache.put(situation, explanation.answer, explanation.provider, explanation.model, self.clock())
        return await self._finish(view, explanation, "ok", outcome="ok")

    async def _offline(
        self,
        view: AlarmView,
        evidence: AlarmEvidence,
        status: ContextStatus,
        failure: str,
        *,
        usage: CallUsage | None = None,
        retry_after_s: float | None = None,
        deferred_by: DeferredBy | None = None,
    ) -> LLMContext:
        """The offline text standing in for the model's, with why."""
        return await self._store(
            view,
            offline_answer(evidence),
            provider="offline",
            model=OFFLINE_MODEL,
            status=status,
            offline=True,
            failure=failure,
            retry_after_s=retry_after_s,
            usage=usage,
            outcome=status,
            deferred_by=deferred_by,
            called_model=usage is not None,
        )

    async def _finish(
        self, view: AlarmView, explanation: Explanation, status: ContextStatus, outcome: Outcome
    ) -> LLMContext:
        return await self._store(
            view,
            explanation.answer,
            provider=explanation.provider,
            model=explanation.model,
            status=status,
            offline=explanation.offline,
            usage=explanation.usage,
            outcome=outcome,
            called_model=not explanation.offline,
        )

    async def _store(
        self,
        view: AlarmView,
        answer: ContextAnswer,
        *,
        provider: ProviderName,
        model: str,
        status: ContextStatus,
        offline: bool,
        failure: str | None = None,
        retry_after_s: float | None = None,
        usage: CallUsage | None = None,
        outcome: Outcome | None = None,
        deferred_by: DeferredBy | None = None,
        called_model: bool = False,
    ) -> LLMContext:
        now = self.clock()
        usage = usage or CallUsage()
        await record_usage(
            self.redis,
            self.keys,
            day=utc_day(now),
            outcome=outcome or status,  # type: ignore[arg-type]  # statuses are outcomes
            usage=usage,
            called_model=called_model,
            deferred_by=deferred_by,
            retention_days=self.usage_retention_days,
        )
        return LLMContext(
            **answer.model_dump(),
            provider=provider,
            model=model,
            status=status,
            failure=failure,
            retry_after_s=None if retry_after_s is None else round(retry_after_s, 3),
            for_priority=view.priority,
            for_event=view.event,
            generated_at=now,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            latency_ms=round(usage.latency_ms, 1),
            offline=offline,
        )
