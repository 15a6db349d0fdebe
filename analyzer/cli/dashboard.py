"""``sensor-analyzer dashboard`` (serve the operator and dashboard API alone),
``sensor-analyzer dashboard-key`` (make an API key for it), and the dashboard API that
``sensor-analyzer run`` serves beside the analyzer (:func:`local_dashboard`).

The dashboard API is its own package (``dashboard_api``, which depends on the analyzer, never the
other way round); it is imported only when one of these commands runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from analyzer.cli.app import Verbose, app, load_settings, setup_logging
from analyzer.settings import Settings

if TYPE_CHECKING:
    import uvicorn

    from analyzer.store.protocol import Store


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


# --------------------------------------------------------------------------- beside `run`

#: The operator key ``sensor-analyzer run`` makes lives here, in the state folder (ignored by git),
#: so the key a user saved keeps working on the next run.
LOCAL_KEY_FILE = "dashboard-operator.key"
LOCAL_KEY_NAME = "local-operator"


def local_operator_key(state_dir: Path) -> tuple[str, Path]:
    """The local operator key (made on first use, kept readable by its owner only) and its file."""
    from dashboard_api.identity.api_keys import KEY_PREFIX, issue_key
    from schemas.public import Role

    path = state_dir / LOCAL_KEY_FILE
    if path.exists():
        key = path.read_text().strip()
        if key.startswith(KEY_PREFIX):
            return key, path
    key, _ = issue_key(LOCAL_KEY_NAME, Role.OPERATOR)
    state_dir.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key, path


def local_dashboard(settings: Settings, store: Store, port: int, state_dir: Path) -> tuple[uvicorn.Config, str, Path]:
    """The dashboard API for ``sensor-analyzer run``: on ``store`` (shared with the worker), its own
    Redis clients, the configured ``DASHBOARD_*`` settings plus the local operator key. Returns the
    server's config, the key and the key's file."""
    import uvicorn

    from dashboard_api.identity.api_keys import hash_key
    from dashboard_api.main import create_app
    from dashboard_api.settings import ApiKeySpec, DashboardSettings
    from schemas.public import Role

    key, path = local_operator_key(state_dir)
    config = DashboardSettings()  # type: ignore[call-arg]  # every field has a default
    spec = ApiKeySpec(name=LOCAL_KEY_NAME, role=Role.OPERATOR, sha256=hash_key(key))
    keys = [k for k in config.api_keys if k.name != LOCAL_KEY_NAME] + [spec]
    app = create_app(settings, dashboard=config.model_copy(update={"api_keys": keys}), store=store)
    return uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"), key, path
