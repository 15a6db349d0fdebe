"""Commands that land payloads on the stream: ingest, simulate, replay."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from analyzer.cli.app import Verbose, app, load_settings, run_until_signal, setup_logging
from analyzer.settings import Settings

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
    setup_logging(verbose)
    settings = load_settings()

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
    setup_logging(verbose)
    from analyzer.catalog import load_catalog
    from analyzer.devtools.simulator import simulate_plant, write_csv

    settings = load_settings()
    catalog = load_catalog(settings.sensor_catalog)
    if output is not None:
        n = count or 8640
        first = start.replace(tzinfo=start.tzinfo or UTC) if start else datetime.now(UTC) - timedelta(seconds=10 * n)
        plant = simulate_plant(catalog, first.replace(microsecond=0), n, seed=seed, anomaly_rate=anomaly_rate)
        path = write_csv(plant, output)
        typer.echo(f"wrote {n} payloads to {path} with {len(plant.labels)} labelled anomalies beside it")
        return
    run_until_signal(
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
    model: Any = None,
) -> int:
    """Land simulated payloads: ``fast`` lands ``count`` payloads whose times end now, as history
    (entry ids at their reading times); otherwise one every ``interval_s`` from now on. Labels are
    rewritten to ``labels_path`` as they appear. ``model`` continues a plant already simulated
    (the demo's live part follows its backfilled day)."""
    from analyzer.devtools.simulator import PlantModel, label_to_dict
    from analyzer.reading import PayloadError

    n_fast = count or 360
    start = datetime.now(UTC).replace(microsecond=0) - (timedelta(seconds=10 * (n_fast - 1)) if fast else timedelta())
    model = model or PlantModel(catalog, start, seed=seed, anomaly_rate=anomaly_rate)
    landed = 0
    labels_path.parent.mkdir(parents=True, exist_ok=True)
    from analyzer.devtools.simulator import iter_payloads

    # A label spanning several chunks arrives once per chunk; keep one per anomaly, with its full span.
    labels: dict[tuple[str, tuple[str, ...], datetime], Any] = {}

    # Fast runs longer than the window: the payloads older than it are simulated (the plant is the
    # same) but not landed, since the stream keeps only the window (they would be trimmed at once).
    window_s = lander.limits.window_s
    oldest = datetime.now(UTC) - timedelta(seconds=window_s - 60)
    skipped = 0
    while not stop.is_set() and (count is None or landed + skipped < count):
        size = min(500, n_fast - landed - skipped) if fast else 1
        plant = model.advance(size)
        documents = list(iter_payloads(plant))
        if fast:
            kept = [doc for doc in documents if datetime.fromisoformat(str(doc["timestamp"])) >= oldest]
            skipped += len(documents) - len(kept)
            documents = kept
        try:
            readings = [lander.validate(doc) for doc in documents]
        except PayloadError as error:
            raise RuntimeError(f"the simulator produced an invalid payload: {error}") from error
        landed += len(await lander.land(readings, at_reading_times=fast))
        for label in plant.labels:
            key = (label.kind, label.sensors, label.start)
            if key not in labels or label.end > labels[key].end:
                labels[key] = label
        labels_path.write_text(json.dumps([label_to_dict(label) for label in labels.values()], indent=1))
        if on_landed:
            on_landed(landed)
        if fast and landed + skipped >= n_fast:
            break
        if not fast:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
    if skipped:
        typer.echo(
            f"{skipped} of the {n_fast} payloads fall before the {window_s / 3600:g} h window the stream keeps: "
            "simulated, not landed"
        )
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
    setup_logging(verbose)
    from analyzer.devtools.simulator import CsvReadError, iter_csv_payloads

    if speed < 0:
        raise typer.BadParameter("speed must be 0 (as fast as possible) or positive", param_hint="--speed")
    if not csv_file.is_file():
        raise typer.BadParameter(f"{csv_file} is not a file", param_hint="CSV_FILE")
    settings = load_settings()
    labels = tuple(label_column) if label_column else ("anomaly", "anomaly_kind", "label")
    try:
        documents = list(iter_csv_payloads(csv_file, labels, timestamp_column=timestamp_column))
    except CsvReadError as error:
        typer.secho(str(error), err=True, fg="red")
        raise typer.Exit(1) from None
    if not documents:
        typer.secho(f"{csv_file} holds no rows", err=True, fg="red")
        raise typer.Exit(1)
    rejected: list[int] = []

    async def main(stop: asyncio.Event) -> None:
        rejected.append(await _replay(settings, documents, speed, rebase, stop))

    run_until_signal(main)
    if rejected and rejected[0]:
        raise typer.Exit(1)  # some rows were not landed: a script must notice


async def _replay(
    settings: Settings, documents: list[dict[str, Any]], speed: float, rebase: bool, stop: asyncio.Event
) -> int:
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
                for row, (document, moment) in enumerate(
                    zip(documents[first : first + chunk_size], times[first : first + chunk_size], strict=True),
                    start=first,
                ):
                    try:
                        readings.append(lander.validate({**document, "timestamp": wire_timestamp(moment + shift)}))
                    except PayloadError as error:
                        rejected += 1
                        # The CSV's line: the header is line 1, data row 0 is line 2.
                        progress.console.print(f"line {row + 2}: rejected: {error}", style="red", markup=False)
                landed += len(await lander.land(readings))
                progress.update(task, completed=min(first + chunk_size, len(documents)))
    finally:
        await _close_lander(lander)
    typer.echo(f"replayed {landed} payloads onto {settings.stream_key}; rejected {rejected}")
    return rejected
