"""Tier 3's part of ``sensor-analyzer report``: contexts written, model calls, tokens and the
estimated cost per UTC day, from the usage counters (:func:`~analyzer.tiers.llm.usage.daily_usage`)
at the configured prices (``LLM_PRICE_*``).

:func:`llm_usage_report` reads the days; :func:`format_llm_usage` prints them as a table with a
total line; :meth:`LLMUsageReport.as_json` is the same for machines. :func:`parse_since` reads a
``--since`` (``2026-11-20`` or ``7d``).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from analyzer.keys import RedisKeys
from analyzer.settings import Settings
from analyzer.tiers.llm.usage import Prices, daily_usage
from schemas.llm import LLMDailyUsage

_DAYS = re.compile(r"^(\d+)\s*d$")


def parse_since(text: str, *, today: date | None = None) -> date:
    """The first UTC day of a report: an ISO date, or ``Nd`` for the last N days (today included).

    >>> parse_since("2026-11-20"), parse_since("7d", today=date(2026, 11, 23))
    (datetime.date(2026, 11, 20), datetime.date(2026, 11, 17))
    """
    text = text.strip()
    days = _DAYS.match(text)
    if days:
        count = int(days.group(1))
        if count < 1:
            raise ValueError("--since Nd needs N >= 1")
        return (today or datetime.now(UTC).date()) - timedelta(days=count - 1)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: expected a date (2026-11-20) or a number of days (7d)") from None


@dataclass(frozen=True)
class LLMUsageReport:
    """Tier 3's use per UTC day from ``since`` to ``until`` (both included), oldest first."""

    provider: str
    model: str
    prices: Prices
    days: list[LLMDailyUsage]

    @property
    def since(self) -> str:
        return self.days[0].day

    @property
    def until(self) -> str:
        return self.days[-1].day

    def totals(self) -> dict[str, Any]:
        """Sums over the days (mean latency weighted by calls)."""
        calls = sum(d.calls for d in self.days)
        prompt = sum(d.prompt_tokens for d in self.days)
        completion = sum(d.completion_tokens for d in self.days)
        outcomes: Counter[str] = Counter()
        deferred: Counter[str] = Counter()
        for day in self.days:
            outcomes.update(day.outcomes)
            deferred.update(day.deferred)
        latency = sum(d.mean_latency_ms * d.calls for d in self.days)
        return {
            "contexts": sum(d.contexts for d in self.days),
            "calls": calls,
            "requests": sum(d.requests for d in self.days),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "mean_latency_ms": round(latency / calls, 1) if calls else 0.0,
            "outcomes": dict(sorted(outcomes.items())),
            "deferred": dict(sorted(deferred.items())),
            "estimated_cost": self.prices.cost(prompt, completion),
            "currency": self.prices.currency,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "since": self.since,
            "until": self.until,
            "prices_per_1k": {
                "input": self.prices.input_per_1k,
                "output": self.prices.output_per_1k,
                "currency": self.prices.currency,
            },
            "days": [d.model_dump() for d in self.days],
            "total": self.totals(),
        }


def configured_model(settings: Settings) -> str:
    if settings.llm_provider == "azure-openai":
        return settings.openai_deployment_name
    if settings.llm_provider == "openai-compatible":
        return settings.llm_model or "?"
    return "offline"


async def llm_usage_report(
    redis: Redis, keys: RedisKeys, settings: Settings, *, since: date, until: date | None = None
) -> LLMUsageReport:
    """The days from ``since`` to ``until`` (default today, UTC), at most ``LLM_USAGE_RETENTION_DAYS``."""
    until = until or datetime.now(UTC).date()
    if since > until:
        raise ValueError(f"--since {since.isoformat()} is after {until.isoformat()}")
    days = min((until - since).days + 1, settings.llm_usage_retention_days)
    prices = Prices.from_settings(settings)
    rows = await daily_usage(redis, keys, days, prices=prices, today=until)
    return LLMUsageReport(settings.llm_provider, configured_model(settings), prices, rows)


_COLUMNS = (
    ("day", 10),
    ("contexts", 8),
    ("calls", 6),
    ("requests", 8),
    ("prompt tok", 10),
    ("compl. tok", 10),
    ("mean ms", 8),
    ("ok", 5),
    ("cached", 6),
    ("deferred", 8),
    ("fallback", 8),
    ("cost", 10),
)


def _row(cells: list[str]) -> str:
    first, *rest = zip(cells, _COLUMNS, strict=True)
    return "  ".join([first[0].ljust(first[1][1])] + [cell.rjust(width) for cell, (_, width) in rest])


def _cells(day: str, values: dict[str, Any]) -> list[str]:
    outcomes = values["outcomes"]
    return [
        day,
        str(values["contexts"]),
        str(values["calls"]),
        str(values["requests"]),
        str(values["prompt_tokens"]),
        str(values["completion_tokens"]),
        f"{values['mean_latency_ms']:.0f}",
        str(outcomes.get("ok", 0) + outcomes.get("offline", 0)),
        str(outcomes.get("cached", 0)),
        str(outcomes.get("deferred", 0)),
        str(outcomes.get("fallback", 0)),
        f"{values['estimated_cost']:.4f}",
    ]


def format_llm_usage(report: LLMUsageReport) -> str:
    """The report as a plain-text table: one line per day, then the total and the prices."""
    prices = report.prices
    lines = [
        f"Tier 3 (LLM_PROVIDER={report.provider}, model {report.model}), {report.since} to {report.until} (UTC)",
        _row([name for name, _ in _COLUMNS[:-1]] + [f"cost {prices.currency}"]),
    ]
    lines += [_row(_cells(d.day, d.model_dump())) for d in report.days]
    total = report.totals()
    lines.append(_row(_cells("total", total)))
    if total["deferred"]:
        lines.append("deferred by: " + ", ".join(f"{by} {n}" for by, n in total["deferred"].items()))
    lines.append(
        f"estimated at {prices.input_per_1k:g} {prices.currency} per 1000 prompt tokens and "
        f"{prices.output_per_1k:g} per 1000 completion tokens (LLM_PRICE_INPUT_PER_1K, LLM_PRICE_OUTPUT_PER_1K)"
    )
    return "\n".join(lines)
