"""The ``sensor-analyzer`` Typer app and what every command shares: settings, logging, signals."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from analyzer.settings import Settings

app = typer.Typer(
    name="sensor-analyzer",
    help="Three-tier analyzer for industrial sensor data: alarm limits, 24 h statistics, LLM context.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("analyzer")


def load_settings(**overrides: Any) -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        typer.secho(f"configuration error:\n{error}", err=True, fg="red")
        raise typer.Exit(2) from None
    updates = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=updates) if updates else settings


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "azure", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)``; SIGINT/SIGTERM set ``stop`` so it can finish what it holds."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await main(stop)

    asyncio.run(runner())


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log debug detail")]
