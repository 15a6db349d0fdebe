"""Alarms: one record per alarm condition and occurrence (ISA-18.2 / IEC 62682).

An *alarm* is a configured condition of one sensor (or of the plant for the multivariate tiers):
``limit:TI-101:high_high``, ``zscore:TI-101``, ``flatline:PI-501``, ``forest:plant``. Each alarm has
a fixed priority (from the catalogue), so a record never changes its ``priority`` and so never its
partition in ``unresolved_anomalies``. A sensor's High and High-High are two alarms, shown grouped
by ``group`` (the sensor).

A *record* (:class:`AlarmRecord`) is one occurrence of an alarm, from its first activation until an
operator resolves it; the condition may clear and come back in between (``activations``), which
keeps a chattering alarm to one record. The ISA-18.2 state is ``process`` (active or returned to
normal) x ``acknowledged``; shelving and suppression are flags on top that never stop evaluation,
clearing or resolving.

``revision`` grows on every change (the store keeps the newest); ``etag`` changes only on operator
actions, so an operator's ``If-Match`` is not invalidated by the readings the worker counts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.llm import LLMContext
from schemas.results import Severity

Tier = Literal["heuristic", "statistical", "ml", "quality"]


class AlarmKind(StrEnum):
    """What an alarm watches; the first part of its key."""

    HIGH = "high"
    HIGH_HIGH = "high_high"
    LOW = "low"
    LOW_LOW = "low_low"
    ZSCORE = "zscore"
    FLATLINE = "flatline"
    RATE_OF_CHANGE = "rate_of_change"
    STALE = "stale"
    OUT_OF_RANGE = "out_of_range"
    FOREST = "forest"
    PCA = "pca"


#: Which tier raises each kind.
TIER_OF_KIND: dict[AlarmKind, Tier] = {
    AlarmKind.HIGH: "heuristic",
    AlarmKind.HIGH_HIGH: "heuristic",
    AlarmKind.LOW: "heuristic",
    AlarmKind.LOW_LOW: "heuristic",
    AlarmKind.ZSCORE: "statistical",
    AlarmKind.FLATLINE: "statistical",
    AlarmKind.RATE_OF_CHANGE: "quality",
    AlarmKind.STALE: "quality",
    AlarmKind.OUT_OF_RANGE: "quality",
    AlarmKind.FOREST: "ml",
    AlarmKind.PCA: "ml",
}


class ProcessState(StrEnum):
    ACTIVE = "active"
    #: Returned to normal (ISA-18.2 "RTN"): the condition cleared; the record waits for an operator.
    CLEARED = "cleared"


class AlarmState(StrEnum):
    """ISA-18.2's states of an alarm that has a record (NORM has none)."""

    UNACK_ACTIVE = "unack_active"
    ACK_ACTIVE = "ack_active"
    UNACK_RTN = "unack_rtn"
    ACK_RTN = "ack_rtn"


class RootCause(StrEnum):
    """Why an anomaly happened, as the resolving operator judged it (documented list)."""

    PROCESS_UPSET = "process_upset"
    EQUIPMENT_FAILURE = "equipment_failure"
    INSTRUMENT_FAULT = "instrument_fault"
    CALIBRATION = "calibration"
    COMMUNICATION = "communication"
    OPERATOR_ACTION = "operator_action"
    MAINTENANCE = "maintenance"
    PLANNED_CHANGE = "planned_change"
    FALSE_ALARM = "false_alarm"
    UNKNOWN = "unknown"


class Shelf(BaseModel):
    """A shelved alarm (ISA-18.2): hidden from the operator for a time, still evaluated."""

    model_config = ConfigDict(extra="forbid")

    by: str
    at: AwareDatetime
    until: AwareDatetime
    reason: str = Field(min_length=1, max_length=500)


class Suppression(BaseModel):
    """Suppressed by design: a maintenance window or a sensor out of service."""

    model_config = ConfigDict(extra="forbid")

    window_id: str
    by: str
    reason: str
    until: AwareDatetime | None = None


class Transition(BaseModel):
    """One entry of a record's history: a process change or an operator action."""

    model_config = ConfigDict(extra="forbid")

    at: AwareDatetime
    action: Literal[
        "activated",
        "cleared",
        "reactivated",
        "acknowledged",
        "shelved",
        "unshelved",
        "suppressed",
        "unsuppressed",
        "resolved",
        "reopened",
        "explained",
    ]
    by: str | None = None
    note: str | None = None
    #: The stream entry that caused a process change.
    entry_id: str | None = None


class AlarmRecord(BaseModel):
    """An open alarm occurrence, stored in ``unresolved_anomalies`` (partition: ``severity_level``)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="``{alarm_key}@{first_entry_id}``")
    alarm_key: str
    kind: AlarmKind
    tier: Tier
    sensors: list[str] = Field(min_length=1)
    #: Alarms of one sensor are shown together (its High and High-High); ``plant`` for plant-wide ones.
    group: str
    #: The alarm's fixed priority; the partition key of ``unresolved_anomalies``.
    severity_level: Severity
    process: ProcessState = ProcessState.ACTIVE
    state: AlarmState = AlarmState.UNACK_ACTIVE
    opened_at: AwareDatetime
    last_seen: AwareDatetime
    cleared_at: AwareDatetime | None = None
    first_entry_id: str
    last_entry_id: str
    #: Anomalous readings counted.
    count: int = Field(ge=1)
    #: Activations of this occurrence: 1 + times it came back after clearing while unresolved.
    activations: int = Field(1, ge=1)
    #: Reading times (epoch s) of the most recent activations, for chattering and the report.
    activation_times: list[float] = Field(default_factory=list)
    chattering: bool = False
    #: Activations that cleared again within the fleeting time.
    fleeting: int = Field(0, ge=0)
    last_value: float | None = None
    peak_value: float | None = None
    #: The largest deviation: distance beyond the limit, |z|, minutes unchanged, or the score.
    peak_deviation: float = 0.0
    description: str
    #: Sensor -> z-score / contribution at the last anomalous reading (evidence for operators and tier 3).
    evidence: dict[str, float] = Field(default_factory=dict)
    #: The first alarm of the flood this one opened in, if it opened during an alarm flood.
    flood_id: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    shelf: Shelf | None = None
    suppression: Suppression | None = None
    llm: LLMContext | None = None
    history: list[Transition] = Field(default_factory=list)
    #: Grows on every change; the store keeps the highest.
    revision: int = Field(1, ge=1)
    #: Changes on operator actions only: the ``ETag`` operators send back in ``If-Match``.
    etag: str


class ResolvedAlarm(AlarmRecord):
    """An alarm occurrence an operator resolved; ``resolved_anomalies``, partitioned by ``resolved_by``."""

    resolved_by: str = Field(min_length=1)
    resolved_at: AwareDatetime
    resolution_note: str = Field(min_length=1, max_length=2000)
    root_cause: RootCause


class AlarmEventKind(StrEnum):
    OPENED = "opened"
    #: A higher-priority alarm of the same group opened while a lower one was active.
    ESCALATED = "escalated"
    REACTIVATED = "reactivated"
    CLEARED = "cleared"
    ACKNOWLEDGED = "acknowledged"
    SHELVED = "shelved"
    UNSHELVED = "unshelved"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    EXPLAINED = "explained"


class AlarmEvent(BaseModel):
    """One change of an alarm, published on ``{stream}:alarm-events`` (tier 3, the live page)."""

    model_config = ConfigDict(extra="forbid")

    kind: AlarmEventKind
    alarm_id: str
    alarm_key: str
    severity_level: Severity
    group: str
    at: AwareDatetime
    entry_id: str | None = None
