"""One evaluation: rows through the driver, then point-wise and event-level metrics on the scored part.

Shared by the command and ``bench.quality``. The truth is a list of labelled windows (from a
windows file, or the runs of a label column); the alarms are the alarm step's activations (opened
or re-activated .. cleared, as an operator counts them), or, for predictions without them, the runs
of consecutive anomalous rows (:func:`~.metrics.alarm_episodes`); the leading ``probation`` share of
the rows is learned from and not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analyzer.catalog.index import SensorIndex
from analyzer.devtools.evaluate.csv_input import LabelledData
from analyzer.devtools.evaluate.driver import Predictions, Progress, run_stream
from analyzer.devtools.evaluate.metrics import (
    NO_EVENTS,
    EventMetrics,
    Interval,
    alarm_episodes,
    event_metrics,
    metrics,
    per_kind,
)
from analyzer.devtools.evaluate.windows import LabelledWindow, label_rows, probation_rows, windows_from_labels
from analyzer.tiers.statistical import StatisticalSettings


@dataclass
class Evaluation:
    data: LabelledData
    predictions: Predictions
    windows: list[LabelledWindow]
    #: Leading rows learned from but not scored.
    probation: int
    alarms: list[Interval]
    point: dict[str, float]
    kinds: dict[str, dict[str, float]]
    events: EventMetrics
    #: Per window kind: windows detected and delays (the false alarms of ``events`` are not per kind).
    events_by_kind: dict[str, EventMetrics]

    @property
    def scored(self) -> slice:
        return slice(self.probation, len(self.data.times))


def with_windows(data: LabelledData, windows: list[LabelledWindow]) -> LabelledData:
    """``data`` labelled by ``windows``: rows inside a window are anomalous, of the window's kind."""
    labels = label_rows(data.times, windows)
    kinds = np.full(len(data.times), "normal", dtype=object)
    for window in windows:
        kinds[(data.times >= window.start) & (data.times <= window.end)] = window.kind
    return LabelledData(data.names, data.times, data.values, labels, kinds.astype(str), True, data.notes)


def score(
    data: LabelledData,
    predictions: Predictions,
    windows: list[LabelledWindow],
    probation: int,
) -> Evaluation:
    """Metrics of ``predictions`` on the rows after ``probation`` (see the module docstring)."""
    part = slice(probation, len(data.times))
    truth, flagged = data.labels[part], predictions.status[part]
    alarms = predictions.activations
    if alarms is None:
        alarms = alarm_episodes(data.times, predictions.status)
    events, by_kind = NO_EVENTS, {}
    if len(data.times) > probation:
        span = (float(data.times[probation]), float(data.times[-1]))
        events = event_metrics(alarms, [w.interval for w in windows], span=span)
        for kind in sorted({w.kind for w in windows}):
            chosen = [w.interval for w in windows if w.kind == kind]
            by_kind[kind] = event_metrics(alarms, chosen, span=span)
    return Evaluation(
        data=data,
        predictions=predictions,
        windows=windows,
        probation=probation,
        alarms=alarms,
        point=metrics(truth, flagged),
        kinds=per_kind(data.kinds[part], flagged),
        events=events,
        events_by_kind=by_kind,
    )


async def evaluate_data(
    index: SensorIndex,
    data: LabelledData,
    settings: StatisticalSettings,
    *,
    fit: LabelledData | None = None,
    windows: list[LabelledWindow] | None = None,
    probation: float = 0.0,
    progress: Progress | None = None,
) -> Evaluation:
    """Run ``data`` through the driver and score it; ``windows`` replace the row labels when given."""
    if windows is not None:
        data = with_windows(data, windows)
    else:
        windows = windows_from_labels(data.times, data.labels, data.kinds)
    predictions = await run_stream(index, data, settings, fit=fit, progress=progress)
    return score(data, predictions, windows, probation_rows(len(data.times), probation))
