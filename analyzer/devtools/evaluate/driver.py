"""The driver: rows through tiers 1 and 2 as the worker runs them, today's tier classes in process.

This is the one part of ``evaluate`` that knows how tier 2 keeps its state; the rest (input,
metrics, report) sees only :class:`Predictions`. Every row is scored, decided and learned in
micro-batches of 64 (in-process window and model, no Redis). Training follows the tier's schedule
in *reading* time: the first model once ``STAT_IF_MIN_TRAINING_ROWS`` protected rows exist, then
again every ``STAT_IF_RETRAIN_INTERVAL_S`` or ``STAT_IF_RETRAIN_AFTER_ROWS`` rows. With ``fit``
rows, those are learned first and a model trained on them at once, then the evaluated rows follow
on the same schedule (the model ages as in production). A catalogue whose sensors are all hourly
gives the forest no feature: it is skipped with a warning.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from analyzer.analysis.decision import Assessment, decide
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.evaluate.csv_input import LabelledData
from analyzer.reading import Reading
from analyzer.tiers.heuristic import HeuristicTier
from analyzer.tiers.statistical import StatisticalOutcome, StatisticalSettings, StatisticalTier
from analyzer.tiers.statistical.outcome import ANOMALY, NORMAL

#: Per-row scores the driver fills (column name -> meaning); see ``report.COLUMNS``.
SCORES = ("max_abs_z", "if_score", "if_raw")
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

    @classmethod
    def empty(cls, n_rows: int) -> Predictions:
        return cls(
            np.zeros(n_rows, bool),
            [""] * n_rows,
            {name: np.full(n_rows, np.nan) for name in SCORES},
            [""] * n_rows,
            [()] * n_rows,
        )


def _readings(index: SensorIndex, source: LabelledData, start: int, stop: int) -> list[Reading]:
    cols = np.array([index.position.get(n, -1) for n in source.names], dtype=np.intp)
    known = cols >= 0
    rows = []
    for k in range(start, stop):
        values = np.full(len(index), np.nan)
        values[cols[known]] = source.values[k][known]
        t = float(source.times[k])
        rows.append(Reading(f"{int(t * 1000)}-{k}", datetime.fromtimestamp(t, UTC), values, {}, ()))
    return rows


def caught_by(assessment: Assessment) -> tuple[str, ...]:
    """``heuristic``, ``zscore``, ``stuck``, ``forest``: the detectors behind the row's conditions."""
    names = {"heuristic": "heuristic", "ml": "forest"}
    return tuple(sorted({names.get(c.tier, c.alarm_type) for c in assessment.conditions}))


def _record(out: Predictions, row: int, assessment: Assessment, outcome: StatisticalOutcome) -> None:
    out.status[row] = assessment.final_status == "anomaly"
    out.severity[row] = assessment.severity.value if assessment.severity else ""
    out.caught_by[row] = caught_by(assessment)
    scored = (outcome.status == NORMAL) | (outcome.status == ANOMALY)
    if scored.any():
        size = np.where(scored, np.abs(outcome.z), -1.0)
        top = int(np.argmax(size))
        out.scores["max_abs_z"][row] = size[top]
        out.top_sensor[row] = outcome.names[top]
    out.scores["if_score"][row] = outcome.ml_score
    out.scores["if_raw"][row] = outcome.ml_raw


async def run_stream(
    index: SensorIndex,
    data: LabelledData,
    settings: StatisticalSettings,
    *,
    fit: LabelledData | None = None,
    batch: int = 64,
    progress: Progress | None = None,
) -> Predictions:
    """Score ``data`` in time order as the worker would; learn from ``fit`` first when given."""
    tier = await StatisticalTier.in_memory(index, settings)
    heuristic = HeuristicTier(index)
    out = Predictions.empty(len(data.times))
    forest = bool(tier.features)
    if not forest:
        out.warnings.append(
            "no sensor is usable as an IsolationForest feature (every column looks hourly); the forest is skipped"
        )
    last_train_t = -math.inf
    learned_at_train = 0

    async def maybe_train(now: float, force: bool = False) -> None:
        nonlocal last_train_t, learned_at_train
        learned = tier.mirror.learned
        if not forest or learned < settings.if_min_training_rows:
            return
        due = force or tier.model is None or now - last_train_t >= settings.if_retrain_interval_s
        due = due or learned - learned_at_train >= settings.if_retrain_after_rows
        if due and (model := await tier.train()) is not None:
            out.models_trained += 1
            out.training_s.append(model.training_s)
            last_train_t, learned_at_train = now, learned

    async def step(source: LabelledData, start: int, stop: int) -> tuple[list[Assessment], list[StatisticalOutcome]]:
        chunk = _readings(index, source, start, stop)
        scored = await tier.score(chunk)
        h = heuristic.evaluate(chunk)
        assessments = [decide(r, x, index, s) for r, x, s in zip(chunk, h, scored, strict=True)]
        await tier.learn(chunk, assessments)
        return assessments, scored

    try:
        if fit is not None and len(fit.times):
            for start in range(0, len(fit.times), batch):
                await step(fit, start, min(start + batch, len(fit.times)))
            await maybe_train(float(fit.times[-1]), force=True)
        for start in range(0, len(data.times), batch):
            stop = min(start + batch, len(data.times))
            assessments, scored = await step(data, start, stop)
            for k, (assessment, outcome) in enumerate(zip(assessments, scored, strict=True)):
                _record(out, start + k, assessment, outcome)
            await maybe_train(float(data.times[stop - 1]))
            if progress is not None:
                progress(stop - start)
    finally:
        await tier.close()
    return out
