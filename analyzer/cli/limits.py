"""``sensor-analyzer limits`` (learned alarm limits) and ``sensor-analyzer baseline`` (new operating points)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

import typer

from analyzer.cli.app import Verbose, app, load_settings, setup_logging

limits_app = typer.Typer(help="Learned alarm limits: suggest them from normal operation; an admin accepts them.")
app.add_typer(limits_app, name="limits")


@limits_app.command("suggest")
def suggest(verbose: Verbose = False) -> None:
    """Suggest limits for every sensor without any, from the last 24 h of normal readings (method in
    analyzer/alarms/limits.py). Nothing is applied."""
    setup_logging(verbose)
    settings = load_settings()

    async def main() -> None:
        from analyzer.alarms.limits import suggest as suggest_limits
        from analyzer.runtime.services import open_services

        services = await open_services(settings)
        try:
            state = await services.pipeline.refresh()
            if state.tier2 is None:
                typer.secho("tier 2 is off (TIER2_ENABLED=false): there is no baseline to learn from", err=True)
                raise typer.Exit(2)
            found = suggest_limits(state.tier2, services.pipeline.base_index)
        finally:
            await services.close()
        if not found:
            typer.echo("no suggestion: every sensor has limits, or too few normal readings in the window yet")
        for s in found:
            lim = s.suggested
            typer.echo(
                f"{s.sensor} ({s.unit}): Low-Low {lim.low_low:g}, Low {lim.low:g}, High {lim.high:g}, "
                f"High-High {lim.high_high:g}  [centre {s.centre:.6g}, spread {s.spread:.3g}, {s.samples} readings]"
            )

    asyncio.run(main())


@limits_app.command("accept")
def accept(
    sensor: Annotated[str, typer.Argument(help="the sensor")],
    by: Annotated[str, typer.Option(help="who accepts them (recorded in the audit)")],
    low_low: Annotated[float | None, typer.Option()] = None,
    low: Annotated[float | None, typer.Option()] = None,
    high: Annotated[float | None, typer.Option()] = None,
    high_high: Annotated[float | None, typer.Option()] = None,
    note: Annotated[str, typer.Option(help="why")] = "",
    verbose: Verbose = False,
) -> None:
    """Accept alarm limits for a sensor without any (audited; every replica applies them at once)."""
    from pydantic import ValidationError

    from analyzer.alarms.limits import AcceptedLimits, Limits

    setup_logging(verbose)
    settings = load_settings()
    try:
        limits = Limits(low_low=low_low, low=low, high=high, high_high=high_high)
    except ValidationError as error:
        raise typer.BadParameter(str(error.errors()[0]["msg"]).removeprefix("Value error, ")) from None
    accepted = AcceptedLimits(sensor=sensor, limits=limits, accepted_by=by, accepted_at=datetime.now(UTC), note=note)

    async def main() -> None:
        from analyzer.alarms.operations import TransitionError
        from analyzer.alarms.service import AlarmNotFound
        from analyzer.runtime.services import open_services

        services = await open_services(settings, statistical=False)
        try:
            await services.alarms.accept_limits(services.index.catalog, accepted)
        except (AlarmNotFound, TransitionError) as error:
            typer.secho(str(error), err=True, fg="red")
            raise typer.Exit(2) from None
        finally:
            await services.close()
        typer.echo(f"accepted for {sensor}: {limits.model_dump(exclude_none=True)}")

    asyncio.run(main())


baseline_app = typer.Typer(help="Tier 2 baselines: accept a sensor's new operating point (audited).")
app.add_typer(baseline_app, name="baseline")


@baseline_app.command("accept")
def accept_operating_point(
    sensor: Annotated[str, typer.Argument(help="the sensor whose current level is its new normal")],
    by: Annotated[str, typer.Option(help="who accepts it (recorded in the audit)")],
    note: Annotated[str, typer.Option(help="why")] = "",
    verbose: Verbose = False,
) -> None:
    """Accept a sensor's current level as a new operating point: its tier 2 baseline restarts from the
    next analysed entry (while a condition is open it otherwise scores against the baseline frozen
    when the condition began). Audited; every replica applies it from the same point of the stream."""
    from pydantic import ValidationError

    from analyzer.alarms.limits import AcceptedOperatingPoint

    setup_logging(verbose)
    settings = load_settings()
    try:
        accepted = AcceptedOperatingPoint(sensor=sensor, accepted_by=by, accepted_at=datetime.now(UTC), note=note)
    except ValidationError as error:
        raise typer.BadParameter(str(error.errors()[0]["msg"])) from None

    async def main() -> None:
        from analyzer.alarms.operations import TransitionError
        from analyzer.alarms.service import AlarmNotFound
        from analyzer.runtime.services import open_services

        services = await open_services(settings, statistical=False)
        try:
            await services.alarms.accept_operating_point(services.index.catalog, accepted)
        except (AlarmNotFound, TransitionError) as error:
            typer.secho(str(error), err=True, fg="red")
            raise typer.Exit(2) from None
        finally:
            await services.close()
        typer.echo(f"accepted the current level of {sensor} as its new operating point; its baseline restarts")

    asyncio.run(main())
