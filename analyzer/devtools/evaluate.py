"""Evaluation of tiers 1 and 2 on labelled data: stream a CSV in time order and score the flags.

Every row is folded in micro-batches exactly as the worker does (the same fold: tiers, alarm step,
learning and retraining; in-process, so no Redis is needed), with entry ids taken from the reading
times. Training follows the fold's schedule: the first model once ``STAT_IF_MIN_TRAINING_ROWS``
protected rows exist, then every ``STAT_IF_RETRAIN_AFTER_ROWS`` rows or
``STAT_IF_RETRAIN_INTERVAL_S`` of reading time. ``--fit-rows N`` (or
``--fit FILE``) instead learns from N leading rows (or a separate file) first, trains once on them,
and evaluates the rest.

A row is predicted anomalous when its final status is ``anomaly`` (an alarm counted it). Reported per row:
precision, recall, F1, false-alarm rate (flagged normal rows / normal rows) and missed-alarm rate
(unflagged anomalous rows / anomalous rows); per anomaly kind (when the CSV has a kind column,
e.g. the simulator's ``anomaly_kind``): row recall and the share of events (runs of consecutive
rows of that kind) flagged at least once.
"""

from __future__ import annotations

import asyncio
import csv
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from analyzer.analysis.fold import Folder
from analyzer.catalog.index import SensorIndex
from analyzer.reading import Reading, parse_timestamp
from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier
from schemas.catalog import SensorCatalog, SensorSpec
from schemas.results import AnalysisResult

KIND_COLUMNS = ("anomaly_kind", "kind")


@dataclass
class LabelledData:
    names: list[str]
    times: np.ndarray  # epoch seconds
    values: np.ndarray  # (rows, sensors), NaN = absent
    labels: np.ndarray  # bool
    kinds: np.ndarray  # str, "normal" where not anomalous


