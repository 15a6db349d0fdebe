"""The driver: rows through the analysis exactly as the worker folds them, in process.

This is the one part of ``evaluate`` that knows how the analysis runs; the rest (input, metrics,
report) sees only :class:`Predictions`. Rows are folded in micro-batches of 64 through the same
:class:`~analyzer.analysis.fold.Folder` as production (tiers, the alarm step with its delays and
deadbands, learning, retraining at the fold's training points), with entry ids taken from the
reading times; no Redis. With ``fit`` rows, those are folded first (learning and training as they
go), then the evaluated rows follow; if the evaluated rows do not start after the fit rows, their
ids are shifted to come after them (reading times are kept). A catalogue whose sensors are all
hourly gives the forest no feature: it is skipped with a warning (so does a single column: the
forest and the PCA monitor are cross-sensor detectors).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from analyzer.analysis.fold import Folder
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.evaluate.csv_input import LabelledData
from analyzer.reading import MAX_MAGNITUDE, Reading, out_of_magnitude
from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier
from schemas.alarms import AlarmEvent, AlarmEventKind
from schemas.results import AnalysisResult

#: Per-row scores the driver fills (column name -> meaning); see ``report.COLUMNS``.
SCORES = ("max_abs_z", "if_score", "if_raw", "t2", "q")
Progress = Callable[[int], None]


@dataclass
class Predictions:
    """Per evaluated row: the verdict, what raised it and the detectors' scores."""

    status: np.ndarray  # bool, final status anomaly
    severity: list[str]
    #: Score name -> per-row value (NaN where the detector did not score the row).
    scores: dict[str, np.ndarray]
    #: The sensor with the largest |z| ("" when no sensor was scored).
    top_sensor: list[str]
    #: The detectors whose conditions made the row anomalous, e.g. ``("heuristic", "zscore")``.
    caught_by: list[tuple[str, ...]]
    models_trained: int = 0
    training_s: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The alarm activations an operator would have seen, ``(start, end)`` in epoch seconds: from an
    #: alarm's opening (or re-activation) to its clearing, or to the last row while still active.
    #: ``None``: predictions without the alarms' events (the rows' runs stand in for them).
    activations: list[tuple[float, float]] | None = None

    @classmethod
    def empty(cls, n_rows: int) -> Predictions:
        return cls(
            np.zeros(n_rows, bool),
            [""] * n_rows,
            {name: np.full(n_rows, np.nan) for name in SCORES},
            [""] * n_rows,
            [()] * n_rows,
        )


def _readings(
    index: SensorIndex, source: LabelledData, start: int, stop: int, shift_ms: int, seq0: int
) -> list[Reading]:
    cols = np.array([index.position.get(n, -1) for n in source.names], dtype=np.intp)
    known = cols >= 0
    rows = []
    # The payload rules (analyzer/reading.py) refuse these rows at the landing and in the worker.
    refused = out_of_magnitude(np.asarray(source.values[start:stop], dtype=float))
    for k in range(start, stop):
        if refused[k - start]:
            continue
        values = np.full(len(index), np.nan)
        values[cols[known]] = source.values[k][known]
        t = float(source.times[k])
        rows.append(Reading(f"{int(t * 1000) + shift_ms}-{seq0 + k}", datetime.fromtimestamp(t, UTC), values, {}, ()))
    return rows


#: The detector behind each alarm kind, in the predictions' ``caught_by`` column.
_DETECTOR = {
    "high": "heuristic",
    "high_high": "heuristic",
    "low": "heuristic",
    "low_low": "heuristic",
    "out_of_range": "quality",
    "rate_of_change": "quality",
    "stale": "quality",
    "flatline": "stuck",
    "zscore": "zscore",
    "forest": "forest",
    "pca": "pca",
}


