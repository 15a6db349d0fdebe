"""Labelled anomaly windows: from a label column, from a windows file, and the probation period.

Two sources of truth, one shape (a start and an end in epoch seconds, inclusive, and a kind):

* the rows of a label column: each run of consecutive labelled rows of one kind is a window;
* a windows file in the Numenta Anomaly Benchmark's form, ``{"<category>/<file>.csv": [[start,
  end], ...], ...}``: the entry whose key the evaluated file's path ends with is used, its times
  read like the CSV's (``--timezone`` for times without a zone); the rows inside a window become
  the labels.

The *probation period* is the leading share of the rows that is learned from but not scored
(NAB: 15 %), so a detector is not judged while it has seen almost nothing.

>>> times = np.arange(8.0) * 60
>>> labels = np.array([0, 1, 1, 0, 0, 1, 1, 1], bool)
>>> kinds = np.array(["normal", "spike", "spike", "normal", "normal", "drift", "drift", "stuck"])
>>> [(w.start, w.end, w.kind) for w in windows_from_labels(times, labels, kinds)]
[(60.0, 120.0, 'spike'), (300.0, 360.0, 'drift'), (420.0, 420.0, 'stuck')]
>>> label_rows(times, [LabelledWindow(100.0, 200.0)]).astype(int).tolist()
[0, 0, 1, 1, 0, 0, 0, 0]
>>> probation_rows(20, 0.15)
3
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analyzer.devtools.evaluate.csv_input import EvaluateInputError
from analyzer.devtools.evaluate.metrics import Interval
from analyzer.devtools.evaluate.timestamps import TimeFormatError, parse_times


@dataclass(frozen=True)
class LabelledWindow:
    start: float
    end: float
    kind: str = "anomaly"

    @property
    def interval(self) -> Interval:
        return (self.start, self.end)


def windows_from_labels(times: np.ndarray, labels: np.ndarray, kinds: np.ndarray) -> list[LabelledWindow]:
    """Runs of consecutive labelled rows of one kind, as windows."""
    if not len(times):
        return []
    changes = np.r_[True, (kinds[1:] != kinds[:-1]) | (labels[1:] != labels[:-1])]
    starts = np.flatnonzero(labels & changes)
    ends = np.flatnonzero(labels & np.r_[changes[1:], True])
    return [LabelledWindow(float(times[s]), float(times[e]), str(kinds[s])) for s, e in zip(starts, ends, strict=True)]


def label_rows(times: np.ndarray, windows: Sequence[LabelledWindow]) -> np.ndarray:
    """True for the rows inside any window."""
    inside = np.zeros(len(times), dtype=bool)
    for window in windows:
        inside |= (times >= window.start) & (times <= window.end)
    return inside


def windows_from_file(path: Path, evaluated: Path, timezone: str = "UTC") -> list[LabelledWindow]:
    """The windows listed for ``evaluated`` in a NAB-style windows file (see the module docstring)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise EvaluateInputError(f"{path}: cannot read: {error.strerror or error}") from None
    except ValueError as error:
        raise EvaluateInputError(f"{path}: not JSON: {error}") from None
    if not isinstance(document, dict):
        raise EvaluateInputError(f"{path}: expected an object mapping file names to lists of [start, end]")
    target = evaluated.resolve().as_posix()
    matches = [key for key in document if target.endswith("/" + key.lstrip("/")) or target == key]
    if not matches:
        raise EvaluateInputError(f"{path}: no entry for {evaluated.name} (keys look like {next(iter(document), '')!r})")
    key = max(matches, key=len)
    pairs = document[key]
    if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
        raise EvaluateInputError(f"{path}: entry {key!r} must be a list of [start, end] pairs")
    cells = [str(cell) for pair in pairs for cell in pair]
    try:
        times, _ = parse_times(cells, timezone)
    except TimeFormatError as error:
        raise EvaluateInputError(f"{path}: entry {key!r}: {error}") from None
    for cell, moment in zip(cells, times, strict=True):
        if math.isnan(moment):
            raise EvaluateInputError(f"{path}: entry {key!r}: {cell!r} is not a time")
    return [LabelledWindow(float(times[2 * k]), float(times[2 * k + 1])) for k in range(len(pairs))]


def probation_rows(n_rows: int, share: float) -> int:
    """How many leading rows are learning only (rounded down, as NAB)."""
    if not 0.0 <= share < 1.0:
        raise EvaluateInputError(f"--probation is a share of the rows in [0, 1), got {share}")
    return math.floor(n_rows * share)
