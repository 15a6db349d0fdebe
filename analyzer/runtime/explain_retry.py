"""Deferred tier 3 contexts waiting to be asked again: ``{stream}:llm:retry``, a Redis sorted set of
alarm record ids scored by when to ask (milliseconds of the Redis server's clock, so replicas with
skewed clocks agree).

* :meth:`RetryQueue.schedule` puts an id in (or moves it) to ``now + delay``.
* :meth:`RetryQueue.claim_due` takes up to ``count`` due ids in one script and pushes each one's
  score to ``now + lease``: the claimer holds it for the lease, nobody else sees it due meanwhile,
  so two consumers never retry the same record at once. The new score is the claim's token.
* When the claimer is done, :meth:`RetryQueue.release` removes the id, and
  :meth:`RetryQueue.reschedule` moves it to a new due time, both only if the score is still its
  token (a newer schedule wins over a stale claimer).
* A claimer that dies holds nothing for long: its lease ends and the id is due again. The set
  lives in Redis, so a restart loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: KEYS[1] the set. ARGV: id, delay_ms, '1' to keep an existing schedule. Returns 1 if written.
_SCHEDULE = (
    _NOW
    + """
if ARGV[3] == '1' then return redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[2]), ARGV[1]) end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""
)

#: KEYS[1] the set. ARGV: count, lease_ms. Returns {lease score, id, id, ...}.
_CLAIM = (
    _NOW
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local lease = now + tonumber(ARGV[2])
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], lease, id) end
return {lease, unpack(due)}
"""
)

#: KEYS[1] the set. ARGV: id, lease score, delay_ms ('' = remove). Returns 1 if the claim still held.
_SETTLE = (
    _NOW
    + """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
end
return 1
"""
)


@dataclass(frozen=True, slots=True)
class RetryClaim:
    """An alarm record id claimed for one retry, until ``lease`` (ms, Redis time)."""

    alarm_id: str
    lease: str


class RetryQueue:
    def __init__(self, redis: Redis, key: str, *, lease_s: float) -> None:
        self.redis = redis
        self.key = key
        self.lease_ms = max(int(lease_s * 1000), 1)
        self._schedule = redis.register_script(_SCHEDULE)
        self._claim = redis.register_script(_CLAIM)
        self._settle = redis.register_script(_SETTLE)

    async def schedule(self, alarm_id: str, delay_s: float, *, keep_existing: bool = False) -> bool:
        """Ask again for ``alarm_id`` in ``delay_s``; with ``keep_existing``, only if not scheduled yet."""
        written = await self._schedule(keys=[self.key], args=[alarm_id, _ms(delay_s), "1" if keep_existing else "0"])
        return bool(int(written))

    async def claim_due(self, count: int) -> list[RetryClaim]:
        reply = cast(list[Any], await self._claim(keys=[self.key], args=[count, self.lease_ms]))
        lease, ids = _text(reply[0]), [_text(item) for item in reply[1:]]
        return [RetryClaim(alarm_id, lease) for alarm_id in ids]

    async def release(self, claim: RetryClaim) -> bool:
        """Done with it: remove the id, unless it was scheduled again since the claim."""
        return bool(int(await self._settle(keys=[self.key], args=[claim.alarm_id, claim.lease, ""])))

    async def reschedule(self, claim: RetryClaim, delay_s: float) -> bool:
        """Deferred again: ask in ``delay_s``, unless it was scheduled again since the claim."""
        return bool(int(await self._settle(keys=[self.key], args=[claim.alarm_id, claim.lease, _ms(delay_s)])))

    async def waiting(self) -> dict[str, float]:
        """Every id with its due time (epoch seconds), soonest first."""
        pairs = cast(list[tuple[Any, float]], await self.redis.zrange(self.key, 0, -1, withscores=True))
        return {_text(alarm_id): float(score) / 1000 for alarm_id, score in pairs}


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
