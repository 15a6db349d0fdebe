"""Simulations on disk, and replay of any CSV of readings.

A simulation is written as a CSV (``timestamp``, one column per sensor with an empty cell where
the sensor is absent, then ``anomaly`` 0/1 and ``anomaly_kind``) with its labels beside it in
``<stem>.labels.json``. Any CSV with a ``timestamp`` column and numeric sensor columns can be
replayed with :func:`iter_csv_payloads`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analyzer.devtools.simulator.plant import AnomalyLabel, SimulatedPlant, format_timestamp

LABEL_COLUMNS: tuple[str, ...] = ("anomaly", "anomaly_kind")


class CsvReadError(ValueError):
    """A CSV of readings cannot be read; the message names the file, line and column."""


def labels_path(csv_path: Path | str) -> Path:
    """Where the labels of a simulation CSV live: ``day.csv`` -> ``day.labels.json``.

    >>> labels_path("runs/day.csv").as_posix()
    'runs/day.labels.json'
    """
    path = Path(csv_path)
    return path.with_name(f"{path.stem}.labels.json")


def write_csv(plant: SimulatedPlant, path: Path | str) -> Path:
    """Write the payloads to ``path`` and the labels beside it (:func:`labels_path`); return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["timestamp", *plant.sensor_names, *LABEL_COLUMNS])
        for timestamp, row, kind in zip(plant.timestamps, plant.values.tolist(), plant.row_kind, strict=True):
            cells = ["" if value != value else repr(value) for value in row]
            writer.writerow([format_timestamp(timestamp), *cells, int(kind != "normal"), kind])
    labels = [label_to_dict(label) for label in plant.labels]
    labels_path(path).write_text(json.dumps(labels, indent=2) + "\n", "utf-8")
    return path


def read_csv(path: Path | str) -> SimulatedPlant:
    """Read a CSV written by :func:`write_csv` (or any CSV of readings) back into a plant.

    Labels come from :func:`labels_path` when that file exists; the per-payload kind from the
    ``anomaly_kind`` column when there is one, else every payload is ``"normal"``.
    """
    path = Path(path)
    names, rows = _parse(path, LABEL_COLUMNS)
    timestamps, values, kinds = [], [], []
    for _, timestamp, readings, label_cells in rows:
        timestamps.append(timestamp)
        values.append(readings)
        kinds.append(label_cells.get("anomaly_kind") or "normal")
    labels_file = labels_path(path)
    labels: list[AnomalyLabel] = []
    if labels_file.exists():
        try:
            labels = [label_from_dict(item) for item in json.loads(labels_file.read_text("utf-8"))]
        except (ValueError, KeyError, TypeError) as exc:
            raise CsvReadError(f"{labels_file}: not a list of anomaly labels: {exc}") from exc
    return SimulatedPlant(
        timestamps=np.array(timestamps, dtype="datetime64[ms]"),
        values=np.array(values, dtype=float).reshape(len(values), len(names)),
        sensor_names=names,
        labels=labels,
        row_kind=np.array(kinds, dtype="<U18"),
    )


def iter_csv_payloads(
    path: Path | str,
    label_columns: Sequence[str] = LABEL_COLUMNS,
    *,
    timestamp_column: str = "timestamp",
) -> Iterator[dict[str, object]]:
    """Replay a CSV of readings, one payload per row, reading the file as it goes.

    Parameters
    ----------
    path
        The CSV: a header row, a timestamp column (ISO 8601, ``Z`` or an offset, naive meaning
        UTC; or epoch seconds) and numeric sensor columns; an empty cell means the sensor is absent.
    label_columns
        Columns that are not readings and are left out of the payloads (when present).
    timestamp_column
        The name of the timestamp column.

    Yields
    ------
    dict
        ``{"timestamp": "2026-11-23T10:00:00Z", "TI-101": 351.2, ...}``.

    Raises
    ------
    CsvReadError
        Naming the file, the line and the column. A missing file, an empty file, a missing
        timestamp column or duplicate columns raise at the call; a row with the wrong number of
        cells, an unreadable timestamp or a value that is not a finite number raise when that row
        is reached (payloads before it have been yielded).
    """
    names, rows = _parse(Path(path), label_columns, timestamp_column)  # header problems raise now
    return _payloads(names, rows)


