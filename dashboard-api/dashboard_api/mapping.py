"""Storage documents to public models: the one place that knows both shapes.

When the store's layout changes (the alarm records replacing episodes, say), this module changes
and the API's contract does not.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from analyzer.store.protocol import ResultSummary
from schemas.alarms import ResolvedAlarm
from schemas.anomalies import ModifiedValue
from schemas.public import (
    AlarmEventPublic,
    FindingPublic,
    ModificationPublic,
    ReadingValuePublic,
    ResolvedAnomalyPublic,
    ResultPublic,
)
from schemas.results import Severity


def result_public(summary: ResultSummary) -> ResultPublic:
    """An analysis as the API shows it (from its summary: :func:`analyzer.store.summaries.summarize`
    turns a full analysis into one)."""
    corrections = summary.corrections
    # Plain dicts: a page holds 100 analyses x 100 readings.
    readings: dict[str, ReadingValuePublic] = {
        sensor: {"value": corrections[sensor].value, "corrected": True, "original_value": value}
        if sensor in corrections
        else {"value": value, "corrected": False, "original_value": None}
        for sensor, value in summary.raw_data.items()
    }
    # The summary is validated already: construct without validating again.
    return ResultPublic.model_construct(
        id=summary.id,
        timestamp=summary.timestamp,
        analyzed_at=summary.analyzed_at,
        status=summary.final_status,
        severity=summary.severity_level,
        confidence=summary.overall_confidence,
        anomalous_sensors=summary.anomalous_sensors,
        anomaly_ids=summary.alarm_ids,
        readings=readings,
        findings=_findings(summary),
        ml_score=summary.ml.score if summary.ml is not None else None,
    )


def _findings(summary: ResultSummary) -> list[FindingPublic]:
    found = [
        FindingPublic(tier="heuristic", sensor=sensor, kind=r.alarm_type.value, value=r.value, detail=r.context)
        for sensor, r in summary.heuristic_flagged.items()
    ]
    found += [
        FindingPublic(tier="statistical", sensor=sensor, kind="zscore", value=r.z_score, detail=r.context)
        for sensor, r in summary.statistical_flagged.items()
    ]
    ml = summary.ml
    if ml is not None and ml.status == "Anomaly":
        drivers = ", ".join(ml.top)
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


def resolved_public(anomaly: ResolvedAlarm) -> ResolvedAnomalyPublic:
    return ResolvedAnomalyPublic(
        id=anomaly.id,
        tier=anomaly.tier,
        sensors=anomaly.sensors,
        alarm_type=anomaly.kind.value,
        severity=anomaly.severity_level,
        peak_severity=anomaly.severity_level,
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
    """An entry of the alarm-events stream (``RedisKeys.alarm_events``: one field ``event``, the JSON
    of :class:`schemas.alarms.AlarmEvent`); ``None`` if it names no alarm.

    >>> alarm_event_public({"event": '{"kind": "opened", "alarm_id": "high:TI-101@1-0", "severity_level": "high"}'})
    AlarmEventPublic(anomaly_id='high:TI-101@1-0', kind='opened', severity=<Severity.HIGH: 'high'>)
    """
    event = orjson.loads(fields["event"]) if "event" in fields else {}
    anomaly_id = event.get("alarm_id")
    if not anomaly_id:
        return None
    severity = event.get("severity_level", "")
    known = {s.value for s in Severity}
    return AlarmEventPublic(
        anomaly_id=anomaly_id,
        kind=event.get("kind", "changed"),
        severity=Severity(severity) if severity in known else None,
    )
