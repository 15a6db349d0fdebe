"""Small builders of stored documents for the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.alarms import TIER_OF_KIND, AlarmKind, AlarmRecord, AlarmState, ProcessState, ResolvedAlarm, RootCause
from schemas.anomalies import ModifiedValue
from schemas.results import (
    AlarmType,
    AnalysisResult,
    FinalStatus,
    HeuristicBlock,
    HeuristicSensorResult,
    SensorStatus,
    Severity,
    day_bucket,
)

BASE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """``BASE`` plus some seconds: readings 10 s apart are ``at(10 * n)``."""
    return BASE + timedelta(seconds=seconds)


def entry_id(n: int) -> str:
    return f"{1763884800000 + n * 10_000}-0"


def make_result(
    n: int,
    *,
    when: datetime | None = None,
    anomalous: list[str] | None = None,
    severity: Severity | None = None,
    value: float = 350.0,
) -> AnalysisResult:
    """The analysis of reading ``n`` (10 s apart from ``BASE``), anomalous if sensors are given."""
    moment = when or at(10 * n)
    sensors = anomalous or []
    heuristic = {
        "TI-101": HeuristicSensorResult(
            value=value,
            alarm_type=AlarmType.HIGH if "TI-101" in sensors else AlarmType.OK,
            status=SensorStatus.ANOMALY if "TI-101" in sensors else SensorStatus.NORMAL,
            limit=340.0 if "TI-101" in sensors else None,
            context="above High (340)" if "TI-101" in sensors else "within limits",
        )
    }
    return AnalysisResult(
        id=entry_id(n),
        source_entry_id=entry_id(n),
        timestamp=moment,
        day=day_bucket(moment),
        raw_data={"TI-101": value, "PI-201": 4.2},
        heuristic=HeuristicBlock(timestamp=moment, processing_time_ms=0.3, results=heuristic),
        final_status=FinalStatus.ANOMALY if sensors else FinalStatus.NORMAL,
        severity_level=(severity or Severity.MEDIUM) if sensors else None,
        overall_confidence=0.9,
        anomalous_sensors=sensors,
        analyzed_at=moment + timedelta(milliseconds=40),
    )


def make_alarm(
    key: str = "high:TI-101",
    *,
    first: int = 0,
    severity: Severity = Severity.MEDIUM,
    sensors: list[str] | None = None,
    last_seen: datetime | None = None,
    state: AlarmState = AlarmState.UNACK_ACTIVE,
    revision: int = 1,
    count: int = 1,
) -> AlarmRecord:
    opened = at(10 * first)
    kind = AlarmKind(key.split(":")[0])
    return AlarmRecord(
        id=f"{key}@{entry_id(first)}",
        alarm_key=key,
        kind=kind,
        tier=TIER_OF_KIND[kind],
        sensors=sensors or [key.split(":")[1]],
        group=key.split(":")[1],
        severity_level=severity,
        process=ProcessState.ACTIVE if state.value.endswith("active") else ProcessState.CLEARED,
        state=state,
        opened_at=opened,
        last_seen=last_seen or opened,
        first_entry_id=entry_id(first),
        last_entry_id=entry_id(first),
        count=count,
        last_value=351.0,
        peak_value=351.0,
        peak_deviation=11.0,
        description=f"{key} active",
        revision=revision,
        etag="1",
    )


def resolve(
    record: AlarmRecord, by: str = "bob", note: str = "replaced the thermocouple", when: float = 900
) -> ResolvedAlarm:
    return ResolvedAlarm(
        **record.model_dump(),
        resolved_by=by,
        resolved_at=at(when),
        resolution_note=note,
        root_cause=RootCause.INSTRUMENT_FAULT,
    )


def make_modification(n: int, *, by: str = "alice", sensor: str = "TI-101", result: int = 0) -> ModifiedValue:
    return ModifiedValue(
        id=f"mod-{n:04d}",
        modified_by=by,
        modified_at=at(60 * n),
        result_id=entry_id(result),
        sensor=sensor,
        old_value=350.0,
        new_value=349.0 + n,
        reason="calibration offset",
    )
