"""``sensor-analyzer``: the command line of the analyzer.

Every command reads the same settings (environment variables, ``.env``); options override a few.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr, ValidationError

from analyzer.settings import Settings

app = typer.Typer(
    name="sensor-analyzer",
    help="Three-tier analyzer for industrial sensor data: alarm limits, 24 h statistics, LLM context.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("analyzer")


def _settings(**overrides: Any) -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        typer.secho(f"configuration error:\n{error}", err=True, fg="red")
        raise typer.Exit(2) from None
    updates = {k: v for k, v in overrides.items() if v is not None}
    return settings.model_copy(update=updates) if updates else settings


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    for noisy in ("httpx", "azure", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)``; SIGINT/SIGTERM set ``stop`` so it can finish what it holds."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await main(stop)

    asyncio.run(runner())


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="log debug detail")]


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

    _logging(verbose)
    uvicorn.run(create_app(_settings()), host=host, port=port, log_level="debug" if verbose else "info")


@app.command()
def worker(
    consumer: Annotated[str | None, typer.Option(help="consumer name (default host-pid)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="entries per XREADGROUP")] = None,
    verbose: Verbose = False,
) -> None:
    """Analyse the stream as a member of the 'analyzer' consumer group until SIGTERM/SIGINT."""
    _logging(verbose)
    settings = _settings(worker_consumer_name=consumer, worker_batch_size=batch_size)
    _run_until_signal(lambda stop: _serve_worker(settings, stop))


async def _serve_worker(settings: Settings, stop: asyncio.Event) -> None:
    from analyzer.runtime.services import open_services

    services = await open_services(settings)
    try:
        await asyncio.gather(*_background(services, stop, workers=1))
    finally:
        await services.close()


def _background(services: Any, stop: asyncio.Event, *, workers: int) -> list[Awaitable[Any]]:
    from analyzer.runtime.worker import StreamWorker, WorkerConfig, default_consumer_name

    settings: Settings = services.settings
    config = WorkerConfig(
        batch_size=settings.worker_batch_size,
        block_ms=settings.worker_block_ms,
        claim_idle_ms=settings.worker_claim_idle_ms,
        max_deliveries=settings.worker_max_deliveries,
    )
    base = settings.worker_consumer_name or default_consumer_name()
    tasks: list[Awaitable[Any]] = [
        StreamWorker(
            services.redis, services.keys, services.pipeline, config, f"{base}-{n}" if workers > 1 else base
        ).run(stop)
        for n in range(workers)
    ]
    if services.pipeline.statistical is not None:
        tasks.append(services.pipeline.statistical.run_training(stop))
    return tasks


@app.command()
def sweep(
    grace_s: Annotated[float, typer.Option(help="leave entries younger than this many seconds")] = 60.0,
    verbose: Verbose = False,
) -> None:
    """Analyse every entry of the 24 h window that has no stored result, oldest first."""
    _logging(verbose)
    settings = _settings()

    async def main() -> None:
        from analyzer.runtime.services import open_services
        from analyzer.runtime.sweep import sweep as run_sweep

        services = await open_services(settings)
        try:
            outcome = await run_sweep(services.redis, services.keys, services.store, services.pipeline, grace_s=grace_s)
            typer.echo(outcome.model_dump_json())
        finally:
            await services.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- landing


async def _open_lander(settings: Settings) -> Any:
    from analyzer.catalog import load_catalog
    from analyzer.catalog.index import SensorIndex
    from analyzer.keys import RedisKeys
    from analyzer.runtime.landing import Lander
    from analyzer.runtime.services import connect_redis

    index = SensorIndex.from_catalog(load_catalog(settings.sensor_catalog))
    return Lander(connect_redis(settings), RedisKeys(settings.stream_key), index, settings)


async def _close_lander(lander: Any) -> None:
    from analyzer.runtime.services import close_redis

    await close_redis(lander.redis)


def _documents_from(source: Path | None) -> Iterator[tuple[str, Any]]:
    """(where, document) pairs: a JSON file holding an object or an array, or NDJSON on stdin / in a file."""
    import orjson

    if source is not None and source != Path("-"):
        if not source.is_file():
            raise typer.BadParameter(f"{source} is not a file", param_hint="FILE")
        text = source.read_bytes()
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError:
            yield from _ndjson(text.splitlines(), str(source))
            return
        items = document if isinstance(document, list) else [document]
        for n, item in enumerate(items):
            yield (f"{source}[{n}]" if isinstance(document, list) else str(source)), item
        return
    yield from _ndjson((line.encode() for line in sys.stdin), "stdin")


def _ndjson(lines: Iterable[bytes], name: str) -> Iterator[tuple[str, Any]]:
    import orjson

    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield f"{name}:{number}", orjson.loads(line)
        except orjson.JSONDecodeError as error:
            yield f"{name}:{number}", _Unparsable(f"not valid JSON: {error}")


class _Unparsable:
    def __init__(self, reason: str) -> None:
        self.reason = reason


@app.command()
def ingest(
    source: Annotated[
        Path | None, typer.Argument(help="JSON file (object or array) or NDJSON; '-' or none = stdin")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Land payloads on the stream as the plant feed does; invalid ones are reported and not landed."""
    _logging(verbose)
    settings = _settings()

    async def main() -> int:
        from analyzer.reading import PayloadError

        lander = await _open_lander(settings)
        landed, rejected, chunk = 0, 0, []
        try:
            for where, document in _documents_from(source):
                try:
                    if isinstance(document, _Unparsable):
                        raise PayloadError(document.reason)
                    chunk.append(lander.validate(document))
                except PayloadError as error:
                    rejected += 1
                    typer.secho(f"{where}: rejected: {error}", err=True, fg="red")
                if len(chunk) >= 500:
                    landed += len(await lander.land(chunk))
                    chunk = []
            landed += len(await lander.land(chunk))
        finally:
            await _close_lander(lander)
        typer.echo(f"landed {landed} payloads on {settings.stream_key}; rejected {rejected}")
        return 1 if rejected else 0

    raise typer.Exit(asyncio.run(main()))


