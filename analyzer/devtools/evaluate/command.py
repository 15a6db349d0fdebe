"""``sensor-analyzer evaluate``: the command line around :func:`~.run.evaluate_data`.

Bad input (unreadable file, unknown zone, a column without a single number, ...) is one line on
standard error, ``error: ...``, and exit code 2; never a traceback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from analyzer.catalog import CatalogError
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.evaluate.catalog import derive_catalog
from analyzer.devtools.evaluate.csv_input import CsvOptions, EvaluateInputError, LabelledData, read_labelled_csv
from analyzer.devtools.evaluate.report import events_text, format_table, notes_text, write_predictions
from analyzer.devtools.evaluate.run import Evaluation, evaluate_data
from analyzer.devtools.evaluate.timestamps import TimeFormatError, zone
from analyzer.devtools.evaluate.windows import LabelledWindow, probation_rows, windows_from_file
from analyzer.tiers.statistical import StatisticalSettings

#: Runs with at least this many rows show a progress bar (on a terminal).
PROGRESS_ROWS = 5000


def evaluate_command(
    file: Annotated[Path, typer.Argument(help="CSV: a time column, numeric sensor columns, optionally a 0/1 label")],
    label_column: Annotated[
        str, typer.Option("--label-column", help="0/1 column marking anomalous rows (not needed with --windows)")
    ] = "anomaly",
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="sensor catalogue JSON; derived from the CSV when omitted")
    ] = None,
    fit: Annotated[Path | None, typer.Option("--fit", help="CSV to learn from before evaluating")] = None,
    fit_rows: Annotated[int, typer.Option("--fit-rows", help="learn from the first N rows, evaluate the rest")] = 0,
    predictions: Annotated[
        Path | None, typer.Option("--predictions", help="write per-row predictions here (+ <stem>.columns.json)")
    ] = None,
    windows: Annotated[
        Path | None,
        typer.Option("--windows", help="labelled windows, NAB form {'<dir>/<file>.csv': [[start, end], ...]}"),
    ] = None,
    probation: Annotated[
        float, typer.Option("--probation", help="leading share of the rows learned from but not scored (NAB: 0.15)")
    ] = 0.0,
    delimiter: Annotated[
        str | None, typer.Option("--delimiter", help="cell delimiter (',' ';' tab '|'); sniffed when omitted")
    ] = None,
    timezone: Annotated[
        str, typer.Option("--timezone", help="zone of times written without one (IANA name, e.g. Europe/Berlin)")
    ] = "UTC",
    time_format: Annotated[
        str | None, typer.Option("--time-format", help="strptime form of the times, e.g. '%d/%m/%Y %H:%M:%S'")
    ] = None,
    timestamp_column: Annotated[
        str | None, typer.Option("--timestamp-column", help="the time column; default timestamp/time/date/first")
    ] = None,
    decimal: Annotated[str, typer.Option("--decimal", help="decimal mark of the numbers: '.' or ','")] = ".",
    ignore_column: Annotated[
        list[str] | None, typer.Option("--ignore-column", help="leave this column out (repeatable)")
    ] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="progress bar on long runs")] = True,
) -> None:
    """Run tiers 1 and 2 over a CSV as if streamed; print point-wise and event-level quality.

    Point-wise: precision, recall, F1, false-alarm and missed-alarm rates per row (per anomaly kind
    too when the CSV has an ``anomaly_kind`` column). Event-level: labelled windows detected, false
    alarms per day, detection delay. Tier 2 settings come from the ``STAT_*`` environment variables.
    """
    try:
        options = CsvOptions(
            delimiter=delimiter,
            timezone=timezone,
            time_format=time_format,
            timestamp_column=timestamp_column,
            decimal=decimal,
            ignore_columns=tuple(ignore_column or ()),
        )
        _evaluate(file, label_column, catalog, fit, fit_rows, predictions, windows, probation, options, progress)
    except (EvaluateInputError, CatalogError, TimeFormatError) as error:
        typer.echo(f"error: {' '.join(str(error).split())}", err=True)
        raise typer.Exit(2) from None
    except ValidationError as error:  # STAT_* settings that do not validate
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        typer.echo(f"error: tier 2 setting {where}: {first['msg']}", err=True)
        raise typer.Exit(2) from None


def _evaluate(
    file: Path,
    label_column: str,
    catalog: Path | None,
    fit: Path | None,
    fit_rows: int,
    predictions: Path | None,
    windows_file: Path | None,
    probation: float,
    options: CsvOptions,
    progress: bool,
) -> None:
    from analyzer.catalog import load_catalog

    # Everything that can be refused without reading the data is refused first.
    zone(options.timezone)  # an unknown zone is an error even when every time carries one
    settings = StatisticalSettings()
    probation_rows(1, probation)
    if fit and fit_rows:
        raise EvaluateInputError("give --fit or --fit-rows, not both")
    # With a windows file the windows are the truth: a label column is used only for its kinds.
    data = read_labelled_csv(file, label_column, options, label_optional=windows_file is not None)
    fit_data = read_labelled_csv(fit, None, options) if fit else None
    if fit_rows:
        if not 0 < fit_rows < len(data.times):
            raise EvaluateInputError(f"--fit-rows {fit_rows}: the file has {len(data.times)} rows")
        fit_data, data = data.rows(0, fit_rows), data.rows(fit_rows, len(data.times))
    windows = windows_from_file(windows_file, file, options.timezone) if windows_file else None
    sensor_catalog = load_catalog(catalog) if catalog else derive_catalog(data.names, data.values, data.times)
    index = SensorIndex.from_catalog(sensor_catalog)
    _check_columns(file, data, index)
    for line in notes_text(data.notes, len(data.times), len(data.names)):
        typer.echo(line)
    evaluation = asyncio.run(_run(index, data, settings, fit_data, windows, probation, progress))
    result = evaluation.predictions
    for warning in result.warnings:
        typer.secho(f"warning: {warning}", err=True, fg="yellow")
    held = f" after {evaluation.probation} probation rows" if evaluation.probation else ""
    typer.echo(
        f"rows {int(evaluation.point['rows'])}, anomalous {int(evaluation.point['anomalous_rows'])}, "
        f"models trained {result.models_trained}{held}"
    )
    typer.echo(format_table(evaluation.point, evaluation.kinds))
    typer.echo(events_text(evaluation.events))
    if predictions:
        sidecar = write_predictions(predictions, evaluation, source=file, settings=settings, timezone=options.timezone)
        typer.echo(f"predictions written to {predictions} (columns described in {sidecar.name})")


def _check_columns(file: Path, data: LabelledData, index: SensorIndex) -> None:
    known = [n for n in data.names if n in index.position]
    if not known:
        raise EvaluateInputError(
            f"{file}: none of its columns ({', '.join(data.names[:6])}) is a sensor of the catalogue"
        )
    unknown = [n for n in data.names if n not in index.position]
    if unknown:
        typer.secho(
            f"warning: {len(unknown)} columns are not in the catalogue and are ignored: {', '.join(unknown[:8])}",
            err=True,
            fg="yellow",
        )


async def _run(
    index: SensorIndex,
    data: LabelledData,
    settings: StatisticalSettings,
    fit: LabelledData | None,
    windows: list[LabelledWindow] | None,
    probation: float,
    progress: bool,
) -> Evaluation:
    console = Console(stderr=True)
    shown = progress and console.is_terminal and len(data.times) >= PROGRESS_ROWS
    with Progress(
        TextColumn("evaluating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not shown,
    ) as bar:
        task = bar.add_task("rows", total=len(data.times))
        return await evaluate_data(
            index,
            data,
            settings,
            fit=fit,
            windows=windows,
            probation=probation,
            progress=lambda rows: bar.advance(task, rows),
        )
