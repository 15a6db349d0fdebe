"""What tier 3 spent, per UTC day, in Redis: contexts by outcome, model calls, HTTP requests,
tokens and latency (``{stream}:llm:usage:{day}``, a hash of counters, kept
``LLM_USAGE_RETENTION_DAYS``). :func:`daily_usage` reads it back with the estimated cost at the
configured prices, for ``sensor-analyzer report`` and the operator API's statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from redis.asyncio import Redis

from analyzer.keys import RedisKeys
from analyzer.settings import Settings
from analyzer.tiers.llm.types import CallUsage
from schemas.llm import LLMDailyUsage

Outcome = Literal["ok", "cached", "fallback", "deferred", "offline"]
DeferredBy = Literal["budget", "rate", "circuit", "service"]


@dataclass(frozen=True)
class Prices:
    """Price per 1000 prompt (input) and completion (output) tokens."""

    input_per_1k: float
    output_per_1k: float
    currency: str = "USD"

    @classmethod
    def from_settings(cls, settings: Settings) -> Prices:
        return cls(settings.llm_price_input_per_1k, settings.llm_price_output_per_1k, settings.llm_price_currency)

    @classmethod
    def default(cls) -> Prices:
        """The settings' default prices (``LLM_PRICE_*`` unset)."""
        fields = Settings.model_fields
        return cls(
            fields["llm_price_input_per_1k"].default,
            fields["llm_price_output_per_1k"].default,
            fields["llm_price_currency"].default,
        )

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """
        >>> Prices(0.15, 0.6).cost(2000, 500)
        0.6
        """
        return round(prompt_tokens / 1000 * self.input_per_1k + completion_tokens / 1000 * self.output_per_1k, 6)


async def record_usage(
    redis: Redis,
    keys: RedisKeys,
    *,
    day: str,
    outcome: Outcome,
    usage: CallUsage,
    called_model: bool,
    deferred_by: DeferredBy | None = None,
    retention_days: int = 400,
) -> None:
    """Count one context written on ``day`` (UTC), and the model call behind it if one was made."""
    key = keys.llm_usage(day)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hincrby(key, "contexts", 1)
        pipe.hincrby(key, f"outcome:{outcome}", 1)
        if deferred_by:
            pipe.hincrby(key, f"deferred:{deferred_by}", 1)
        if called_model:
            pipe.hincrby(key, "calls", 1)
            pipe.hincrby(key, "requests", usage.requests)
            pipe.hincrby(key, "prompt_tokens", usage.prompt_tokens)
            pipe.hincrby(key, "completion_tokens", usage.completion_tokens)
            pipe.hincrbyfloat(key, "latency_ms", usage.latency_ms)
        pipe.expire(key, retention_days * 24 * 3600)
        await pipe.execute()


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def daily_usage(
    redis: Redis,
    keys: RedisKeys,
    days: int = 7,
    *,
    prices: Prices | None = None,
    today: date | datetime | None = None,
) -> list[LLMDailyUsage]:
    """The last ``days`` UTC days up to ``today`` (default: now), oldest first; days without use
    are listed with zeros. The cost is estimated at ``prices`` (default: :meth:`Prices.default`;
    pass :meth:`Prices.from_settings` for the configured ones)."""
    prices = prices or Prices.default()
    if today is None:
        today = datetime.now(UTC)
    end = today.astimezone(UTC).date() if isinstance(today, datetime) else today
    wanted = [(end - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]
    async with redis.pipeline(transaction=False) as pipe:
        for day in wanted:
            pipe.hgetall(keys.llm_usage(day))
        replies = await pipe.execute()
    report = []
    for day, raw in zip(wanted, replies, strict=True):
        fields = {_text(k): _text(v) for k, v in raw.items()}
        calls = int(fields.get("calls", 0))
        prompt, completion = int(fields.get("prompt_tokens", 0)), int(fields.get("completion_tokens", 0))
        report.append(
            LLMDailyUsage(
                day=day,
                contexts=int(fields.get("contexts", 0)),
                calls=calls,
                requests=int(fields.get("requests", 0)),
                prompt_tokens=prompt,
                completion_tokens=completion,
                mean_latency_ms=round(float(fields.get("latency_ms", 0.0)) / calls, 1) if calls else 0.0,
                outcomes={k.removeprefix("outcome:"): int(v) for k, v in fields.items() if k.startswith("outcome:")},
                deferred={k.removeprefix("deferred:"): int(v) for k, v in fields.items() if k.startswith("deferred:")},
                estimated_cost=prices.cost(prompt, completion),
                currency=prices.currency,
            )
        )
    return report