@app.command()
def simulate(
    count: Annotated[int | None, typer.Option(help="payloads to produce (default: endless in real time)")] = None,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same plant")] = 0,
    anomaly_rate: Annotated[float, typer.Option(help="share of time with an injected anomaly")] = 0.02,
    fast: Annotated[bool, typer.Option("--fast", help="as fast as possible, ending now (default: every 10 s)")] = False,
    output: Annotated[Path | None, typer.Option(help="write a CSV (+ .labels.json) instead of landing")] = None,
    start: Annotated[
        datetime | None, typer.Option(help="first timestamp of a CSV (UTC); default: so the data ends now")
    ] = None,
    labels: Annotated[Path, typer.Option(help="where landed runs write their labels")] = Path(".state/labels.json"),
    verbose: Verbose = False,
) -> None:
    """Simulate a plant with labelled anomalies (spike, drift, stuck, limit breach, broken correlation)."""
    _logging(verbose)
    from analyzer.catalog import load_catalog
    from analyzer.devtools.simulator import simulate_plant, write_csv

    settings = _settings()
    catalog = load_catalog(settings.sensor_catalog)
    if output is not None:
        n = count or 8640
        first = start.replace(tzinfo=start.tzinfo or UTC) if start else datetime.now(UTC) - timedelta(seconds=10 * n)
        plant = simulate_plant(catalog, first.replace(microsecond=0), n, seed=seed, anomaly_rate=anomaly_rate)
        path = write_csv(plant, output)
        typer.echo(f"wrote {n} payloads to {path} with {len(plant.labels)} labelled anomalies beside it")
        return
    _run_until_signal(
        lambda stop: _simulate_into_redis(settings, catalog, count, seed, anomaly_rate, fast, labels, stop)
    )


async def _simulate_into_redis(
    settings: Settings,
    catalog: Any,
    count: int | None,
    seed: int,
    anomaly_rate: float,
    fast: bool,
    labels_path: Path,
    stop: asyncio.Event,
) -> None:
    lander = await _open_lander(settings)
    try:
        landed = await land_simulation(
            lander,
            catalog,
            count=count,
            seed=seed,
            anomaly_rate=anomaly_rate,
            fast=fast,
            labels_path=labels_path,
            stop=stop,
        )
    finally:
        await _close_lander(lander)
    typer.echo(f"landed {landed} simulated payloads on {settings.stream_key}; labels in {labels_path}")


