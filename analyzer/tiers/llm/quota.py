"""Limits shared by every replica through Redis: model calls per minute, tokens per UTC day.

Both are single-key Lua scripts, so a check and its increment are one atomic step (no two
replicas can both take the last unit) and they work on a clustered Redis.

The token budget is spent *before* the call: a call reserves an estimate (its prompt, generously
counted, plus the most tokens the answer may have) and is refused when the reservation would
pass the day's budget; afterwards the reservation is corrected to the tokens actually used. So
concurrent calls can never together overrun the budget by more than what the model used beyond
the estimate (at most one retried answer's worth, when an invalid answer is asked again).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis.asyncio import Redis

from analyzer.keys import RedisKeys

# KEYS[1] counter; ARGV: limit, amount, ttl_s. Returns {granted 0|1, value after (or current)}.
_TAKE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[2])
if used + amount > tonumber(ARGV[1]) then return {0, used} end
used = redis.call('INCRBY', KEYS[1], amount)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, used}
"""

BUDGET_TTL_S = 3 * 24 * 3600


def utc_day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def seconds_to_next_day(moment: datetime) -> float:
    """Seconds until the next UTC midnight, when the daily budget starts afresh.

    >>> seconds_to_next_day(datetime(2026, 11, 23, 23, 59, 30, tzinfo=UTC))
    30.0
    """
    utc = moment.astimezone(UTC)
    midnight = datetime(utc.year, utc.month, utc.day, tzinfo=UTC) + timedelta(days=1)
    return (midnight - utc).total_seconds()


@dataclass(frozen=True, slots=True)
class Grant:
    granted: bool
    used: int
    key: str


class RateLimiter:
    """At most ``per_minute`` model calls in each clock minute, across replicas (0 = none)."""

    def __init__(self, redis: Redis, keys: RedisKeys, per_minute: int) -> None:
        self._keys = keys
        self.per_minute = per_minute
        self._take = redis.register_script(_TAKE)

    async def acquire(self, now: datetime) -> Grant:
        key = self._keys.llm_rate(int(now.timestamp()) // 60)
        granted, used = await self._take(keys=[key], args=[self.per_minute, 1, 120])
        return Grant(bool(int(granted)), int(used), key)

    @staticmethod
    def seconds_to_next_minute(now: datetime) -> float:
        return 60 - now.timestamp() % 60


class TokenBudget:
    """At most ``per_day`` tokens per UTC day, across replicas (0 = no model calls)."""

    def __init__(self, redis: Redis, keys: RedisKeys, per_day: int) -> None:
        self._redis = redis
        self._keys = keys
        self.per_day = per_day
        self._take = redis.register_script(_TAKE)

    async def reserve(self, tokens: int, now: datetime) -> Grant:
        key = self._keys.llm_tokens(utc_day(now))
        granted, used = await self._take(keys=[key], args=[self.per_day, max(tokens, 0), BUDGET_TTL_S])
        return Grant(bool(int(granted)), int(used), key)

    async def settle(self, grant: Grant, reserved: int, used: int) -> None:
        """Replace a reservation by the tokens actually used (on the day it was made)."""
        if grant.granted and used != reserved:
            await self._redis.incrby(grant.key, used - reserved)

    async def used(self, now: datetime) -> int:
        return int(await self._redis.get(self._keys.llm_tokens(utc_day(now))) or 0)