def _payloads(names: list[str], rows: Iterator[Row]) -> Iterator[dict[str, object]]:
    for _, timestamp, readings, _ in rows:
        payload: dict[str, object] = {"timestamp": format_timestamp(timestamp)}
        payload.update((name, value) for name, value in zip(names, readings, strict=True) if value == value)
        yield payload


Row = tuple[int, np.datetime64, list[float], dict[str, str]]


def _parse(
    path: Path, label_columns: Sequence[str], timestamp_column: str = "timestamp"
) -> tuple[list[str], Iterator[Row]]:
    """Check the header now; return the sensor names and a lazy iterator over the rows."""
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise CsvReadError(f"{path}: cannot open: {exc.strerror or exc}") from None
    reader = csv.reader(handle)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        handle.close()
        raise CsvReadError(f"{path}: empty file, expected a header row with a {timestamp_column!r} column") from None
    duplicates = sorted({name for name in header if header.count(name) > 1})
    problem = None
    if duplicates:
        problem = f"duplicate columns {', '.join(duplicates)}"
    elif timestamp_column not in header:
        problem = (
            f"no {timestamp_column!r} column (columns: {', '.join(header[:8])}{', ...' if len(header) > 8 else ''})"
        )
    if problem:
        handle.close()
        raise CsvReadError(f"{path}: line 1: {problem}")
    time_at = header.index(timestamp_column)
    labels_at = {i: name for i, name in enumerate(header) if name in label_columns}
    sensors_at = [i for i in range(len(header)) if i != time_at and i not in labels_at]
    names = [header[i] for i in sensors_at]

    def rows() -> Iterator[Row]:
        with handle:
            for cells in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    raise CsvReadError(f"{path}: line {line}: {len(cells)} cells, the header has {len(header)}")
                timestamp = _parse_timestamp(cells[time_at], path, line, timestamp_column)
                readings = [_parse_reading(cells[i], path, line, header[i]) for i in sensors_at]
                yield line, timestamp, readings, {name: cells[i].strip() for i, name in labels_at.items()}

    return names, rows()


def _parse_reading(cell: str, path: Path, line: int, column: str) -> float:
    text = cell.strip()
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise CsvReadError(f"{path}: line {line}, column {column!r}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise CsvReadError(f"{path}: line {line}, column {column!r}: {text!r} is not a finite number")
    return value


def _parse_timestamp(cell: str, path: Path, line: int, column: str) -> np.datetime64:
    text = cell.strip()
    try:
        moment = datetime.fromtimestamp(float(text), tz=UTC)
    except (ValueError, OverflowError, OSError):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise CsvReadError(
                f"{path}: line {line}, column {column!r}: {text!r} is not an ISO 8601 time or epoch seconds"
            ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return np.datetime64(moment.replace(tzinfo=None), "ms")


def label_to_dict(label: AnomalyLabel) -> dict[str, object]:
    """A label as JSON-ready data: ``kind``, ``sensors``, ``start``, ``end`` (ISO, ``Z``), ``detail``."""
    return {
        "kind": label.kind,
        "sensors": list(label.sensors),
        "start": format_timestamp(np.datetime64(label.start.astimezone(UTC).replace(tzinfo=None), "ms")),
        "end": format_timestamp(np.datetime64(label.end.astimezone(UTC).replace(tzinfo=None), "ms")),
        "detail": label.detail,
    }


_label_to_json = label_to_dict  # the name analyzer.cli imported first


def label_from_dict(item: dict[str, object]) -> AnomalyLabel:
    """The inverse of :func:`label_to_dict`."""
    sensors = item["sensors"]
    if not isinstance(sensors, list):
        raise TypeError("sensors must be a list")
    return AnomalyLabel(
        kind=str(item["kind"]),
        sensors=tuple(str(name) for name in sensors),
        start=datetime.fromisoformat(str(item["start"]).replace("Z", "+00:00")),
        end=datetime.fromisoformat(str(item["end"]).replace("Z", "+00:00")),
        detail=str(item.get("detail", "")),
    )