async def land_simulation(
    lander: Any,
    catalog: Any,
    *,
    count: int | None,
    seed: int,
    anomaly_rate: float,
    fast: bool,
    labels_path: Path,
    stop: asyncio.Event,
    interval_s: float = 10.0,
    on_landed: Callable[[int], None] | None = None,
) -> int:
    """Land simulated payloads: ``fast`` lands ``count`` payloads whose times end now; otherwise one
    every ``interval_s`` from now on. Labels are rewritten to ``labels_path`` as they appear."""
    from analyzer.devtools.simulator import PlantModel, label_to_dict
    from analyzer.reading import PayloadError

    n_fast = count or 360
    start = datetime.now(UTC).replace(microsecond=0) - (timedelta(seconds=10 * (n_fast - 1)) if fast else timedelta())
    model = PlantModel(catalog, start, seed=seed, anomaly_rate=anomaly_rate)
    landed = 0
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    from analyzer.devtools.simulator import iter_payloads

    # A label spanning several chunks arrives once per chunk; keep one per anomaly, with its full span.
    labels: dict[tuple[str, tuple[str, ...], datetime], Any] = {}

    while not stop.is_set() and (count is None or landed < count):
        size = min(500, n_fast - landed) if fast else 1
        plant = model.advance(size)
        try:
            readings = [lander.validate(doc) for doc in iter_payloads(plant)]
        except PayloadError as error:
            raise RuntimeError(f"the simulator produced an invalid payload: {error}") from error
        landed += len(await lander.land(readings))
        for label in plant.labels:
            key = (label.kind, label.sensors, label.start)
            if key not in labels or label.end > labels[key].end:
                labels[key] = label
        labels_path.write_text(json.dumps([label_to_dict(label) for label in labels.values()], indent=1))
        if on_landed:
            on_landed(landed)
        if fast and landed >= n_fast:
            break
        if not fast:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
    return landed


@app.command()
def replay(
    csv_file: Annotated[Path, typer.Argument(help="CSV of readings: a timestamp column and one column per sensor")],
    speed: Annotated[
        float, typer.Option(help="0 = as fast as possible; 1 = real time; 60 = a minute per second")
    ] = 0.0,
    rebase: Annotated[bool, typer.Option(help="shift times so the replay ends (fast) or starts (paced) now")] = True,
    label_column: Annotated[list[str] | None, typer.Option(help="columns that are labels, not readings")] = None,
    timestamp_column: Annotated[str, typer.Option(help="name of the timestamp column")] = "timestamp",
    verbose: Verbose = False,
) -> None:
    """Land a CSV of readings (one row a payload) at a chosen speed, with a progress bar."""
    _logging(verbose)
    from analyzer.devtools.simulator import CsvReadError, iter_csv_payloads

    if speed < 0:
        raise typer.BadParameter("speed must be 0 (as fast as possible) or positive", param_hint="--speed")
    if not csv_file.is_file():
        raise typer.BadParameter(f"{csv_file} is not a file", param_hint="CSV_FILE")
    settings = _settings()
    labels = tuple(label_column) if label_column else ("anomaly", "anomaly_kind", "label")
    try:
        documents = list(iter_csv_payloads(csv_file, labels, timestamp_column=timestamp_column))
    except CsvReadError as error:
        typer.secho(str(error), err=True, fg="red")
        raise typer.Exit(1) from None
    if not documents:
        typer.secho(f"{csv_file} holds no rows", err=True, fg="red")
        raise typer.Exit(1)
    _run_until_signal(lambda stop: _replay(settings, documents, speed, rebase, stop))


