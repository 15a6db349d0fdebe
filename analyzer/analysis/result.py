"""Each reading's stored result (``anomaly_results``), compact by design.

The document keeps the documented shape (one block per tier, then the verdict) but only what
says something: tier 1 lists the sensors beyond a limit, tier 2 keeps every scored sensor's
z-score in one map and full detail only for sensors that were anomalous or stuck. A normal
100-sensor result is about 3.5 kB (the payload itself is 1.7 kB of it); the operator API expands
it to the full per-sensor shape.

Verdict: a reading is ``anomaly`` when an alarm counted it (the alarm is active and its condition
held at this reading: on-delays and deadbands are the alarm step's business). ``severity_level``
is the highest priority among those alarms; ``overall_confidence`` the noisy-OR ``1 - prod(1 - e)``
of their evidence ``e`` (a limit breach 1.0; a z-score 0.5 at the confirmation level rising to
0.9 at twice the z threshold; a flatline 0.7; the forest 0.5 at its threshold to 0.9 at score 1;
rate of change 0.8; stale 0.6; out of range 0.9). A normal reading's confidence is ``1 - m / 2``,
where ``m`` in 0..1 is how close tier 2 came to a flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from analyzer.alarms.book import AlarmBook, BatchAlarms
from analyzer.catalog.index import SensorIndex
from analyzer.reading import Reading
from analyzer.tiers.heuristic import HeuristicTier, classify
from analyzer.tiers.statistical import StatisticalTier, Tier2Scores
from analyzer.tiers.statistical.outcome import ANOMALY, INSUFFICIENT, NORMAL, NOT_UPDATED, STATUS_NAMES, STUCK
from schemas.alarms import AlarmKind
from schemas.results import (
    AnalysisResult,
    FinalStatus,
    HeuristicBlock,
    HeuristicSensorResult,
    MLBlock,
    MLResult,
    MLStatus,
    PcaResult,
    SensorStatus,
    Severity,
    StatisticalBlock,
    StatisticalSensorResult,
    day_bucket,
)

_FIXED_EVIDENCE = {
    AlarmKind.HIGH: 1.0,
    AlarmKind.HIGH_HIGH: 1.0,
    AlarmKind.LOW: 1.0,
    AlarmKind.LOW_LOW: 1.0,
    AlarmKind.OUT_OF_RANGE: 0.9,
    AlarmKind.RATE_OF_CHANGE: 0.8,
    AlarmKind.FLATLINE: 0.7,
    AlarmKind.STALE: 0.6,
}


def _number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


class ResultBuilder:
    def __init__(self, index: SensorIndex, heuristic: HeuristicTier, statistical: StatisticalTier | None) -> None:
        self.index = index
        self.heuristic = heuristic
        self.statistical = statistical

    def build(
        self,
        group: Sequence[Reading],
        values: np.ndarray,
        scores: Tier2Scores | None,
        decided: BatchAlarms,
        book: AlarmBook,
    ) -> list[AnalysisResult]:
        codes = classify(values, self.index)
        analysed_at = datetime.now(UTC)
        results = []
        for row, reading in enumerate(group):
            counted = decided.counted[row]
            severity = max((Severity(p) for _, _, p in counted), key=lambda s: s.rank, default=None)
            sensors: set[str] = set()
            for record_id, _, _ in counted:
                alarm = book.alarms.get(record_id.split("@", 1)[0])
                sensors.update(alarm.sensors if alarm is not None else ())
            results.append(
                AnalysisResult.model_construct(
                    id=reading.entry_id,
                    source_entry_id=reading.entry_id,
                    timestamp=reading.timestamp,
                    day=day_bucket(reading.timestamp),
                    raw_data=reading.raw,
                    unknown_sensors=list(reading.unknown),
                    heuristic=self._heuristic(reading, codes[row]),
                    statistical=self._statistical(reading, scores, row) if scores is not None else None,
                    ml=self._ml(reading, scores, row) if scores is not None else None,
                    final_status=FinalStatus.ANOMALY if counted else FinalStatus.NORMAL,
                    severity_level=severity,
                    overall_confidence=self._confidence(counted, scores, row),
                    anomalous_sensors=sorted(sensors),
                    alarm_ids=list(dict.fromkeys(record_id for record_id, _, _ in counted)),
                    corrections={},
                    analyzed_at=analysed_at,
                )
            )
        return results

    def _heuristic(self, reading: Reading, codes: np.ndarray) -> HeuristicBlock:
        results = {}
        for slot in np.flatnonzero(codes):
            alarm = self.heuristic.describe(int(slot), float(reading.values[slot]), int(codes[slot]))
            results[self.index.names[slot]] = HeuristicSensorResult.model_construct(
                value=alarm.value,
                alarm_type=alarm.alarm,
                status=SensorStatus.ANOMALY,
                limit=alarm.limit,
                context=alarm.context,
            )
        return HeuristicBlock.model_construct(
            timestamp=reading.timestamp, method="alarm_limits", processing_time_ms=0.0, results=results
        )

    def _statistical(self, reading: Reading, scores: Tier2Scores, row: int) -> StatisticalBlock:
        assert self.statistical is not None
        names = self.index.names
        status = scores.status[row]
        z = scores.z[row]
        scored = np.flatnonzero((status == NORMAL) | (status == ANOMALY))
        z_scores = dict(zip([names[i] for i in scored], np.round(z[scored], 3).tolist(), strict=True))
        threshold = self.statistical.settings.z_threshold
        label = "median" if self.statistical.settings.robust else "mean"
        results = {}
        for slot in np.flatnonzero((status == ANOMALY) | (status == STUCK)):
            value = float(scores.values[row, slot])
            if status[slot] == ANOMALY:
                context = f"|z| = {abs(float(z[slot])):.2f} >= {threshold:g} against the 24 h {label}"
            else:
                context = f"unchanged at {value:g} for {scores.stuck_for_s[row, slot] / 60:.0f} min"
            results[names[slot]] = StatisticalSensorResult.model_construct(
                value=value,
                mean=_number(scores.centre[row, slot]),
                std=_number(scores.spread[row, slot]),
                z_score=_number(z[slot]) if status[slot] == ANOMALY else None,
                status=STATUS_NAMES[int(status[slot])],
                context=context,
            )
        return StatisticalBlock.model_construct(
            timestamp=reading.timestamp,
            method="robust_zscore_24h" if self.statistical.settings.robust else "zscore_24h",
            processing_time_ms=scores.elapsed_ms,
            z_scores=z_scores,
            results=results,
            insufficient_history=[names[i] for i in np.flatnonzero(status == INSUFFICIENT)],
            not_updated=[names[i] for i in np.flatnonzero(status == NOT_UPDATED)],
        )

    def _ml(self, reading: Reading, scores: Tier2Scores, row: int) -> MLBlock:
        assert self.statistical is not None
        score, raw = scores.ml_score[row], scores.ml_raw[row]
        status: MLStatus = scores.ml_status[row]  # type: ignore[assignment]
        return MLBlock.model_construct(
            timestamp=reading.timestamp,
            method="isolation_forest",
            processing_time_ms=scores.elapsed_ms,
            results=MLResult.model_construct(
                values=dict(scores.contributions[row]),
                score=float(score) if np.isfinite(score) else 0.0,
                raw_score=float(raw) if np.isfinite(raw) else 0.0,
                threshold=min(1.0, scores.ml_threshold),
                status=status,
                model_version=scores.model_version,
            ),
            pca=self._pca(scores, row),
        )

    def _pca(self, scores: Tier2Scores, row: int) -> PcaResult | None:
        pca = scores.pca
        if pca is None:
            return None
        model = pca.model
        return PcaResult.model_construct(
            values=dict(pca.contributions[row]),
            t2=_number(pca.t2[row]),
            t2_limit=model.t2_limit,
            q=_number(pca.q[row]),
            q_limit=model.q_limit,
            residual=_number(pca.residual[row]),
            residual_limit=model.residual_limit,
            status="Anomaly" if pca.flagged[row] else "Normal",
            model_version=model.version,
        )

    def _confidence(self, counted: list[tuple[str, AlarmKind, str]], scores: Tier2Scores | None, row: int) -> float:
        if not counted:
            return round(self._normal_confidence(scores, row), 4)
        miss = 1.0
        for record_id, kind, _ in counted:
            miss *= 1.0 - self._evidence(record_id, kind, scores, row)
        return round(min(max(1.0 - miss, 0.0), 1.0), 4)

    def _evidence(self, record_id: str, kind: AlarmKind, scores: Tier2Scores | None, row: int) -> float:
        if kind in _FIXED_EVIDENCE:
            return _FIXED_EVIDENCE[kind]
        if scores is None or self.statistical is None:
            return 0.5
        s = self.statistical.settings
        if kind == AlarmKind.ZSCORE:
            sensor = record_id.split("@", 1)[0].split(":", 1)[1]
            z = abs(float(np.nan_to_num(scores.z[row, self.index.position[sensor]])))
            return float(min(0.9, max(0.5, 0.5 + 0.4 * (z - s.z_confirm) / max(2 * s.z_threshold - s.z_confirm, 1e-9))))
        if kind == AlarmKind.PCA and scores.pca is not None:
            pca, model = scores.pca, scores.pca.model
            ratio = max(
                float(np.nan_to_num(pca.t2[row])) / max(model.t2_limit, 1e-12),
                float(np.nan_to_num(pca.q[row])) / max(model.q_limit, 1e-12),
                float(np.nan_to_num(pca.residual[row])) / max(model.residual_limit, 1e-12),
            )
            return float(min(0.9, max(0.5, 0.5 + 0.4 * (ratio - 1.0))))  # 0.5 at its limit, 0.9 at twice it
        score = float(np.nan_to_num(scores.ml_score[row]))
        threshold = min(1.0, scores.ml_threshold)
        return float(0.5 + 0.4 * max(0.0, score - threshold) / max(1e-9, 1.0 - threshold))

    def _normal_confidence(self, scores: Tier2Scores | None, row: int) -> float:
        if scores is None or self.statistical is None:
            return 1.0
        s = self.statistical.settings
        z = scores.z[row]
        finite = np.abs(z[np.isfinite(z)])
        closeness = float(finite.max()) / s.z_threshold if finite.size else 0.0
        score = scores.ml_score[row]
        if np.isfinite(score):
            closeness = max(closeness, (float(score) - 0.5) / max(1e-9, min(1.0, scores.ml_threshold) - 0.5))
        return 1.0 - 0.5 * min(max(closeness, 0.0), 1.0)
