"""Tier 2's evidence for one reading: arrays for the decision, blocks for the stored document."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from schemas.results import MLBlock, MLResult, MLStatus, StatisticalBlock, StatisticalSensorResult, StatisticalStatus

#: Per-sensor status codes (``StatisticalOutcome.status``).
ABSENT, NORMAL, ANOMALY, INSUFFICIENT, STUCK, NOT_UPDATED = 0, 1, 2, 3, 4, 5
STATUS_NAMES: dict[int, StatisticalStatus] = {
    NORMAL: "Normal",
    ANOMALY: "Anomaly",
    INSUFFICIENT: "insufficient_history",
    STUCK: "stuck",
    NOT_UPDATED: "not_updated",
}


def _number(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


@dataclass(frozen=True, slots=True)
class StatisticalOutcome:
    """What tier 2 found in one reading.

    Arrays are aligned with the sensor index: ``status`` holds the codes above, ``z`` the
    z-scores (NaN where not scored), ``confirmed`` the z-scores that persisted (or are extreme).
    ``ml_score`` is the calibrated IsolationForest score (0..1, NaN without a model);
    ``contributions`` the top sensors driving it (flagged readings only).
    The stored blocks are built on access, so the hot path pays only for the arrays.
    """

    names: tuple[str, ...]
    timestamp: datetime
    values: np.ndarray
    centre: np.ndarray
    spread: np.ndarray
    z: np.ndarray
    status: np.ndarray
    #: Consecutive real updates at ``|z| >= z_threshold`` up to and including this reading.
    streak: np.ndarray
    #: The z-scores the decision acts on: persistent (``streak >= z_persistence``) or beyond
    #: ``z_immediate``; a subset of ``status == ANOMALY``.
    confirmed: np.ndarray
    stuck_for_s: np.ndarray
    z_threshold: float
    z_persistence: int
    robust: bool
    ml_status: MLStatus
    #: Consecutive readings the forest flagged, up to and including this one; the decision acts on
    #: the forest when ``ml_confirmed`` (``ml_streak >= if_persistence``).
    ml_streak: int
    ml_confirmed: bool
    ml_raw: float
    ml_score: float
    ml_threshold: float
    contributions: tuple[tuple[str, float], ...]
    model_version: str | None
    processing_ms: float

    @property
    def max_abs_z(self) -> float:
        scored = np.abs(self.z[(self.status == NORMAL) | (self.status == ANOMALY)])
        return float(scored.max()) if scored.size else 0.0

    @property
    def ml_anomalous(self) -> bool:
        return self.ml_status == "Anomaly"

    @property
    def statistical(self) -> StatisticalBlock:
        results: dict[str, StatisticalSensorResult] = {}
        label = "median" if self.robust else "mean"
        for slot in np.flatnonzero(self.status):
            code = int(self.status[slot])
            value = float(self.values[slot])
            centre, spread, z = _number(self.centre[slot]), _number(self.spread[slot]), _number(self.z[slot])
            if code == ANOMALY:
                context = f"|z| = {abs(z or 0):.2f} >= {self.z_threshold:g} against the 24 h {label}"
                if self.confirmed[slot]:
                    context += f" for {int(self.streak[slot])} consecutive updates"
                else:
                    context += " (not confirmed: a lone or marginal excursion does not make the reading anomalous)"
            elif code == NORMAL:
                context = f"within {self.z_threshold:g} sigma of the 24 h {label}"
            elif code == STUCK:
                context = f"unchanged at {value:g} for {self.stuck_for_s[slot] / 60:.0f} min"
            elif code == NOT_UPDATED:
                context = "repeated value between hourly updates; not a new sample"
            else:
                context = "not enough history in the window yet"
            scored = code in (NORMAL, ANOMALY)
            results[self.names[slot]] = StatisticalSensorResult.model_construct(
                value=value,
                mean=centre,
                std=spread,
                z_score=z if scored else None,
                status=STATUS_NAMES[code],
                context=context,
            )
        return StatisticalBlock.model_construct(
            timestamp=self.timestamp,
            method="robust_zscore_24h" if self.robust else "zscore_24h",
            processing_time_ms=self.processing_ms,
            results=results,
        )

    @property
    def ml(self) -> MLBlock:
        score = 0.0 if not np.isfinite(self.ml_score) else float(self.ml_score)
        result = MLResult.model_construct(
            values=dict(self.contributions),
            score=score,
            raw_score=0.0 if not np.isfinite(self.ml_raw) else float(self.ml_raw),
            threshold=self.ml_threshold,
            status=self.ml_status,
            model_version=self.model_version,
        )
        return MLBlock.model_construct(
            timestamp=self.timestamp,
            method="isolation_forest",
            processing_time_ms=self.processing_ms,
            results=result,
        )
