"""Detection quality: point-wise (per row) and event-level (per labelled window, per alarm).

Point-wise metrics count rows: a row is a true positive when it is labelled and flagged.

Event-level metrics count what an operator sees. They are defined on two lists of time
intervals (epoch seconds, both ends inclusive), so any source of alarms can feed them: the
activations of ``analyzer/alarms`` (opened or re-activated .. cleared; the driver collects them), or
the runs of consecutive flagged rows (:func:`alarm_episodes`) for predictions without them:

* a labelled window is *detected* when at least one alarm overlaps it; its *detection delay* is
  the first overlapping alarm's start minus the window's start (0 when the alarm was already
  raised as the window began);
* an alarm that overlaps no labelled window is a *false alarm*; false alarms per day divide by
  the length of the evaluated span (probation excluded), labelled windows included, so the rate
  is that of the whole record a plant would have produced.

>>> alarms = [(10.0, 20.0), (100.0, 100.0), (300.0, 400.0)]
>>> windows = [(15.0, 50.0), (200.0, 350.0), (500.0, 600.0)]
>>> m = event_metrics(alarms, windows, span=(0.0, 86_400.0))
>>> m.detected, m.windows, m.false_alarms, m.false_alarms_per_day, m.delays_s
(2, 3, 1, 1.0, (0.0, 100.0))
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Interval = tuple[float, float]
DAY_S = 86_400.0


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


def alarm_episodes(times: np.ndarray, flagged: np.ndarray) -> list[Interval]:
    """Runs of consecutive flagged rows as ``(time of the first, time of the last)``.

    >>> alarm_episodes(np.arange(6.0) * 60, np.array([0, 1, 1, 0, 0, 1], bool))
    [(60.0, 120.0), (300.0, 300.0)]
    """
    starts = np.flatnonzero(flagged & ~np.r_[False, flagged[:-1]])
    ends = np.flatnonzero(flagged & ~np.r_[flagged[1:], False])
    return [(float(times[s]), float(times[e])) for s, e in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class EventMetrics:
    """Windows detected, false alarms and delays over one evaluated span."""

    windows: int
    detected: int
    alarms: int
    false_alarms: int
    days: float
    #: One per detected window, in window order (seconds).
    delays_s: tuple[float, ...]
    #: Per window, in the order given: detected or not.
    detected_windows: tuple[bool, ...]

    @property
    def false_alarms_per_day(self) -> float:
        return self.false_alarms / self.days if self.days > 0 else 0.0

    @property
    def median_delay_s(self) -> float | None:
        return statistics.median(self.delays_s) if self.delays_s else None

    def __add__(self, other: EventMetrics) -> EventMetrics:
        """Pool two evaluations (different series or seeds): counts and days add up."""
        return EventMetrics(
            self.windows + other.windows,
            self.detected + other.detected,
            self.alarms + other.alarms,
            self.false_alarms + other.false_alarms,
            self.days + other.days,
            self.delays_s + other.delays_s,
            self.detected_windows + other.detected_windows,
        )


NO_EVENTS = EventMetrics(0, 0, 0, 0, 0.0, (), ())


def event_metrics(alarms: Sequence[Interval], windows: Sequence[Interval], *, span: Interval) -> EventMetrics:
    """Match alarm intervals to labelled windows within ``span`` (see the module docstring).

    Alarms and windows outside ``span`` are ignored; those that straddle its start are cut there
    (a window that began during probation is judged on its evaluated part, its delay counted from
    its true start).
    """
    first, last = span
    kept_alarms = [(max(a, first), b) for a, b in alarms if b >= first and a <= last]
    kept_windows = [(a, b) for a, b in windows if b >= first and a <= last]
    starts = np.array([a for a, _ in kept_alarms])
    ends = np.array([b for _, b in kept_alarms])
    detected: list[bool] = []
    delays: list[float] = []
    matched = np.zeros(len(kept_alarms), dtype=bool)
    for w_start, w_end in kept_windows:
        overlap = (starts <= w_end) & (ends >= max(w_start, first)) if len(kept_alarms) else np.zeros(0, bool)
        matched |= overlap
        detected.append(bool(overlap.any()))
        if overlap.any():
            delays.append(max(0.0, float(starts[overlap].min()) - w_start))
    return EventMetrics(
        windows=len(kept_windows),
        detected=sum(detected),
        alarms=len(kept_alarms),
        false_alarms=int((~matched).sum()),
        days=max(0.0, last - first) / DAY_S,
        delays_s=tuple(delays),
        detected_windows=tuple(detected),
    )
