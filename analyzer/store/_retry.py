"""Bounded retries of Cosmos DB calls on throttling and transient failures, and error translation.

The SDK already retries 429 (by default 9 times within 30 s) honouring ``x-ms-retry-after-ms``;
this layer adds a few more attempts after that, and covers 408/449/503 and dropped connections,
which the SDK leaves to the caller. Calls that are not idempotent (create, conditional replace)
are retried only on statuses that guarantee the request was not applied (429, 449, 503), so a
retry never turns our own success into a spurious conflict.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos.exceptions import CosmosHttpResponseError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from analyzer.store.protocol import AlreadyExistsError, ConflictError, NotFoundError, StoreError, StoreUnavailableError

R = TypeVar("R")

#: Not applied by the service: safe to send again whatever the operation.
_NOT_APPLIED = frozenset({429, 449, 503})
#: Possibly applied (timeout, gateway errors): retried only for idempotent operations.
_MAYBE_APPLIED = frozenset({408, 500, 502, 504})
ATTEMPTS = 4
MAX_WAIT_S = 5.0


def _retryable(idempotent: bool) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if isinstance(exc, CosmosHttpResponseError):
            status = exc.status_code or 0
            return status in _NOT_APPLIED or (idempotent and status in _MAYBE_APPLIED)
        return idempotent and isinstance(exc, ServiceRequestError | ServiceResponseError)

    return check


def retry_after_s(exc: BaseException | None, attempt: int) -> float:
    """The service's ``x-ms-retry-after-ms`` (or ``Retry-After``), else exponential backoff; capped."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for name, scale in (("x-ms-retry-after-ms", 1000.0), ("Retry-After", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return min(MAX_WAIT_S, float(value) / scale)
            except ValueError:
                pass
    return min(MAX_WAIT_S, 0.1 * 2 ** (attempt - 1))


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome is not None else None
    return retry_after_s(exc, state.attempt_number)


async def call(operation: str, container: str, fn: Callable[[], Awaitable[R]], *, idempotent: bool = True) -> R:
    """Run ``fn`` with bounded retries; translate the SDK's errors into the store's."""
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_retryable(idempotent)),
            stop=stop_after_attempt(ATTEMPTS),
            wait=_wait,
            reraise=True,
        ):
            with attempt:
                return await fn()
    except CosmosHttpResponseError as exc:
        raise translate(operation, container, exc) from exc
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise StoreUnavailableError(f"{operation} on {container} failed: cannot reach Cosmos DB ({exc})") from exc
    raise AssertionError("unreachable")  # pragma: no cover


def translate(operation: str, container: str, exc: CosmosHttpResponseError) -> StoreError:
    status = exc.status_code
    first_line = str(exc.message or exc).strip().splitlines()[0][:300] if (exc.message or str(exc)) else ""
    text = f"{operation} on {container} failed: HTTP {status} {first_line}"
    if status == 404:
        return NotFoundError(text)
    if status == 409:
        return AlreadyExistsError(text)
    if status == 412:
        return ConflictError(text)
    if status in (408, 429, 449, 500, 502, 503, 504):
        return StoreUnavailableError(text)
    return StoreError(text)