def read_labelled_csv(path: Path, label_column: str) -> LabelledData:
    """A CSV with a ``timestamp`` column, numeric sensor columns and a 0/1 label column."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if "timestamp" not in header:
            raise typer.BadParameter(f"{path} has no 'timestamp' column (columns: {', '.join(header[:8])} ...)")
        if label_column not in header:
            shown = ", ".join(c for c in header[:12] if c != "timestamp")
            raise typer.BadParameter(
                f"{path} has no label column {label_column!r}; name the 0/1 column with --label-column "
                f"(columns: {shown}{' ...' if len(header) > 12 else ''})"
            )
        kind_column = next((c for c in KIND_COLUMNS if c in header and c != label_column), None)
        skip = {"timestamp", label_column, kind_column}
        sensors = [i for i, c in enumerate(header) if c not in skip]
        t_i, l_i = header.index("timestamp"), header.index(label_column)
        k_i = header.index(kind_column) if kind_column else None
        times, rows, labels, kinds = [], [], [], []
        for line in reader:
            if not line:
                continue
            times.append(parse_timestamp(line[t_i]).timestamp())
            rows.append([float(line[i]) if line[i].strip() else math.nan for i in sensors])
            flag = line[l_i].strip().lower() not in ("", "0", "false", "normal", "0.0")
            labels.append(flag)
            kinds.append((line[k_i] or "anomaly") if (k_i is not None and flag) else ("anomaly" if flag else "normal"))
    order = np.argsort(np.array(times), kind="stable")
    return LabelledData(
        names=[header[i] for i in sensors],
        times=np.array(times)[order],
        values=np.array(rows, dtype=float).reshape(len(times), len(sensors))[order],
        labels=np.array(labels, dtype=bool)[order],
        kinds=np.array(kinds)[order],
    )


def derive_catalog(names: list[str], values: np.ndarray, times: np.ndarray) -> SensorCatalog:
    """A catalogue from the data: no limits; core = never absent; hourly = changes about hourly."""
    span_h = max((times[-1] - times[0]) / 3600, 1e-9) if len(times) else 1.0
    sensors = []
    for j, name in enumerate(names):
        column = values[:, j]
        present = column[~np.isnan(column)]
        changes = int((np.diff(present) != 0).sum()) if len(present) > 1 else 0
        hourly = len(present) > 0 and changes <= 2 * span_h and len(present) > 4 * span_h
        sensors.append(
            SensorSpec(
                name=name,
                unit="",
                description=f"column {name}",
                core=bool(len(present) == len(column)) and not hourly,
                update_interval_s=3600 if hourly else 10,
            )
        )
    return SensorCatalog(plant="derived", sensors=sensors)


@dataclass
class Predictions:
    status: np.ndarray  # bool, anomaly
    severity: list[str]
    if_score: np.ndarray
    max_abs_z: np.ndarray
    models_trained: int = 0
    training_s: list[float] = field(default_factory=list)


async def run_stream(
    index: SensorIndex,
    data: LabelledData,
    settings: StatisticalSettings,
    *,
    fit: LabelledData | None = None,
    batch: int = 64,
) -> Predictions:
    """Fold ``data`` in time order exactly as the worker does (tiers, alarms, retraining as the
    fold reaches its training points), in process; learn from ``fit`` first when given."""
    folder = Folder(index, StatisticalTier(index, settings))
    state = folder.new_state()
    out = Predictions(
        np.zeros(len(data.times), bool),
        [""] * len(data.times),
        np.full(len(data.times), np.nan),
        np.zeros(len(data.times)),
    )
    # Entry ids follow reading time; evaluated rows come after the fit rows, shifted if they overlap.
    shift_ms = 0
    if fit is not None and len(fit.times) and len(data.times) and data.times[0] <= fit.times[-1]:
        shift_ms = int((fit.times[-1] - data.times[0]) * 1000) + settings.bucket_s * 1000

    def readings(source: LabelledData, start: int, stop: int, offset_ms: int, seq0: int) -> list[Reading]:
        cols = np.array([index.position.get(n, -1) for n in source.names])
        rows = []
        for k in range(start, stop):
            values = np.full(len(index), np.nan)
            values[cols[cols >= 0]] = source.values[k][cols >= 0]
            t = float(source.times[k])
            entry_id = f"{int(t * 1000) + offset_ms}-{seq0 + k}"
            rows.append(Reading(entry_id, datetime.fromtimestamp(t, UTC), values, {}, ()))
        return rows

    async def fold(chunk: list[Reading]) -> list[AnalysisResult]:
        nonlocal state
        outcome = await folder.fold_readings(state, chunk)
        state = outcome.state
        for model in outcome.models:
            out.models_trained += 1
            out.training_s.append(model.training_s)
        return outcome.results

    if fit is not None:
        for start in range(0, len(fit.times), batch):
            await fold(readings(fit, start, min(start + batch, len(fit.times)), 0, 0))
    seq0 = len(fit.times) if fit is not None else 0
    for start in range(0, len(data.times), batch):
        stop = min(start + batch, len(data.times))
        results = await fold(readings(data, start, stop, shift_ms, seq0))
        for k, result in enumerate(results):
            out.status[start + k] = result.final_status == "anomaly"
            out.severity[start + k] = result.severity_level.value if result.severity_level else ""
            ml = result.ml
            out.if_score[start + k] = ml.results.score if ml is not None and ml.results.status != "no_model" else np.nan
            z = result.statistical.z_scores.values() if result.statistical is not None else ()
            out.max_abs_z[start + k] = max((abs(v) for v in z), default=0.0)
    return out


def metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Row-level precision, recall, F1, false-alarm and missed-alarm rates.

    >>> metrics(np.array([1, 1, 0, 0], bool), np.array([1, 0, 1, 0], bool))["f1"]
    0.5
    """
    tp = int((truth & predicted).sum())
    fp = int((~truth & predicted).sum())
    fn = int((truth & ~predicted).sum())
    tn = int((~truth & ~predicted).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "false_alarm_rate": fp / (fp + tn) if fp + tn else 0.0,
        "missed_alarm_rate": fn / (fn + tp) if fn + tp else 0.0,
        "rows": float(len(truth)),
        "anomalous_rows": float(tp + fn),
    }