async def _replay(
    settings: Settings, documents: list[dict[str, Any]], speed: float, rebase: bool, stop: asyncio.Event
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from analyzer.reading import PayloadError, parse_timestamp
    from schemas.payload import wire_timestamp

    times = [parse_timestamp(d["timestamp"]) for d in documents]
    now = datetime.now(UTC)
    shift = (now - (times[0] if speed > 0 else times[-1])) if rebase else timedelta()
    lander = await _open_lander(settings)
    started, landed, rejected = time.monotonic(), 0, 0
    chunk_size = 200 if speed == 0 else 1
    columns = (TextColumn("replay"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, transient=False) as progress:
            task = progress.add_task("replay", total=len(documents))
            for first in range(0, len(documents), chunk_size):
                if stop.is_set():
                    break
                if speed > 0:
                    due = (times[first] - times[0]).total_seconds() / speed
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=max(0.0, due - (time.monotonic() - started)))
                    if stop.is_set():
                        break
                readings = []
                for document, moment in zip(
                    documents[first : first + chunk_size], times[first : first + chunk_size], strict=True
                ):
                    try:
                        readings.append(lander.validate({**document, "timestamp": wire_timestamp(moment + shift)}))
                    except PayloadError as error:
                        rejected += 1
                        progress.console.print(f"[red]row {first + len(readings) + 2}: rejected: {error}")
                landed += len(await lander.land(readings))
                progress.update(task, completed=min(first + chunk_size, len(documents)))
    finally:
        await _close_lander(lander)
    typer.echo(f"replayed {landed} payloads onto {settings.stream_key}; rejected {rejected}")


# --------------------------------------------------------------------------- the local stack


@app.command()
def run(
    port: Annotated[int, typer.Option(help="port of the analyzer API")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=8, help="stream workers in this process")] = 1,
    backfill: Annotated[int, typer.Option(min=0, help="simulated payloads landed at once before real time")] = 360,
    interval_s: Annotated[float, typer.Option(help="seconds between simulated payloads")] = 10.0,
    seed: Annotated[int, typer.Option(help="simulator seed")] = 0,
    verbose: Verbose = False,
) -> None:
    """Run the whole local pipeline: simulator -> Redis -> worker -> store, and the analyzer API. Ctrl-C stops it."""
    from analyzer.devtools.local_redis import local_redis

    _logging(verbose)
    settings = _settings()
    with local_redis(settings) as found:
        settings = settings.model_copy(update={"redis_connection_string": SecretStr(found.url)})
        _run_until_signal(
            lambda stop: _run_stack(settings, found.kind, port, workers, backfill, interval_s, seed, stop)
        )


async def _run_stack(
    settings: Settings,
    redis_kind: str,
    port: int,
    workers: int,
    backfill: int,
    interval_s: float,
    seed: int,
    stop: asyncio.Event,
) -> None:
    import uvicorn

    from analyzer.api.main import create_app
    from analyzer.runtime.services import open_services

    class _Server(uvicorn.Server):
        # The stack handles SIGINT/SIGTERM itself and tells the server when to stop.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    services = await open_services(settings)
    server = _Server(uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port, log_level="warning"))
    lander = services.lander
    labels = Path(settings.sqlite_path).parent / "labels.json"
    typer.secho("sensor-analyzer is running", fg="green", bold=True)
    typer.echo(f"  Redis       {redis_kind}; stream {settings.stream_key}")
    where = settings.sqlite_path if settings.store_backend == "sqlite" else settings.cosmos_db_endpoint
    typer.echo(f"  store       {settings.store_backend}: {where}")
    typer.echo(f"  API         http://127.0.0.1:{port}/docs  (health: /readyz)")
    typer.echo(f"  simulator   {backfill} payloads now, then one every {interval_s:g} s; labels in {labels}")
    typer.echo("  Ctrl-C stops everything.")

    async def simulate() -> None:
        if backfill:
            await land_simulation(
                lander,
                services.index.catalog,
                count=backfill,
                seed=seed,
                anomaly_rate=0.02,
                fast=True,
                labels_path=labels,
                stop=stop,
            )
        await land_simulation(
            lander,
            services.index.catalog,
            count=None,
            seed=seed + 1,
            anomaly_rate=0.02,
            fast=False,
            labels_path=labels,
            stop=stop,
            interval_s=interval_s,
        )

    async def serve() -> None:
        serving = asyncio.create_task(server.serve())
        await stop.wait()
        server.should_exit = True
        await serving

    try:
        await asyncio.gather(serve(), simulate(), *_background(services, stop, workers=workers))
    finally:
        await services.close()
    typer.echo("stopped")


def _register_tier_commands() -> None:
    """Commands whose code lives with their tiers."""
    from analyzer.devtools.evaluate import evaluate_command

    app.command("evaluate")(evaluate_command)


_register_tier_commands()
