"""Tier 3's report: ``sensor-analyzer report-llm --since 7d`` (calls, tokens and estimated cost per
day). Kept apart so ``sensor-analyzer report`` can print the same block (``print_llm_usage``)."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer

from analyzer.cli.app import app, load_settings
from analyzer.settings import Settings


async def print_llm_usage(settings: Settings, since: str, *, as_json: bool = False) -> None:
    """Print tier 3's usage from ``since`` (``2026-11-20`` or ``7d``) to today, as a table or JSON."""
    from analyzer.keys import RedisKeys
    from analyzer.runtime.services import close_redis, connect_redis
    from analyzer.tiers.llm.report import format_llm_usage, llm_usage_report, parse_since

    try:
        first = parse_since(since)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from None
    redis = connect_redis(settings)
    try:
        report = await llm_usage_report(redis, RedisKeys(settings.stream_key), settings, since=first)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--since") from None
    finally:
        await close_redis(redis)
    typer.echo(json.dumps(report.as_json()) if as_json else format_llm_usage(report))


@app.command("report-llm")
def report_llm(
    since: Annotated[str, typer.Option(help="first UTC day: a date (2026-11-20) or a number of days (7d)")] = "7d",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object instead of the table")] = False,
) -> None:
    """Tier 3's use of the model per UTC day: contexts, calls, tokens, latency and the estimated cost."""
    asyncio.run(print_llm_usage(load_settings(), since, as_json=as_json))
