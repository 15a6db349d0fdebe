"""Tier 3's usage report: calls, tokens and estimated cost per day after real calls to the local model
server, as rows, as a table and through ``sensor-analyzer report-llm``."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.keys import RedisKeys
from analyzer.settings import Settings
from analyzer.tiers.llm.explain import ContextService
from analyzer.tiers.llm.report import format_llm_usage, llm_usage_report, parse_since
from analyzer.tiers.llm.usage import Prices
from tests.llm.factories import CATALOG, view
from tests.llm.model_server import Answer, ModelServer, Status

pytestmark = pytest.mark.redis


async def test_calls_tokens_and_cost_per_day(
    service: ContextService, compatible_settings: Settings, model_server: ModelServer
) -> None:
    model_server.script(Answer(prompt_tokens=1000, completion_tokens=200), Status(500), Status(500), Status(500))
    assert (await service.explain_from_stream(view())).status == "ok"
    assert (await service.explain_from_stream(view("low", ("FI-101",)))).status == "deferred"
    assert (await service.explain_from_stream(view())).status == "cached"
    today = datetime.now(UTC).date()

    report = await llm_usage_report(
        service.redis, RedisKeys(compatible_settings.stream_key), compatible_settings, since=today - timedelta(days=2)
    )
    assert [d.day for d in report.days] == [(today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
    assert [d.calls for d in report.days] == [0, 0, 2]
    day = report.days[-1]
    assert (day.contexts, day.requests, day.prompt_tokens, day.completion_tokens) == (3, 4, 1000, 200)
    assert day.outcomes == {"ok": 1, "deferred": 1, "cached": 1} and day.deferred == {"service": 1}
    expected_cost = Prices.from_settings(compatible_settings).cost(1000, 200)
    assert day.estimated_cost == expected_cost == pytest.approx(1000 / 1000 * 0.00015 + 200 / 1000 * 0.0006)
    total = report.totals()
    assert total["calls"] == 2 and total["estimated_cost"] == expected_cost and total["outcomes"]["cached"] == 1

    table = format_llm_usage(report)
    assert "LLM_PROVIDER=openai-compatible, model plant-llm" in table
    [line] = [line for line in table.splitlines() if line.startswith(today.isoformat())]
    cells = line.split()
    del cells[6]  # the mean latency
    assert cells == [today.isoformat(), "3", "2", "4", "1000", "200", "1", "1", "1", "0", f"{expected_cost:.4f}"]
    assert "deferred by: service 1" in table


def test_since_is_a_date_or_a_number_of_days() -> None:
    assert parse_since("2026-11-20").isoformat() == "2026-11-20"
    assert parse_since("1d") == datetime.now(UTC).date()
    for bad in ("yesterday", "0d", "2026-13-01"):
        with pytest.raises(ValueError, match="--since"):
            parse_since(bad)


def test_report_llm_command(compatible_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    async def one_call() -> None:
        redis = Redis.from_url(compatible_settings.redis_url, decode_responses=True)
        service = ContextService.from_settings(compatible_settings, redis, catalog=CATALOG)
        try:
            assert (await service.explain_from_stream(view())).status == "ok"
        finally:
            await service.aclose()
            await redis.aclose()

    asyncio.run(one_call())
    monkeypatch.setenv("REDIS_CONNECTION_STRING", compatible_settings.redis_url)
    monkeypatch.setenv("STREAM_KEY", compatible_settings.stream_key)
    monkeypatch.setenv("LLM_PRICE_INPUT_PER_1K", "0.5")
    runner = CliRunner()
    table = runner.invoke(app, ["report-llm", "--since", "3d"])
    assert table.exit_code == 0, table.output
    assert datetime.now(UTC).date().isoformat() in table.output and "0.5 USD per 1000 prompt tokens" in table.output
    as_json = runner.invoke(app, ["report-llm", "--since", "2d", "--json"])
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.output)
    assert len(document["days"]) == 2 and document["total"]["calls"] == 1
    assert document["total"]["estimated_cost"] == pytest.approx(420 / 1000 * 0.5 + 95 / 1000 * 0.0006)
    bad = runner.invoke(app, ["report-llm", "--since", "last week"])
    assert bad.exit_code == 2 and "expected a date" in bad.output
