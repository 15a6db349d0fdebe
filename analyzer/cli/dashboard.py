"""``sensor-analyzer dashboard`` (serve the operator and dashboard API alone) and
``sensor-analyzer dashboard-key`` (make an API key for it).

The dashboard API is its own package (``dashboard_api``, which depends on the analyzer, never the
other way round); it is imported only when one of these commands runs.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from pydantic import ValidationError

from analyzer.cli.app import Verbose, app, load_settings, setup_logging


@app.command()
def dashboard(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8001,
    verbose: Verbose = False,
) -> None:
    """Serve the operator and dashboard API (live values, history, corrections, audit trail)."""
    import uvicorn

    from dashboard_api.main import create_app
    from dashboard_api.settings import DashboardSettings

    setup_logging(verbose)
    settings = load_settings()
    try:
        config = DashboardSettings()  # type: ignore[call-arg]  # every field has a default
    except ValidationError as error:
        typer.secho(f"configuration error (DASHBOARD_*):\n{error}", err=True, fg="red")
        raise typer.Exit(2) from None
    if not config.api_keys and not config.entra_enabled:
        typer.secho(
            "no DASHBOARD_API_KEYS and no Entra ID configured: every /api/v1 route will answer 401 "
            "(make a key with `sensor-analyzer dashboard-key`)",
            err=True,
            fg="yellow",
        )
    typer.echo(f"dashboard API on http://{host}:{port}/docs (health: /healthz, /readyz)")
    uvicorn.run(create_app(settings, dashboard=config), host=host, port=port, log_level="debug" if verbose else "info")


@app.command("dashboard-key")
def dashboard_key(
    name: Annotated[str, typer.Option(help="whose key: audit records show this name")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "operator",
) -> None:
    """Make a dashboard API key: prints the key once, and the entry for DASHBOARD_API_KEYS (its hash)."""
    from dashboard_api.identity.api_keys import issue_key
    from schemas.public import Role

    try:
        key, spec = issue_key(name, Role(role))
    except (ValueError, ValidationError) as error:
        typer.secho(f"cannot make a key: {error}", err=True, fg="red")
        raise typer.Exit(2) from None
    typer.echo(f"key (shown once; send it as X-API-Key): {key}")
    typer.echo("add to DASHBOARD_API_KEYS (a JSON list):")
    typer.echo(json.dumps(spec.model_dump(mode="json")))
