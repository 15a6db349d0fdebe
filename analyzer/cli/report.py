"""``sensor-analyzer report``: the alarm performance report of a period."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from analyzer.cli.app import Verbose, app, load_settings, setup_logging

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([mhd])$")


def parse_moment(text: str, *, now: datetime | None = None) -> datetime:
    """``24h``, ``30m``, ``7d`` (that long before now) or an ISO-8601 time (UTC when no zone).

    >>> parse_moment("2h", now=datetime(2026, 1, 1, 12, tzinfo=UTC)).isoformat()
    '2026-01-01T10:00:00+00:00'
    """
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text.strip())
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        unit_name = {"m": "minutes", "h": "hours", "d": "days"}[unit]
        return now - timedelta(**{unit_name: amount})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither a duration like 24h / 30m / 7d nor an ISO-8601 time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def report(
    since: Annotated[str, typer.Option(help="start: a duration before now (24h, 30m, 7d) or an ISO time")] = "24h",
    until: Annotated[str | None, typer.Option(help="end (default now)")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
    verbose: Verbose = False,
) -> None:
    """The alarm performance report: alarm rates, floods, top alarms, chattering and standing alarms,
    priority distribution, times to acknowledge and resolve (ISA-18.2 / EEMUA 191)."""
    setup_logging(verbose)
    settings = load_settings()
    end = parse_moment(until) if until else datetime.now(UTC)
    start = parse_moment(since, now=end)
    if start >= end:
        raise typer.BadParameter(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})")

    async def main() -> None:
        from analyzer.alarms.report import build_report, collect_records, format_report
        from analyzer.store.factory import open_store

        store = await open_store(settings)
        try:
            built = build_report(await collect_records(store, start), start, end)
        finally:
            await store.close()
        typer.echo(built.model_dump_json(indent=2) if json_output else format_report(built))

    asyncio.run(main())
