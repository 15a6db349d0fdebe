"""Storage documents to public models: the one place that knows both shapes.

When the store's layout changes (the alarm records replacing episodes, say), this module changes
and the API's contract does not.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from analyzer.store.protocol import ResultSummary
from schemas.alarms import AlarmRecord, ProcessState, ResolvedAlarm
from schemas.anomalies import ModifiedValue
from schemas.llm import LLMContext
from schemas.public import (
    AlarmEventPublic,
    AnomalyEvidencePublic,
    AnomalyPublic,
    AnomalyState,
    AnomalyStatus,
    ContextPublic,
    FindingPublic,
    ModificationPublic,
    ReadingValuePublic,
    ResolvedAnomalyPublic,
    ResultPublic,
    RootCausePublic,
    SensorContributionPublic,
    ShelfPublic,
    SuppressionPublic,
    TransitionPublic,
)
from schemas.results import Severity

#: Sensors listed as an anomaly's most involved.
TOP_SENSORS = 5


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


def anomaly_state(record: AlarmRecord) -> AnomalyState:
    """The state a queue shows: resolved, else shelved or suppressed when flagged, else ISA-18.2's."""
    if isinstance(record, ResolvedAlarm):
        return AnomalyState.RESOLVED
    if record.shelf is not None:
        return AnomalyState.SHELVED
    if record.suppression is not None:
        return AnomalyState.SUPPRESSED
    return AnomalyState(record.state.value)


def top_sensors(record: AlarmRecord) -> list[SensorContributionPublic]:
    """The most involved sensors by magnitude of their evidence; a single-sensor alarm without
    evidence names its sensor with its peak deviation."""
    ranked = sorted(record.evidence.items(), key=lambda kv: (-abs(kv[1]), kv[0]))[:TOP_SENSORS]
    if not ranked:
        ranked = [(sensor, record.peak_deviation) for sensor in record.sensors[:TOP_SENSORS]]
    return [SensorContributionPublic(sensor=sensor, value=value) for sensor, value in ranked]


def anomaly_public(
    record: AlarmRecord,
    *,
    history: bool = False,
    evidence: AnomalyEvidencePublic | None = None,
) -> AnomalyPublic:
    """An alarm record (open or resolved) as the API shows it; ``history`` and ``evidence`` only in
    the one-anomaly view (a queue page stays small)."""
    resolved = record if isinstance(record, ResolvedAlarm) else None
    shelf = record.shelf
    suppression = record.suppression
    return AnomalyPublic(
        id=record.id,
        status=AnomalyStatus.RESOLVED if resolved else AnomalyStatus.OPEN,
        alarm=record.alarm_key,
        alarm_type=record.kind.value,
        tier=record.tier,
        sensors=record.sensors,
        group=record.group,
        severity=record.severity_level,
        state=anomaly_state(record),
        active=record.process == ProcessState.ACTIVE and resolved is None,
        opened_at=record.opened_at,
        last_seen=record.last_seen,
        cleared_at=record.cleared_at,
        count=record.count,
        activations=record.activations,
        chattering=record.chattering,
        last_value=record.last_value,
        peak_value=record.peak_value,
        description=record.description,
        top_sensors=top_sensors(record),
        flood_id=record.flood_id,
        acknowledged_by=record.acknowledged_by,
        acknowledged_at=record.acknowledged_at,
        shelf=ShelfPublic(by=shelf.by, at=shelf.at, until=shelf.until, reason=shelf.reason) if shelf else None,
        suppression=SuppressionPublic(
            window_id=suppression.window_id, by=suppression.by, reason=suppression.reason, until=suppression.until
        )
        if suppression
        else None,
        resolved_by=resolved.resolved_by if resolved else None,
        resolved_at=resolved.resolved_at if resolved else None,
        resolution_note=resolved.resolution_note if resolved else None,
        root_cause=RootCausePublic(resolved.root_cause.value) if resolved else None,
        summary=record.llm.summary if record.llm is not None else None,
        history=[
            TransitionPublic(at=t.at, action=t.action, by=t.by, note=t.note, result_id=t.entry_id)
            for t in record.history
        ]
        if history
        else None,
        evidence=evidence,
    )


def context_public(context: LLMContext) -> ContextPublic:
    return ContextPublic(
        summary=context.summary,
        likely_causes=list(context.likely_causes),
        affected_equipment=list(context.affected_equipment),
        recommended_checks=list(context.recommended_checks),
        suggested_severity=context.suggested_severity,
        confidence=context.confidence,
        provider=context.provider,
        model=context.model,
        status=context.status,
        offline=context.offline,
        generated_at=context.generated_at,
    )
