"""The guards, shared by replicas through the real Redis: circuit breaker, rate limit, token budget."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from analyzer.keys import RedisKeys
from analyzer.tiers.llm.breaker import CircuitBreaker
from analyzer.tiers.llm.guard import Admission, Deferral, Guards
from analyzer.tiers.llm.quota import RateLimiter, TokenBudget
from analyzer.tiers.llm.types import CallUsage

pytestmark = pytest.mark.redis

NOON = datetime(2026, 11, 23, 12, 0, 30, tzinfo=UTC)


def replicas(redis: Redis, stream_key: str, **options: float) -> tuple[CircuitBreaker, CircuitBreaker]:
    key = RedisKeys(stream_key).llm_breaker
    return CircuitBreaker(redis, key, **options), CircuitBreaker(redis, key, **options)  # type: ignore[arg-type]


async def test_the_breaker_opens_after_consecutive_failures_for_every_replica(
    redis_client: Redis, stream_key: str
) -> None:
    one, other = replicas(redis_client, stream_key, failures=3, cooldown_s=30)
    await one.record_failure()
    await other.record_failure()
    await one.record_success()  # a success in between: not consecutive
    assert await one.state() == "closed"
    for replica in (one, other, one):
        assert (await replica.allow()).allowed
        await replica.record_failure()
    assert await other.state() == "open"
    verdict = await other.allow()  # the other replica is refused too
    assert not verdict.allowed and verdict.failures == 3
    assert 29_000 < verdict.wait_ms <= 30_000


async def test_after_the_cooldown_one_trial_goes_through_and_its_success_closes_the_breaker(
    redis_client: Redis, stream_key: str
) -> None:
    one, other = replicas(redis_client, stream_key, failures=2, cooldown_s=0.3, trial_timeout_s=30)
    await one.record_failure()
    await one.record_failure()
    assert not (await one.allow()).allowed
    await asyncio.sleep(0.35)
    assert await one.state() == "half-open"
    trial = await one.allow()
    assert trial.allowed and trial.trial
    blocked = await other.allow()  # while the trial runs, everyone else waits
    assert not blocked.allowed and blocked.wait_ms > 0
    await one.record_success()
    assert await other.state() == "closed"
    assert (await other.allow()).allowed and not (await other.allow()).trial


async def test_a_failed_trial_opens_the_breaker_for_another_cooldown(redis_client: Redis, stream_key: str) -> None:
    one, _ = replicas(redis_client, stream_key, failures=2, cooldown_s=0.3)
    await one.record_failure()
    await one.record_failure()
    await asyncio.sleep(0.35)
    assert (await one.allow()).trial
    await one.record_failure()
    assert await one.state() == "open"
    verdict = await one.allow()
    assert not verdict.allowed and 200 < verdict.wait_ms <= 300


async def test_a_trial_not_made_is_released_for_the_next_call(redis_client: Redis, stream_key: str) -> None:
    one, other = replicas(redis_client, stream_key, failures=1, cooldown_s=0.1)
    await one.record_failure()
    await asyncio.sleep(0.15)
    assert (await one.allow()).trial
    await one.release_trial()
    assert (await other.allow()).trial


async def test_the_rate_limit_is_shared_and_exact_under_concurrency(redis_client: Redis, stream_key: str) -> None:
    keys = RedisKeys(stream_key)
    a, b = RateLimiter(redis_client, keys, 5), RateLimiter(redis_client, keys, 5)
    grants = await asyncio.gather(*(limiter.acquire(NOON) for limiter in [a, b] * 10))
    assert sum(g.granted for g in grants) == 5
    assert (await a.acquire(NOON + timedelta(minutes=1))).granted  # a new minute
    assert RateLimiter.seconds_to_next_minute(NOON) == pytest.approx(29.5, abs=0.6)


async def test_the_daily_budget_is_reserved_atomically_and_settled_to_what_was_used(
    redis_client: Redis, stream_key: str
) -> None:
    keys = RedisKeys(stream_key)
    a, b = TokenBudget(redis_client, keys, 10_000), TokenBudget(redis_client, keys, 10_000)
    grants = await asyncio.gather(*(budget.reserve(1_500, NOON) for budget in [a, b] * 5))
    granted = [g for g in grants if g.granted]
    assert len(granted) == 6  # 6 x 1500 = 9000 <= 10000 < 7 x 1500, whatever the interleaving
    for grant in granted:
        await a.settle(grant, 1_500, 500)  # each call used 500 tokens in the end
    assert await b.used(NOON) == 3_000
    assert (await b.reserve(7_000, NOON)).granted
    refused = await a.reserve(1, NOON)
    assert not refused.granted and refused.used == 10_000
    assert (await a.reserve(7_000, NOON + timedelta(days=1))).granted  # a new UTC day


async def test_the_guards_say_which_one_stopped_a_call_and_when_to_come_back(
    redis_client: Redis, stream_key: str
) -> None:
    keys = RedisKeys(stream_key)
    breaker = CircuitBreaker(redis_client, keys.llm_breaker, failures=1, cooldown_s=0.2)
    guards = Guards(breaker, RateLimiter(redis_client, keys, 1), TokenBudget(redis_client, keys, 1_000))

    budget = await guards.admit(5_000, NOON)
    assert isinstance(budget, Deferral) and budget.by == "budget"
    assert budget.reason == "budget exhausted: 0 of 1000 tokens used today (UTC); this call needs up to 5000"
    assert budget.retry_after_s == 12 * 3600 - 30  # to the next UTC midnight

    admitted = await guards.admit(800, NOON + timedelta(minutes=1))
    assert isinstance(admitted, Admission) and not admitted.trial
    await guards.failed(admitted, CallUsage(prompt_tokens=100, completion_tokens=20, requests=3))
    assert await guards.budget.used(NOON) == 120  # settled to what the failed call used

    circuit = await guards.admit(10, NOON + timedelta(minutes=2))
    assert isinstance(circuit, Deferral) and circuit.by == "circuit"
    assert circuit.reason.startswith("circuit open: the model service failed 1 times in a row")

    await asyncio.sleep(0.25)  # half-open: the breaker grants the trial, then the rate limit stops the call
    later = NOON + timedelta(minutes=3)
    assert (await guards.rate.acquire(later)).granted  # another replica took this minute's only call
    stopped = await guards.admit(10, later)
    assert isinstance(stopped, Deferral) and stopped.by == "rate"
    assert stopped.reason == "rate limit: 1 model calls per minute reached"
    assert (await breaker.allow()).trial  # the trial the rate limit stopped was released for the next call