def per_kind(kinds: np.ndarray, predicted: np.ndarray) -> dict[str, dict[str, float]]:
    """Per anomaly kind: row recall and the share of events (runs of the kind) flagged at least once."""
    report = {}
    for kind in sorted(set(kinds.tolist()) - {"normal"}):
        rows = kinds == kind
        starts = np.flatnonzero(rows & ~np.r_[False, rows[:-1]])
        ends = np.flatnonzero(rows & ~np.r_[rows[1:], False])
        caught = sum(bool(predicted[s : e + 1].any()) for s, e in zip(starts, ends, strict=True))
        report[kind] = {
            "rows": float(rows.sum()),
            "recall": float(predicted[rows].mean()) if rows.any() else 0.0,
            "events": float(len(starts)),
            "events_detected": caught / len(starts) if len(starts) else 0.0,
        }
    return report


def evaluate_command(
    file: Annotated[Path, typer.Argument(help="labelled CSV: timestamp, numeric sensor columns, label column")],
    label_column: Annotated[str, typer.Option("--label-column", help="0/1 column marking anomalous rows")] = "anomaly",
    catalog: Annotated[
        Path | None, typer.Option("--catalog", help="sensor catalogue JSON; derived from the CSV when omitted")
    ] = None,
    fit: Annotated[Path | None, typer.Option("--fit", help="CSV to learn from before evaluating")] = None,
    fit_rows: Annotated[int, typer.Option("--fit-rows", help="learn from the first N rows, evaluate the rest")] = 0,
    predictions: Annotated[Path | None, typer.Option("--predictions", help="write per-row predictions here")] = None,
) -> None:
    """Run tiers 1 and 2 over a labelled CSV as if streamed; print precision, recall, F1 and rates.

    Per anomaly kind too when the CSV has an ``anomaly_kind`` column. Tier 2 settings come from
    the ``STAT_*`` environment variables.
    """
    from analyzer.catalog import load_catalog

    data = read_labelled_csv(file, label_column)
    fit_data = read_labelled_csv(fit, label_column) if fit else None
    if fit_rows:
        if fit_data is not None:
            raise typer.BadParameter("give --fit or --fit-rows, not both")
        fit_data = _slice(data, 0, fit_rows)
        data = _slice(data, fit_rows, len(data.times))
    sensor_catalog = load_catalog(catalog) if catalog else derive_catalog(data.names, data.values, data.times)
    index = SensorIndex.from_catalog(sensor_catalog)
    result = asyncio.run(run_stream(index, data, StatisticalSettings(), fit=fit_data))
    overall = metrics(data.labels, result.status)
    typer.echo(
        f"rows {int(overall['rows'])}, anomalous {int(overall['anomalous_rows'])}, "
        f"models trained {result.models_trained}"
    )
    typer.echo(format_table(overall, per_kind(data.kinds, result.status)))
    if predictions:
        with predictions.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["timestamp", "final_status", "severity", "if_score", "max_abs_z", "label"])
            for k, t in enumerate(data.times):
                writer.writerow(
                    [
                        datetime.fromtimestamp(float(t), UTC).isoformat().replace("+00:00", "Z"),
                        "anomaly" if result.status[k] else "normal",
                        result.severity[k],
                        "" if np.isnan(result.if_score[k]) else f"{result.if_score[k]:.4f}",
                        f"{result.max_abs_z[k]:.3f}",
                        int(data.labels[k]),
                    ]
                )
        typer.echo(f"predictions written to {predictions}")


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


def _slice(data: LabelledData, start: int, stop: int) -> LabelledData:
    return LabelledData(
        data.names, data.times[start:stop], data.values[start:stop], data.labels[start:stop], data.kinds[start:stop]
    )
