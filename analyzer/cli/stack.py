"""Commands that run the analyzer: the API, the worker, tier 3's explainer, the sweep, and the whole local stack."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import SecretStr

from analyzer.cli.app import Verbose, app, load_settings, run_until_signal, setup_logging
from analyzer.cli.landing import land_simulation
from analyzer.settings import Settings

if TYPE_CHECKING:
    from analyzer.runtime.services import Services

#: The live part of `run` shows one anomaly of each kind, quickest to alarm first: a limit breach
#: within a minute, then a spike, a stuck sensor, a drift and a broken correlation.
SHOWCASE = ("limit_breach", "spike", "stuck", "drift", "broken_correlation")

# --------------------------------------------------------------------------- services


@app.command()
def api(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    verbose: Verbose = False,
) -> None:
    """Serve the analyzer's HTTP API (analyze, ingest, sweep, health)."""
    import uvicorn

    from analyzer.api.main import create_app

    setup_logging(verbose)
    uvicorn.run(create_app(load_settings()), host=host, port=port, log_level="debug" if verbose else "info")


@app.command()
def worker(
    consumer: Annotated[str | None, typer.Option(help="consumer name (default replica or host-WORKER_INDEX)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="entries per XREADGROUP")] = None,
    verbose: Verbose = False,
) -> None:
    """Analyse the stream as a member of the 'analyzer' consumer group until SIGTERM/SIGINT."""
    setup_logging(verbose)
    settings = load_settings(worker_consumer_name=consumer, worker_batch_size=batch_size)
    run_until_signal(lambda stop: _serve_worker(settings, stop))


async def _serve_worker(settings: Settings, stop: asyncio.Event) -> None:
    from analyzer.runtime.services import open_services, settle_heap
    from analyzer.telemetry import ANALYZER_SERVICE_NAME, run_process_telemetry

    services = await open_services(settings)
    settle_heap()
    try:
        # Telemetry (analyzer/telemetry.py): the exporter when a connection string is set, the lag gauge.
        telemetry = run_process_telemetry(services.redis, services.keys.stream, ANALYZER_SERVICE_NAME, stop)
        await asyncio.gather(*_background(services, stop, workers=1), telemetry)
    finally:
        await services.close()


def _background(
    services: Services, stop: asyncio.Event, *, workers: int, explain: bool = False
) -> list[Awaitable[Any]]:
    """The stream workers of this process and its upkeep (alarm records left unwritten, a Redis
    that lost its data); with ``explain``, tier 3's consumer of the alarm events too."""
    from analyzer.runtime.worker import ConsumerConfig, analysis_worker, default_consumer_name

    settings = services.settings
    config = ConsumerConfig(
        batch_size=settings.worker_batch_size,
        block_ms=settings.worker_block_ms,
        claim_idle_ms=settings.worker_claim_idle_ms,
        max_deliveries=settings.worker_max_deliveries,
    )
    base = settings.worker_consumer_name or default_consumer_name()
    tasks: list[Awaitable[Any]] = [
        analysis_worker(
            services.redis, services.keys, services.pipeline, config, f"{base}-{n}" if workers > 1 else base
        ).run(stop)
        for n in range(workers)
    ]
    tasks.append(services.maintain(stop))
    if explain:
        from analyzer.runtime.explainer import run_explainer

        tasks.append(run_explainer(services, stop))
    return tasks


@app.command()
def explain(
    consumer: Annotated[str | None, typer.Option(help="consumer name (default replica or host-WORKER_INDEX)")] = None,
    verbose: Verbose = False,
) -> None:
    """Write tier 3's context for new and escalated alarms (consumer group 'explainer' on the alarm
    events; LLM_PROVIDER picks the model) until SIGTERM/SIGINT."""
    setup_logging(verbose)
    settings = load_settings(worker_consumer_name=consumer)
    run_until_signal(lambda stop: _serve_explainer(settings, stop))


async def _serve_explainer(settings: Settings, stop: asyncio.Event) -> None:
    from analyzer.runtime.explainer import run_explainer
    from analyzer.runtime.services import open_services

    services = await open_services(settings, statistical=False)  # it analyses nothing
    try:
        explainer = await run_explainer(services, stop)
        typer.echo(f"explainer stopped: {dict(explainer.outcomes)}")
    finally:
        await services.close()


@app.command()
def sweep(
    grace_s: Annotated[float, typer.Option(help="leave entries younger than this many seconds")] = 60.0,
    verbose: Verbose = False,
) -> None:
    """Analyse every entry of the 24 h window that has no stored result, oldest first."""
    setup_logging(verbose)
    settings = load_settings()

    async def main() -> None:
        from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_delay, wait_exponential

        from analyzer.runtime.consumer import UNREACHABLE, OutageLog
        from analyzer.runtime.services import open_services
        from analyzer.runtime.sweep import sweep as run_sweep

        services = await open_services(settings)
        outage = OutageLog("sweep: Redis")
        try:
            # Redis away: back off and try again for up to 5 minutes (one line per outage), then fail.
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(UNREACHABLE),
                wait=wait_exponential(multiplier=0.2, max=10),
                stop=stop_after_delay(300),
                before_sleep=lambda state: outage.down(state.outcome.exception()),  # type: ignore[union-attr,arg-type]
                reraise=True,
            ):
                with attempt:
                    outcome = await run_sweep(
                        services.redis, services.keys, services.store, services.pipeline, grace_s=grace_s
                    )
            outage.up()
            typer.echo(outcome.model_dump_json())
        finally:
            await services.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- the local stack


@app.command()
def run(
    port: Annotated[int, typer.Option(help="port of the analyzer API")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=8, help="stream workers in this process")] = 1,
    backfill: Annotated[
        int, typer.Option(min=0, help="simulated payloads landed at once as history (8,640 = a day)")
    ] = 8640,
    interval_s: Annotated[float, typer.Option(help="seconds between simulated payloads")] = 10.0,
    seed: Annotated[int, typer.Option(help="simulator seed")] = 0,
    dashboard_port: Annotated[int, typer.Option(help="port of the operator and dashboard API")] = 8001,
    verbose: Verbose = False,
) -> None:
    """Run the whole local pipeline: simulator -> Redis -> worker -> store, tier 3's explainer, the
    analyzer API and the operator and dashboard API (with a local operator key). Ctrl-C stops it."""
    from analyzer.devtools.local_redis import local_redis

    setup_logging(verbose)
    settings = load_settings()
    _port_is_free(port)
    with local_redis(settings) as found:
        settings = settings.model_copy(update={"redis_connection_string": SecretStr(found.url)})
        run_until_signal(
            lambda stop: _run_stack(
                settings, found.kind, port, workers, backfill, interval_s, seed, stop, dashboard_port=dashboard_port
            )
        )


