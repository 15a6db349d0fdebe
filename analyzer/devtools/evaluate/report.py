"""What ``evaluate`` prints and writes: the input notes, the metric tables, the predictions file.

The predictions file is a plain CSV, one row per evaluated reading (probation rows included,
marked), whose first six columns are those scripts already read (``timestamp``, ``final_status``,
``severity``, ``if_score``, ``max_abs_z``, ``label``); later columns are only ever appended. Its
columns are documented beside it in ``<stem>.columns.json`` (the sidecar: each column's name and
meaning, the source file, how times were read, the tier 2 settings), so the CSV itself stays
readable by any CSV reader. An empty score cell means the detector did not score that row (no
model yet, every sensor in warm-up), never a made-up value.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analyzer.devtools.evaluate.csv_input import ReadNotes
from analyzer.devtools.evaluate.metrics import EventMetrics
from analyzer.devtools.evaluate.run import Evaluation
from analyzer.tiers.statistical import StatisticalSettings

#: Every column the predictions file can carry, in file order, with its meaning.
COLUMNS: dict[str, str] = {
    "timestamp": "reading time, ISO 8601 in UTC with Z",
    "final_status": "the decision of tiers 1+2: anomaly or normal",
    "severity": "severity of an anomalous row (low, medium, high, critical); empty when normal",
    "if_score": "IsolationForest calibrated score 0..1 (share of the training rows scoring lower); "
    "empty without a model",
    "max_abs_z": "largest |z| over the sensors tier 2 scored in this row; empty when it scored none (warm-up)",
    "label": "truth: 1 on a labelled row or inside a labelled window, else 0",
    "probation": "1 for the leading rows learned from but not scored (--probation), else 0",
    "top_sensor": "the sensor with the largest |z| in this row",
    "if_raw": "IsolationForest raw isolation score 0..1 (about 0.5 typical, towards 1 isolated)",
    "caught_by": "detectors whose conditions made the row anomalous (heuristic, zscore, stuck, forest), ';'-separated",
    "t2": "Hotelling's T^2 of the PCA monitor; empty where not computed",
    "q": "squared prediction error (Q/SPE) of the PCA monitor; empty where not computed",
}
#: The columns scripts have relied on since the first version: never renamed, never moved.
LEGACY_COLUMNS = ("timestamp", "final_status", "severity", "if_score", "max_abs_z", "label")


def notes_text(notes: ReadNotes | None, n_rows: int, n_sensors: int) -> list[str]:
    """Lines saying how the file was read: delimiter, times and zone, renamed columns, missing cells."""
    if notes is None:
        return []
    delimiter = {"\t": "tab"}.get(notes.delimiter, repr(notes.delimiter))
    lines = [
        f"read {n_rows} rows x {n_sensors} sensor{'s' if n_sensors != 1 else ''}; "
        f"delimiter {delimiter}, {notes.encoding}; "
        f"times in {notes.time_column!r}: {notes.times_read_as}"
    ]
    if notes.renamed:
        shown = ", ".join(f"{header!r} -> {name}" for header, name in notes.renamed.items())
        lines.append(f"sensor names: {shown}")
    if notes.missing:
        parts = []
        for name, (count, examples) in notes.missing.items():
            shown = f" ({', '.join(repr(e) for e in examples)})" if examples else ""
            parts.append(f"{name} {count}{shown}")
        lines.append(f"cells that are not numbers, treated as missing: {'; '.join(parts)}")
    if notes.dropped_rows:
        lines.append(
            f"dropped {notes.dropped_rows} rows whose time could not be read (first at line {notes.first_dropped_line})"
        )
    return lines


def format_table(overall: dict[str, float], kinds: dict[str, dict[str, float]]) -> str:
    lines = [
        "| precision | recall | F1 | false-alarm rate | missed-alarm rate |",
        "| --- | --- | --- | --- | --- |",
        f"| {overall['precision']:.3f} | {overall['recall']:.3f} | {overall['f1']:.3f} | "
        f"{overall['false_alarm_rate']:.4f} | {overall['missed_alarm_rate']:.3f} |",
    ]
    if kinds:
        lines += ["", "| kind | rows | row recall | events | events detected |", "| --- | --- | --- | --- | --- |"]
        for kind, m in kinds.items():
            lines.append(
                f"| {kind} | {int(m['rows'])} | {m['recall']:.3f} | {int(m['events'])} | {m['events_detected']:.2f} |"
            )
    return "\n".join(lines)


def duration(seconds: float | None) -> str:
    """``None`` -> ``-``; else seconds, minutes, hours or days, whichever reads best.

    >>> duration(None), duration(45), duration(600), duration(9000), duration(200_000)
    ('-', '45 s', '10 min', '2.5 h', '2.3 d')
    """
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def events_text(events: EventMetrics) -> str:
    return (
        f"events: windows detected {events.detected} of {events.windows}; alarms {events.alarms}, "
        f"false alarms {events.false_alarms} ({events.false_alarms_per_day:.2f} per day over {events.days:.1f} days); "
        f"median detection delay {duration(events.median_delay_s)}"
    )


def _cell(value: float, digits: int) -> str:
    return "" if not math.isfinite(value) else f"{value:.{digits}f}"


def write_predictions(
    path: Path, evaluation: Evaluation, *, source: Path, settings: StatisticalSettings, timezone: str
) -> Path:
    """Write the predictions CSV and its ``<stem>.columns.json``; return the sidecar's path."""
    result, data = evaluation.predictions, evaluation.data
    extra = [name for name in result.scores if name not in COLUMNS]
    # t2 and q appear once a driver computes them; every other known column is always there.
    known = [name for name in COLUMNS if name not in ("t2", "q") or name in result.scores]
    columns = known + extra
    digits = {"if_score": 4, "if_raw": 4, "max_abs_z": 3}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for k, t in enumerate(data.times):
            cells = {
                "timestamp": datetime.fromtimestamp(float(t), UTC).isoformat().replace("+00:00", "Z"),
                "final_status": "anomaly" if result.status[k] else "normal",
                "severity": result.severity[k],
                "label": int(data.labels[k]),
                "probation": int(k < evaluation.probation),
                "top_sensor": result.top_sensor[k],
                "caught_by": ";".join(result.caught_by[k]),
            }
            for name, values in result.scores.items():
                cells[name] = _cell(float(values[k]), digits.get(name, 6))
            writer.writerow([cells.get(name, "") for name in columns])
    sidecar = path.with_name(f"{path.stem}.columns.json")
    document = {
        "predictions": path.name,
        "source": str(source),
        "timezone": timezone,
        "times_read_as": data.notes.times_read_as if data.notes else None,
        "probation_rows": evaluation.probation,
        "columns": [{"name": n, "description": COLUMNS.get(n, "score computed by the driver")} for n in columns],
        "statistical_settings": settings.model_dump(mode="json"),
    }
    sidecar.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return sidecar


def summary(evaluation: Evaluation) -> dict[str, object]:
    """The figures of one evaluation as JSON-ready data."""
    events = evaluation.events
    return {
        **{k: round(v, 6) for k, v in evaluation.point.items()},
        "windows": events.windows,
        "windows_detected": events.detected,
        "alarms": events.alarms,
        "false_alarms": events.false_alarms,
        "false_alarms_per_day": round(events.false_alarms_per_day, 4),
        "days": round(events.days, 4),
        "median_delay_s": events.median_delay_s,
        "models_trained": evaluation.predictions.models_trained,
        "scored_rows_with_z": int(np.isfinite(evaluation.predictions.scores["max_abs_z"][evaluation.scored]).sum()),
    }
