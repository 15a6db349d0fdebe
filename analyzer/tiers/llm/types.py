"""What a provider returns, and how it fails. Shared by the providers and the service."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.llm import ContextAnswer, ProviderName


@dataclass(frozen=True, slots=True)
class CallUsage:
    """Tokens, time and HTTP requests spent on one explanation (all attempts together).

    >>> CallUsage(10, 5, 1.5, 1) + CallUsage(3, 2, 0.5, 1)
    CallUsage(prompt_tokens=13, completion_tokens=7, latency_ms=2.0, requests=2)
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    requests: int = 0

    def __add__(self, other: CallUsage) -> CallUsage:
        return CallUsage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.latency_ms + other.latency_ms,
            self.requests + other.requests,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class Explanation:
    """A provider's valid answer for one alarm event."""

    answer: ContextAnswer
    provider: ProviderName
    model: str
    usage: CallUsage
    offline: bool = False


class ExplainFailed(Exception):
    """A provider could not give a valid answer; ``reason`` is for the operator and the logs."""

    def __init__(self, reason: str, usage: CallUsage | None = None, *, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.usage = usage or CallUsage()
        self.retry_after_s = retry_after_s


class ServiceUnavailable(ExplainFailed):
    """Transient: timeout, connection failure, 429 or 5xx after the retries. Ask again later."""


class ServiceRefused(ExplainFailed):
    """The service refused the request (400, 401, 403, 404, ...): configuration, not load."""


class AnswerRejected(ExplainFailed):
    """The model answered twice, and neither answer was valid."""
