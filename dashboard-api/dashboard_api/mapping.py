"""Storage documents to public models: the one place that knows both shapes.

When the store's layout changes (the alarm records replacing episodes, say), this module changes
and the API's contract does not.
"""

from __future__ import annotations

from collections.abc import Mapping

from schemas.anomalies import ModifiedValue, ResolvedAnomaly
from schemas.public import (
    AlarmEventPublic,
    FindingPublic,
    ModificationPublic,
    ReadingValuePublic,
    ResolvedAnomalyPublic,
    ResultPublic,
)
from schemas.results import AnalysisResult, Severity

#: ML findings name this many of the sensors that drive the score most.
TOP_CONTRIBUTORS = 3


def result_public(result: AnalysisResult) -> ResultPublic:
    readings = {}
    for sensor, value in result.raw_data.items():
        correction = result.corrections.get(sensor)
        readings[sensor] = (
            ReadingValuePublic(value=correction.value, corrected=True, original_value=value)
            if correction is not None
            else ReadingValuePublic(value=value)
        )
    return ResultPublic(
        id=result.id,
        timestamp=result.timestamp,
        analyzed_at=result.analyzed_at,
        status=result.final_status,
        severity=result.severity_level,
        confidence=result.overall_confidence,
        anomalous_sensors=result.anomalous_sensors,
        anomaly_ids=result.episode_ids,
        readings=readings,
        findings=_findings(result),
        ml_score=result.ml.results.score if result.ml is not None else None,
    )


def _findings(result: AnalysisResult) -> list[FindingPublic]:
    found = [
        FindingPublic(tier="heuristic", sensor=sensor, kind=r.alarm_type.value, value=r.value, detail=r.context)
        for sensor, r in result.heuristic.results.items()
        if r.status == "Anomaly"
    ]
    if result.statistical is not None:
        found += [
            FindingPublic(tier="statistical", sensor=sensor, kind="zscore", value=r.z_score, detail=r.context)
            for sensor, r in result.statistical.results.items()
            if r.status == "Anomaly"
        ]
    if result.ml is not None and result.ml.results.status == "Anomaly":
        ml = result.ml.results
        top = sorted(ml.values.items(), key=lambda item: item[1], reverse=True)[:TOP_CONTRIBUTORS]
        drivers = ", ".join(sensor for sensor, _ in top)
        found.append(
            FindingPublic(
                tier="ml",
                kind="isolation_forest",
                value=ml.score,
                detail=f"score {ml.score:.2f} above {ml.threshold:.2f}; driven most by {drivers}",
            )
        )
    return found


def modification_public(record: ModifiedValue) -> ModificationPublic:
    return ModificationPublic(
        id=record.id,
        result_id=record.result_id,
        sensor=record.sensor,
        old_value=record.old_value,
        new_value=record.new_value,
        reason=record.reason,
        modified_by=record.modified_by,
        modified_at=record.modified_at,
        reading_time=record.reading_time,
    )


def resolved_public(anomaly: ResolvedAnomaly) -> ResolvedAnomalyPublic:
    return ResolvedAnomalyPublic(
        id=anomaly.id,
        tier=anomaly.tier,
        sensors=anomaly.sensors,
        alarm_type=anomaly.alarm_type,
        severity=anomaly.severity_level,
        peak_severity=anomaly.peak_severity,
        description=anomaly.description,
        opened_at=anomaly.opened_at,
        last_seen=anomaly.last_seen,
        cleared_at=anomaly.cleared_at,
        count=anomaly.count,
        acknowledged_by=anomaly.acknowledged_by,
        acknowledged_at=anomaly.acknowledged_at,
        resolved_by=anomaly.resolved_by,
        resolved_at=anomaly.resolved_at,
        resolution_note=anomaly.resolution_note,
        summary=anomaly.llm.summary if anomaly.llm is not None else None,
    )


def alarm_event_public(fields: Mapping[str, str]) -> AlarmEventPublic | None:
    """An entry of the alarm-events stream (``RedisKeys.alarm_events``); ``None`` if it names no alarm.

    >>> alarm_event_public({"episode_id": "heuristic:TI-101:high@1-0", "kind": "opened", "severity": "high"})
    AlarmEventPublic(anomaly_id='heuristic:TI-101:high@1-0', kind='opened', severity=<Severity.HIGH: 'high'>)
    """
    anomaly_id = fields.get("alarm_id") or fields.get("episode_id")
    if not anomaly_id:
        return None
    severity = fields.get("severity", "")
    known = {s.value for s in Severity}
    return AlarmEventPublic(
        anomaly_id=anomaly_id,
        kind=fields.get("kind", "changed"),
        severity=Severity(severity) if severity in known else None,
    )
