"""A circuit breaker around the model service, shared by every replica through one Redis hash.

* **closed**: calls go through; each failed call counts, a successful one resets the count.
* **open**: after ``failures`` consecutive failed calls, no call goes through for ``cooldown_s``.
* **half-open**: after the cool-down exactly one call (the trial) goes through; the others stay
  refused while it runs. Its success closes the breaker; its failure opens it for another
  cool-down. A trial that never reports (its replica died) expires after ``trial_timeout_s``.

Shared, because a model service that is down is down for every replica: once one replica has
seen enough failures, the others stop waiting on timeouts too. Times come from the Redis
server's clock (``TIME`` inside the scripts), so replicas with skewed clocks agree. The count
expires after a quiet day so failures days apart are not "consecutive".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

# KEYS[1] breaker hash; ARGV: threshold, trial_timeout_ms. Returns {verdict, wait_ms, failures}:
# verdict 1 = closed, 2 = trial granted, 0 = refused (open, or a trial already running).
_ALLOW = """
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if failures < tonumber(ARGV[1]) then return {1, 0, failures} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if now < open_until then return {0, open_until - now, failures} end
local trial_until = tonumber(redis.call('HGET', KEYS[1], 'trial_until') or '0')
if now < trial_until then return {0, trial_until - now, failures} end
redis.call('HSET', KEYS[1], 'trial_until', now + tonumber(ARGV[2]))
return {2, 0, failures}
"""

# KEYS[1] breaker hash; ARGV: threshold, cooldown_ms, expire_ms. Returns the failure count.
_FAILED = """
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[1]) then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[1], 'open_until', now + tonumber(ARGV[2]))
  redis.call('HDEL', KEYS[1], 'trial_until')
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return failures
"""

BreakerState = Literal["closed", "open", "half-open"]
QUIET_RESET_MS = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class BreakerVerdict:
    allowed: bool
    #: True when this call is the half-open trial: report its outcome.
    trial: bool = False
    #: When refused: milliseconds until a trial may be made.
    wait_ms: int = 0
    failures: int = 0


class CircuitBreaker:
    def __init__(
        self, redis: Redis, key: str, *, failures: int = 5, cooldown_s: float = 60.0, trial_timeout_s: float = 120.0
    ) -> None:
        self._redis = redis
        self._key = key
        self.threshold = failures
        self.cooldown_ms = int(cooldown_s * 1000)
        self.trial_timeout_ms = int(trial_timeout_s * 1000)
        self._allow = redis.register_script(_ALLOW)
        self._failed = redis.register_script(_FAILED)

    async def allow(self) -> BreakerVerdict:
        verdict, wait_ms, failures = await self._allow(keys=[self._key], args=[self.threshold, self.trial_timeout_ms])
        return BreakerVerdict(
            allowed=int(verdict) > 0, trial=int(verdict) == 2, wait_ms=int(wait_ms), failures=int(failures)
        )

    async def record_success(self) -> None:
        """The service answered: close the breaker and forget the failures."""
        await self._redis.delete(self._key)

    async def record_failure(self) -> int:
        """One more consecutive failure; opens (or re-opens) the breaker at the threshold."""
        expire_ms = max(QUIET_RESET_MS, 4 * self.cooldown_ms)
        return int(await self._failed(keys=[self._key], args=[self.threshold, self.cooldown_ms, expire_ms]))

    async def release_trial(self) -> None:
        """A granted trial that was not made (another guard stopped it): let the next call try."""
        await self._redis.hdel(self._key, "trial_until")

    async def state(self) -> BreakerState:
        failures, open_until = await self._redis.hmget(self._key, ["failures", "open_until"])
        if int(failures or 0) < self.threshold:
            return "closed"
        seconds, micros = await self._redis.time()
        return "open" if int(seconds) * 1000 + int(micros) // 1000 < int(open_until or 0) else "half-open"
