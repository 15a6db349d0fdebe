"""The guards in front of every model call: circuit breaker, rate limit, daily token budget.

:meth:`Guards.admit` asks them in that order (cheapest refusal first) and returns either an
:class:`Admission` (make the call, then report with :meth:`Guards.succeeded` /
:meth:`Guards.failed`) or a :class:`Deferral` saying which guard stopped it, why, and when asking
again is worthwhile, so the caller can write the offline text now and the model's later.
Timeouts and retries live with the request itself (:mod:`.retry`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from analyzer.keys import RedisKeys
from analyzer.settings import Settings
from analyzer.tiers.llm.breaker import CircuitBreaker
from analyzer.tiers.llm.quota import Grant, RateLimiter, TokenBudget, seconds_to_next_day
from analyzer.tiers.llm.types import CallUsage
from analyzer.tiers.llm.usage import DeferredBy


@dataclass(frozen=True, slots=True)
class Deferral:
    by: DeferredBy
    reason: str
    retry_after_s: float


@dataclass(frozen=True, slots=True)
class Admission:
    #: This call is the breaker's half-open trial.
    trial: bool
    budget: Grant
    reserved_tokens: int


class Guards:
    def __init__(self, breaker: CircuitBreaker, rate: RateLimiter, budget: TokenBudget) -> None:
        self.breaker = breaker
        self.rate = rate
        self.budget = budget

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis, keys: RedisKeys | None = None) -> Guards:
        keys = keys or RedisKeys(settings.stream_key)
        # A trial that never reports frees its slot after the longest a call can take.
        longest_call_s = settings.llm_max_attempts * (settings.llm_timeout_s + settings.llm_retry_max_wait_s) * 2
        return cls(
            CircuitBreaker(
                redis,
                keys.llm_breaker,
                failures=settings.llm_breaker_failures,
                cooldown_s=settings.llm_breaker_cooldown_s,
                trial_timeout_s=longest_call_s,
            ),
            RateLimiter(redis, keys, settings.llm_calls_per_minute),
            TokenBudget(redis, keys, settings.llm_daily_token_budget),
        )

    async def admit(self, estimated_tokens: int, now: datetime) -> Admission | Deferral:
        verdict = await self.breaker.allow()
        if not verdict.allowed:
            wait_s = verdict.wait_ms / 1000
            return Deferral(
                "circuit",
                f"circuit open: the model service failed {verdict.failures} times in a row; "
                f"next trial call in {math.ceil(wait_s)} s",
                wait_s,
            )
        rate = await self.rate.acquire(now)
        if not rate.granted:
            if verdict.trial:
                await self.breaker.release_trial()
            return Deferral(
                "rate",
                f"rate limit: {self.rate.per_minute} model calls per minute reached",
                self.rate.seconds_to_next_minute(now),
            )
        budget = await self.budget.reserve(estimated_tokens, now)
        if not budget.granted:
            if verdict.trial:
                await self.breaker.release_trial()
            return Deferral(
                "budget",
                f"budget exhausted: {budget.used} of {self.budget.per_day} tokens used today (UTC); "
                f"this call needs up to {estimated_tokens}",
                seconds_to_next_day(now),
            )
        return Admission(trial=verdict.trial, budget=budget, reserved_tokens=estimated_tokens)

    async def succeeded(self, admission: Admission, usage: CallUsage) -> None:
        """The service answered (valid or not): close the breaker, settle the tokens."""
        await self.breaker.record_success()
        await self._settle(admission, usage)

    async def failed(self, admission: Admission, usage: CallUsage) -> None:
        """The service failed (timeout, 5xx, 429 after retries, refused): count it, settle the tokens."""
        await self.breaker.record_failure()
        await self._settle(admission, usage)

    async def abandoned(self, admission: Admission) -> None:
        """The call ended in an unexpected error: keep the reservation (cost unknown), free the trial."""
        if admission.trial:
            await self.breaker.release_trial()

    async def _settle(self, admission: Admission, usage: CallUsage) -> None:
        # A server that reports no usage keeps the reservation: the tokens were spent, count unknown.
        used = usage.total_tokens if usage.total_tokens or not usage.requests else admission.reserved_tokens
        await self.budget.settle(admission.budget, admission.reserved_tokens, used)
