"""Evaluation of tiers 1 and 2 on labelled data: stream a CSV in time order and score the flags.

Modules, one concern each: ``columns`` (headers -> valid sensor names), ``timestamps`` (times of
real exports, ``--timezone``), ``csv_input`` (reading a real CSV), ``windows`` (labelled windows,
probation), ``catalog`` (a catalogue derived from the data), ``driver`` (rows through today's
tiers 1 and 2: the part that knows tier 2's state), ``metrics`` (point-wise and event-level),
``run`` (one evaluation), ``report`` (tables, predictions file), ``command`` (the CLI).

A row is predicted anomalous when the decision's final status is ``anomaly``. Point-wise, per
row: precision, recall, F1, false-alarm rate (flagged normal rows / normal rows) and missed-alarm
rate; per anomaly kind (when the CSV has a kind column, e.g. the simulator's ``anomaly_kind``): row
recall and the share of events (runs of consecutive rows of that kind) flagged at least once.
Event-level (``metrics``): labelled windows detected, false alarms per day, detection delay.
"""

from analyzer.devtools.evaluate.catalog import derive_catalog
from analyzer.devtools.evaluate.command import evaluate_command
from analyzer.devtools.evaluate.csv_input import CsvOptions, EvaluateInputError, LabelledData, read_labelled_csv
from analyzer.devtools.evaluate.metrics import EventMetrics, alarm_episodes, event_metrics, metrics, per_kind
from analyzer.devtools.evaluate.run import Evaluation, evaluate_data

__all__ = [
    "CsvOptions",
    "EvaluateInputError",
    "Evaluation",
    "EventMetrics",
    "LabelledData",
    "alarm_episodes",
    "derive_catalog",
    "evaluate_command",
    "evaluate_data",
    "event_metrics",
    "metrics",
    "per_kind",
    "read_labelled_csv",
]
