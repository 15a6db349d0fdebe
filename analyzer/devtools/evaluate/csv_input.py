"""Reading a labelled (or unlabelled) CSV as a real historian or spreadsheet exports it.

What is accepted:

* the delimiter given (``--delimiter``, ``tab`` for a tab) or sniffed from the first 64 KB among
  ``, ; TAB |`` (``,`` when the sniffer cannot tell); UTF-8 with or without a byte-order mark, else
  Latin-1 (said in the notes);
* a timestamp column named ``--timestamp-column``, else ``timestamp``, ``time``, ``datetime``,
  ``date`` or ``ts`` (any case), else the first column; times read as :mod:`.timestamps` says, a
  time without a zone in ``--timezone`` (default UTC);
* headers with spaces and units, mapped to valid sensor names (:mod:`.columns`; the mapping is in
  the notes);
* cells that are not finite numbers (``n/a``, ``#N/A``, ``Bad``, ``I/O Timeout``, empty, ``nan``,
  ``inf``) are missing readings, counted per column with a few examples; a decimal comma with
  ``--decimal ,``;
* rows whose time cannot be read are dropped and counted; rows are put in time order (stable).

What is refused, with :class:`EvaluateInputError` naming the file, row (line) and column: no
readable time at all, a label column that is not there when labels are needed, a sensor column
without a single number (``--ignore-column`` leaves such a column out), no sensor column at all.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analyzer.devtools.evaluate.columns import sensor_names
from analyzer.devtools.evaluate.timestamps import TimeFormatError, parse_times

KIND_COLUMNS = ("anomaly_kind", "kind")
TIME_COLUMNS = ("timestamp", "time", "datetime", "date", "ts", "time stamp", "date time")
DELIMITERS = ",;\t|"
_NOT_ANOMALOUS = ("", "0", "false", "normal", "0.0", "no", "n")


class EvaluateInputError(ValueError):
    """Input that cannot be evaluated; the message is one line naming the file, row and column."""


@dataclass(frozen=True)
class CsvOptions:
    """How to read the file; every field has the default a plain export needs."""

    delimiter: str | None = None
    timezone: str = "UTC"
    time_format: str | None = None
    timestamp_column: str | None = None
    decimal: str = "."
    ignore_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadNotes:
    """What reading did to the file, for the user to check."""

    delimiter: str
    encoding: str
    time_column: str
    times_read_as: str
    #: Header -> sensor name, for the headers that had to change.
    renamed: dict[str, str]
    #: Sensor name -> (cells treated as missing, up to three example texts that were not numbers).
    missing: dict[str, tuple[int, tuple[str, ...]]]
    dropped_rows: int
    first_dropped_line: int | None


@dataclass
class LabelledData:
    names: list[str]
    times: np.ndarray  # epoch seconds
    values: np.ndarray  # (rows, sensors), NaN = absent
    labels: np.ndarray  # bool
    kinds: np.ndarray  # str, "normal" where not anomalous
    has_labels: bool = True
    notes: ReadNotes | None = field(default=None, repr=False)

    def rows(self, start: int, stop: int) -> LabelledData:
        """Rows ``start:stop`` (same columns, same notes)."""
        return LabelledData(
            self.names,
            self.times[start:stop],
            self.values[start:stop],
            self.labels[start:stop],
            self.kinds[start:stop],
            self.has_labels,
            self.notes,
        )


def read_labelled_csv(
    path: Path, label_column: str | None, options: CsvOptions | None = None, *, label_optional: bool = False
) -> LabelledData:
    """Read ``path``; ``label_column`` names the 0/1 column (``None``: the file has no labels).

    With ``label_optional`` a missing label column means no labels instead of an error.
    """
    options = options or CsvOptions()
    text, encoding = _text(path)
    delimiter = _delimiter(text, options.delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        header = []
    except csv.Error as error:
        raise EvaluateInputError(f"{path}: line 1: {error}") from None
    if not any(header):
        raise EvaluateInputError(f"{path}: empty file, expected a header row and readings")
    body = _body(path, reader)
    width = len(header)
    for line, row in body:
        if len(row) != width:
            raise EvaluateInputError(
                f"{path}: line {line} has {len(row)} cells, the header has {width} "
                f"(delimiter {_shown(delimiter)}; choose another with --delimiter)"
            )
    time_at = _time_column(path, header, options.timestamp_column)
    if label_optional and label_column not in header:
        label_column = None
    if label_column is not None and label_column not in header:
        shown = ", ".join(c for c in header[:12] if c != header[time_at])
        raise EvaluateInputError(
            f"{path} has no label column {label_column!r}; name the 0/1 column with --label-column "
            f"(columns: {shown}{' ...' if len(header) > 12 else ''})"
        )
    unknown = [c for c in options.ignore_columns if c not in header]
    if unknown:
        raise EvaluateInputError(f"{path}: --ignore-column {unknown[0]!r} is not a column of the file")
    label_at = header.index(label_column) if label_column is not None else None
    kind_column = next((c for c in KIND_COLUMNS if c in header and c != label_column), None)
    kind_at = header.index(kind_column) if kind_column else None
    skip = {time_at, label_at, kind_at} | {header.index(c) for c in options.ignore_columns}
    sensor_at = [i for i in range(width) if i not in skip]
    if not sensor_at:
        raise EvaluateInputError(f"{path}: no sensor columns besides the time and label columns")
    try:
        times, times_read_as = parse_times([row[time_at] for _, row in body], options.timezone, options.time_format)
    except TimeFormatError as error:
        raise EvaluateInputError(f"{path}: column {header[time_at]!r}: {error}") from None
    readable = ~np.isnan(times)
    if body and not readable.any():
        line, row = body[0]
        raise EvaluateInputError(
            f"{path}: line {line}, column {header[time_at]!r}: {row[time_at]!r} is not a time, nor is any other "
            "cell of that column (give the form with --time-format, or the column with --timestamp-column)"
        )
    dropped = [line for (line, _), ok in zip(body, readable, strict=True) if not ok]
    body = [entry for entry, ok in zip(body, readable, strict=True) if ok]
    times = times[readable]
    names = sensor_names([header[i] for i in sensor_at])
    values = np.empty((len(body), len(sensor_at)))
    missing: dict[str, tuple[int, tuple[str, ...]]] = {}
    for j, (column_at, name) in enumerate(zip(sensor_at, names, strict=True)):
        column, bad = _numbers([row[column_at] for _, row in body], options.decimal)
        if body and np.isnan(column).all():
            line, row = body[0]
            raise EvaluateInputError(
                f"{path}: line {line}, column {header[column_at]!r}: {row[column_at]!r} is not a number, nor is any "
                f"other cell of that column; leave it out with --ignore-column {header[column_at]!r}"
            )
        values[:, j] = column
        if bad:
            examples = tuple(text for text, _ in Counter(t for t in bad if t).most_common(3))
            missing[name] = (len(bad), examples)
    labels = np.array([_anomalous(row[label_at]) for _, row in body], dtype=bool) if label_at is not None else None
    kinds = np.full(len(body), "normal", dtype=object)
    for k, (_, row) in enumerate(body):
        if labels is not None and labels[k]:
            kinds[k] = (row[kind_at].strip() if kind_at is not None else "") or "anomaly"
    flags = labels if labels is not None else np.zeros(len(body), dtype=bool)
    order = np.argsort(times, kind="stable")
    notes = ReadNotes(
        delimiter=delimiter,
        encoding=encoding,
        time_column=header[time_at],
        times_read_as=times_read_as,
        renamed={header[i]: n for i, n in zip(sensor_at, names, strict=True) if header[i] != n},
        missing=missing,
        dropped_rows=len(dropped),
        first_dropped_line=dropped[0] if dropped else None,
    )
    return LabelledData(
        names=names,
        times=times[order],
        values=values[order],
        labels=flags[order],
        kinds=kinds.astype(str)[order],
        has_labels=labels is not None,
        notes=notes,
    )


def _body(path: Path, reader: Any) -> list[tuple[int, list[str]]]:
    """The non-blank rows with the line each starts on."""
    rows = []
    line = reader.line_num + 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((line, row))
            line = reader.line_num + 1
    except csv.Error as error:
        raise EvaluateInputError(f"{path}: line {line}: {error}") from None
    return rows


def _text(path: Path) -> tuple[str, str]:
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise EvaluateInputError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        return raw.decode("utf-8-sig"), "UTF-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "Latin-1 (not valid UTF-8)"


def _delimiter(text: str, chosen: str | None) -> str:
    if chosen is not None:
        named = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
        delimiter = named.get(chosen.lower(), chosen)
        if len(delimiter) != 1:
            raise EvaluateInputError(f"--delimiter must be one character or tab/comma/semicolon/pipe, got {chosen!r}")
        return delimiter
    try:
        return csv.Sniffer().sniff(text[:65536], delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _time_column(path: Path, header: list[str], chosen: str | None) -> int:
    if chosen is not None:
        if chosen not in header:
            raise EvaluateInputError(
                f"{path}: no column {chosen!r} for --timestamp-column (columns: {', '.join(header[:8])} ...)"
            )
        return header.index(chosen)
    lowered = [h.lower() for h in header]
    for name in TIME_COLUMNS:
        if name in lowered:
            return lowered.index(name)
    return 0


def _numbers(cells: list[str], decimal: str) -> tuple[np.ndarray, list[str]]:
    """The cells as floats; NaN for each cell that is not a finite number, which is also listed."""
    texts = [c.strip() for c in cells]
    if decimal != ".":
        texts = [t.replace(".", "").replace(decimal, ".") for t in texts]
    try:
        column = np.array(texts, dtype=float) if texts else np.empty(0)
    except ValueError:
        column = np.array([_float(t) for t in texts])
    bad_rows = np.flatnonzero(~np.isfinite(column))
    column[bad_rows] = np.nan
    return column, [cells[k].strip() for k in bad_rows]


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def _anomalous(cell: str) -> bool:
    return cell.strip().lower() not in _NOT_ANOMALOUS


def _shown(delimiter: str) -> str:
    return {"\t": "tab", ",": "','", ";": "';'", "|": "'|'"}.get(delimiter, repr(delimiter))
