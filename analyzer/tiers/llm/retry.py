"""Retries of one model request: 429 and 5xx (and 408/409, connection failures) are retried with
jittered exponential back-off, or after exactly what ``Retry-After`` asks (plus up to 10 %).

The SDK's own retries are switched off (``max_retries=0`` on the client) so the two never
multiply: ``max_attempts`` here is the number of HTTP requests one call may make. A timeout is
not retried: a service that hangs for the whole timeout rarely answers a second later, and the
breaker and the deferred context handle it. A ``Retry-After`` longer than ``max_wait_s`` is not
waited for: the call gives up at once and says when to come back.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from openai import APIConnectionError, APIStatusError, APITimeoutError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_random_exponential

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3
    max_wait_s: float = 20.0
    #: First back-off without Retry-After; it doubles per attempt, randomised in [0, that].
    initial_wait_s: float = 0.5


def retry_after_s(error: BaseException) -> float | None:
    """Seconds a 429/503 response asks to wait (``retry-after-ms``, ``retry-after`` in seconds or
    as an HTTP date), else ``None``."""
    if not isinstance(error, APIStatusError):
        return None
    headers = error.response.headers
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return max(float(raw_ms) / 1000, 0.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(float(raw), 0.0)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max((moment - datetime.now(UTC)).total_seconds(), 0.0)


def is_transient(error: BaseException) -> bool:
    """Load or outage rather than a refused request: worth asking again later."""
    if isinstance(error, APIConnectionError):  # includes APITimeoutError
        return True
    return isinstance(error, APIStatusError) and (error.status_code in RETRYABLE_STATUS or error.status_code >= 500)


def should_retry_now(error: BaseException, policy: RetryPolicy) -> bool:
    if isinstance(error, APITimeoutError) or not is_transient(error):
        return False
    wait = retry_after_s(error)
    return wait is None or wait <= policy.max_wait_s


class _WaitRetryAfter:
    """Retry-After when the response has one (plus 0-10 % jitter so replicas do not return in
    step), else jittered exponential back-off."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_random_exponential(multiplier=policy.initial_wait_s, max=policy.max_wait_s)
        self._max = policy.max_wait_s

    def __call__(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = retry_after_s(error) if error else None
        if asked is not None:
            return min(asked * (1 + 0.1 * random.random()), self._max)
        return float(self._backoff(state))


async def call_with_retries(attempt: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run ``attempt`` until it succeeds, fails for good, or ``policy.max_attempts`` are spent;
    the last error is raised as it was."""
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts),
        wait=_WaitRetryAfter(policy),
        retry=retry_if_exception(lambda error: should_retry_now(error, policy)),
        reraise=True,
    )
    return await retrying(attempt)