class Activations:
    """Alarm activations from the alarm step's events (one per opening or re-activation)."""

    _STARTS = frozenset({AlarmEventKind.OPENED, AlarmEventKind.REACTIVATED, AlarmEventKind.ESCALATED})

    def __init__(self) -> None:
        self.closed: list[tuple[float, float]] = []
        self._open: dict[str, float] = {}

    def feed(self, events: list[AlarmEvent]) -> None:
        for event in events:
            at = event.at.timestamp()
            if event.kind in self._STARTS:
                self._open.setdefault(event.alarm_id, at)
            elif event.kind == AlarmEventKind.CLEARED and event.alarm_id in self._open:
                self.closed.append((self._open.pop(event.alarm_id), at))

    def until(self, last: float) -> list[tuple[float, float]]:
        """Every activation, those still active ending at ``last``, in start order."""
        return sorted(self.closed + [(start, max(start, last)) for start in self._open.values()])


def caught_by(result: AnalysisResult) -> tuple[str, ...]:
    """``heuristic``, ``zscore``, ``stuck``, ``forest``, ...: the detectors whose alarms counted the row."""
    return tuple(sorted({_DETECTOR.get(a.split(":", 1)[0], "other") for a in result.alarm_ids}))


def _record(out: Predictions, row: int, result: AnalysisResult) -> None:
    out.status[row] = result.final_status == "anomaly"
    out.severity[row] = result.severity_level.value if result.severity_level else ""
    out.caught_by[row] = caught_by(result)
    statistical = result.statistical
    if statistical is not None and statistical.z_scores:
        top, z = max(statistical.z_scores.items(), key=lambda kv: abs(kv[1]))
        out.scores["max_abs_z"][row] = abs(z)
        out.top_sensor[row] = top
    ml = result.ml
    if ml is not None and ml.results.status in ("Normal", "Anomaly"):
        out.scores["if_score"][row] = ml.results.score
        out.scores["if_raw"][row] = ml.results.raw_score
    pca = ml.pca if ml is not None else None
    if pca is not None:
        out.scores["t2"][row] = np.nan if pca.t2 is None else pca.t2
        out.scores["q"][row] = np.nan if pca.q is None else pca.q


async def run_stream(
    index: SensorIndex,
    data: LabelledData,
    settings: StatisticalSettings,
    *,
    fit: LabelledData | None = None,
    batch: int = 64,
    progress: Progress | None = None,
) -> Predictions:
    """Fold ``data`` in time order as the worker does; fold ``fit`` first when given."""
    tier = StatisticalTier(index, settings)
    folder = Folder(index, tier)
    state = folder.new_state()
    out = Predictions.empty(len(data.times))
    if len(tier.features) < 2:
        out.warnings.append(
            "fewer than two sensors are usable as features of the cross-sensor detectors (IsolationForest, PCA): "
            "they are skipped; per-sensor statistics still run"
        )
    shift_ms = 0
    if fit is not None and len(fit.times) and len(data.times) and data.times[0] <= fit.times[-1]:
        shift_ms = int((fit.times[-1] - data.times[0]) * 1000) + settings.bucket_s * 1000

    activations = Activations()

    async def fold(rows: list[Reading], *, evaluated: bool = True) -> list[AnalysisResult]:
        nonlocal state
        outcome = await folder.fold_readings(state, rows)
        state = outcome.state
        if evaluated:
            activations.feed(outcome.events)
        for model in outcome.models:
            out.models_trained += 1
            out.training_s.append(model.training_s)
        return outcome.results

    if fit is not None and len(fit.times):
        for start in range(0, len(fit.times), batch):
            await fold(_readings(index, fit, start, min(start + batch, len(fit.times)), 0, 0), evaluated=False)
    seq0 = len(fit.times) if fit is not None else 0
    refused = 0
    for start in range(0, len(data.times), batch):
        stop = min(start + batch, len(data.times))
        rows = _readings(index, data, start, stop, shift_ms, seq0)
        refused += (stop - start) - len(rows)
        for result in await fold(rows):
            _record(out, int(result.id.rsplit("-", 1)[1]) - seq0, result)
        if progress is not None:
            progress(stop - start)
    if len(data.times):
        out.activations = activations.until(float(data.times[-1]))
    if refused:
        out.warnings.append(
            f"{refused} rows hold a value beyond the magnitude limit {MAX_MAGNITUDE:g} or infinite; the analyzer "
            "refuses such payloads, so they were not analysed"
        )
    return out