def _port_is_free(port: int) -> None:
    """Exit with one line before anything starts when the API's port is taken (uvicorn would say so
    only after the stack printed "running", with a traceback)."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            typer.secho(f"cannot serve the API on 127.0.0.1 port {port}: {error.strerror}", err=True, fg="red")
            raise typer.Exit(1) from None


async def _run_stack(
    settings: Settings,
    redis_kind: str,
    port: int,
    workers: int,
    backfill: int,
    interval_s: float,
    seed: int,
    stop: asyncio.Event,
    *,
    dashboard_port: int = 8001,
) -> None:
    import uvicorn

    from analyzer.api.main import create_app
    from analyzer.cli.dashboard import local_dashboard
    from analyzer.runtime.services import open_services, settle_heap

    class _Server(uvicorn.Server):
        # The stack handles SIGINT/SIGTERM itself and tells the server when to stop.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    services = await open_services(settings)
    server = _Server(uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port, log_level="warning"))
    lander = services.lander
    labels = Path(settings.sqlite_path).parent / "labels.json"
    dashboard_config, operator_key, key_file = local_dashboard(
        settings, services.store, dashboard_port, Path(settings.sqlite_path).parent
    )
    dashboard = _Server(dashboard_config)
    settle_heap()
    typer.secho("sensor-analyzer is running", fg="green", bold=True)
    typer.echo(f"  Redis       {redis_kind}; stream {settings.stream_key}")
    where = settings.sqlite_path if settings.store_backend == "sqlite" else settings.cosmos_db_endpoint
    typer.echo(f"  store       {settings.store_backend}: {where}")
    typer.echo(f"  tier 3      {settings.llm_provider} (explainer group on the alarm events)")
    typer.echo(f"  API         http://127.0.0.1:{port}/docs  (health: /readyz)")
    typer.echo(f"  dashboard   http://127.0.0.1:{dashboard_port}/docs  (page: http://127.0.0.1:{dashboard_port}/)")
    typer.echo(f"  operator key  {operator_key}  (send as X-API-Key; kept in {key_file})")
    typer.echo(f"  anomalies   http://127.0.0.1:{dashboard_port}/api/v1/anomalies  (with the key; in /docs: Authorize)")
    typer.echo(
        f"  simulator   {backfill} payloads of history now, then one every {interval_s:g} s with one anomaly of "
        f"each kind in the first half hour; labels in {labels}"
    )
    typer.echo("  Ctrl-C stops everything.")

    async def simulate() -> None:
        # One plant: a day of history landed at once (tier 2 has its window from the start), then
        # live payloads continuing it, with one anomaly of each kind in the first half hour.
        from analyzer.devtools.simulator import PlantModel

        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10 * max(backfill - 1, 0))
        model = PlantModel(
            services.index.catalog, start, seed=seed, anomaly_rate=0.02, showcase=SHOWCASE, showcase_from=backfill
        )
        common: dict[str, Any] = {"seed": seed, "anomaly_rate": 0.02, "labels_path": labels, "stop": stop}
        if backfill:
            await land_simulation(lander, services.index.catalog, count=backfill, fast=True, model=model, **common)
        await land_simulation(
            lander, services.index.catalog, count=None, fast=False, interval_s=interval_s, model=model, **common
        )

    async def serve() -> None:
        serving = asyncio.create_task(server.serve())
        await stop.wait()
        server.should_exit = True
        await serving

    async def serve_dashboard() -> None:
        serving = asyncio.create_task(dashboard.serve())
        await stop.wait()
        dashboard.should_exit = True
        await serving

    try:
        await asyncio.gather(
            serve(), serve_dashboard(), simulate(), *_background(services, stop, workers=workers, explain=True)
        )
    finally:
        await services.close()
    typer.echo("stopped")
