"""What the dashboard API returns and accepts: public models, not storage documents.

Each resource has a family: ``XPublic`` (one, as returned), ``XsPublic`` (a page: ``data``,
``count`` = items in this page, ``continuation`` = pass it back for the next page, ``null`` on the
last) and ``XCreate`` (a request body). Storage fields that only the store needs (Cosmos
partition keys, etags, counted entry ids, correction markers) never appear here: versions travel
as HTTP ``ETag`` / ``If-Match`` headers. The mapping from storage documents lives in one place,
``dashboard_api/mapping.py``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from typing_extensions import TypedDict

from schemas.results import FinalStatus, Severity

_T0 = "2026-11-23T08:00:00Z"


class Role(StrEnum):
    """What a caller may do: viewers read; operators also correct values (and, with the alarm
    workflow, acknowledge, shelve, resolve and reopen); admins may do everything."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"viewer": 1, "operator": 2, "admin": 3}[self.value]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


class _Public(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- errors and health ---------------------------------------------------------------------------


class FieldErrorPublic(_Public):
    """One invalid part of a request."""

    location: str = Field(examples=["query.points"])
    message: str = Field(examples=["Input should be less than or equal to 2000"])


class ErrorPublic(_Public):
    """Every error response: a message a person can act on; ``errors`` lists invalid fields."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"detail": "no analysis '1763884800000-0'", "errors": None}]},
    )

    detail: str
    errors: list[FieldErrorPublic] | None = None


class HealthPublic(_Public):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"status": "ok", "checks": {"redis": "ok", "store": "ok"}}]},
    )

    status: Literal["ok", "unavailable"]
    #: Per dependency: ``ok`` or the reason it is not.
    checks: dict[str, str] = Field(default_factory=dict)


class PrincipalPublic(_Public):
    """Who the API takes the caller for."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "alice", "role": "operator", "via": "api_key"}]},
    )

    name: str
    role: Role
    via: Literal["api_key", "entra_id"]


# -- live (Redis) --------------------------------------------------------------------------------


class SensorLimitsPublic(_Public):
    """A sensor's alarm limits from the catalogue (``null`` = no such limit)."""

    low_low: float | None = None
    low: float | None = None
    high: float | None = None
    high_high: float | None = None


class SensorAlarmPublic(_Public):
    """The most pressing open anomaly of a sensor: most severe first, then active, then newest."""

    anomaly_id: str
    alarm_type: str = Field(examples=["high_high"])
    severity: Severity
    #: ``unack_active``, ``ack_active``, ``unack_rtn``, ``ack_rtn``, ``shelved`` or ``suppressed``.
    state: str
    #: The condition holds now.
    active: bool


class SensorLivePublic(_Public):
    """A catalogued sensor with its latest landed reading and its current alarm state."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "TI-101",
                    "unit": "degC",
                    "description": "Crude heater H-101 combined coil outlet temperature",
                    "core": True,
                    "update_interval_s": 10,
                    "limits": {"low_low": 342.4, "low": 345.6, "high": 358.4, "high_high": 361.6},
                    "value": 351.2,
                    "timestamp": _T0,
                    "result_id": "1763884800000-0",
                    "age_s": 4.2,
                    "stale": False,
                    "stale_after_s": 30.0,
                    "alarm": {
                        "anomaly_id": "high:TI-101@1763884790000-0",
                        "alarm_type": "high",
                        "severity": "high",
                        "state": "ack_active",
                        "active": True,
                    },
                    "open_anomalies": 1,
                }
            ]
        },
    )

    name: str
    unit: str
    description: str
    core: bool
    update_interval_s: int
    limits: SensorLimitsPublic
    #: The latest reading (``null``: never seen in the window).
    value: float | None = None
    #: When that reading was taken.
    timestamp: AwareDatetime | None = None
    #: The analysis of the payload that carried it (the stream entry id).
    result_id: str | None = None
    #: Seconds since ``timestamp`` when the response was made.
    age_s: float | None = None
    #: No reading for longer than ``stale_after_s`` (or none at all).
    stale: bool
    #: ``update_interval_s`` x the configured stale factor.
    stale_after_s: float
    #: The sensor's most pressing open anomaly (``null``: none, the sensor is in its normal state).
    alarm: SensorAlarmPublic | None = None
    #: Open anomalies that involve the sensor (its own alarms and plant-wide ones naming it).
    open_anomalies: int = 0


class SensorsLivePublic(_Public):
    data: list[SensorLivePublic]
    count: int
    #: When the latest values were read.
    read_at: AwareDatetime
    stale_count: int
    #: Sensors with at least one open anomaly.
    alarm_count: int = 0


class ReadingBucketPublic(_Public):
    """One point of a downsampled series: the readings taken in ``[start, end)``.

    ``min`` and ``max`` keep a spike that an average would hide. When a range holds fewer readings
    than points asked for, every reading is its own bucket (``start == end == ``its time).
    """

    start: AwareDatetime
    end: AwareDatetime
    min: float
    max: float
    mean: float
    count: int = Field(ge=1)


class ReadingSeriesPublic(_Public):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sensor": "TI-101",
                    "unit": "degC",
                    "start": _T0,
                    "end": "2026-11-23T09:00:00Z",
                    "source": "stream",
                    "readings": 360,
                    "truncated": False,
                    "data": [
                        {
                            "start": _T0,
                            "end": "2026-11-23T08:01:00Z",
                            "min": 350.9,
                            "max": 362.4,
                            "mean": 352.8,
                            "count": 6,
                        }
                    ],
                    "count": 1,
                }
            ]
        },
    )

    sensor: str
    unit: str
    start: AwareDatetime
    end: AwareDatetime
    #: ``stream``: the raw readings of the 24 h window in Redis; ``results``: stored analyses
    #: (older ranges), with operators' corrections applied.
    source: Literal["stream", "results"]
    #: Readings found in the range (before downsampling).
    readings: int
    #: The range held more than the server reads per request; the newest part is missing.
    truncated: bool
    data: list[ReadingBucketPublic]
    count: int


class ReadingEventPublic(_Public):
    """SSE event ``reading``: a payload landed on the stream."""

    result_id: str
    timestamp: AwareDatetime
    values: dict[str, float]


class AlarmEventPublic(_Public):
    """SSE event ``alarm``: an alarm changed (today: an anomaly opened or escalated)."""

    anomaly_id: str
    kind: str = Field(examples=["opened", "escalated"])
    severity: Severity | None = None


class StreamResetPublic(_Public):
    """SSE event ``reset``: the position asked for has left the window; reload, then listen on."""

    reason: str


# -- analyses (the store) ------------------------------------------------------------------------


class ReadingValuePublic(TypedDict):
    """One sensor's value in an analysis, as operators see it; ``original_value`` is the value
    as landed when an operator corrected it. (A typed dict, not a model: a page holds 10,000.)"""

    value: float
    corrected: bool
    original_value: float | None


class FindingPublic(_Public):
    """What a tier flagged in an analysis."""

    tier: Literal["heuristic", "statistical", "ml"]
    sensor: str | None = None
    #: ``High``, ``Low-Low``, ... (tier 1), ``zscore`` (tier 2), ``isolation_forest`` (ML).
    kind: str
    value: float | None = None
    detail: str


class ResultPublic(_Public):
    """One analysed payload."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "1763884800000-0",
                    "timestamp": _T0,
                    "analyzed_at": "2026-11-23T08:00:00.040Z",
                    "status": "anomaly",
                    "severity": "high",
                    "confidence": 0.92,
                    "anomalous_sensors": ["TI-101"],
                    "anomaly_ids": ["heuristic:TI-101:high@1763884800000-0"],
                    "readings": {
                        "TI-101": {"value": 349.0, "corrected": True, "original_value": 359.1},
                        "PI-102": {"value": 1.21, "corrected": False, "original_value": None},
                    },
                    "findings": [
                        {
                            "tier": "heuristic",
                            "sensor": "TI-101",
                            "kind": "High",
                            "value": 359.1,
                            "detail": "above High (358.4)",
                        }
                    ],
                    "ml_score": 0.41,
                }
            ]
        },
    )

    id: str
    timestamp: AwareDatetime
    analyzed_at: AwareDatetime
    status: FinalStatus
    severity: Severity | None = None
    confidence: float
    anomalous_sensors: list[str]
    #: The anomalies (alarms) this reading opened or updated.
    anomaly_ids: list[str]
    readings: dict[str, ReadingValuePublic]
    findings: list[FindingPublic]
    #: The IsolationForest's calibrated score (0..1) where tier 2 scored the payload.
    ml_score: float | None = None


class ResultsPublic(_Public):
    data: list[ResultPublic]
    count: int
    continuation: str | None = None


class HourlyCountPublic(_Public):
    hour: AwareDatetime
    analyses: int
    anomalies: int


class ResultsPerHourPublic(_Public):
    """Every UTC hour of the range, oldest first, hours without analyses included as zeros."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "start": _T0,
                    "end": "2026-11-23T10:00:00Z",
                    "data": [
                        {"hour": _T0, "analyses": 360, "anomalies": 7},
                        {"hour": "2026-11-23T09:00:00Z", "analyses": 360, "anomalies": 0},
                    ],
                    "count": 2,
                }
            ]
        },
    )

    start: AwareDatetime
    end: AwareDatetime
    data: list[HourlyCountPublic]
    count: int


# -- corrections and their audit trail -----------------------------------------------------------


class ModificationCreate(_Public):
    """An operator's correction of one stored reading. Who made it is taken from the credentials."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "result_id": "1763884800000-0",
                    "sensor": "TI-101",
                    "value": 349.0,
                    "reason": "thermocouple TI-101 read 10 degC high until recalibrated",
                }
            ]
        },
    )

    result_id: str = Field(min_length=1, max_length=64, pattern=r"^\d{1,20}-\d{1,20}$")
    sensor: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    value: float = Field(allow_inf_nan=False)
    reason: str = Field(min_length=3, max_length=1000)


class ModificationPublic(_Public):
    """One audit record: a correction of a stored reading."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "0b7c4c1e9d5a4f0e8a1d2c3b4a596877",
                    "result_id": "1763884800000-0",
                    "sensor": "TI-101",
                    "old_value": 359.1,
                    "new_value": 349.0,
                    "reason": "thermocouple TI-101 read 10 degC high until recalibrated",
                    "modified_by": "alice",
                    "modified_at": "2026-11-23T09:12:00Z",
                    "reading_time": _T0,
                }
            ]
        },
    )

    id: str
    result_id: str
    sensor: str
    old_value: float | None
    new_value: float
    reason: str
    modified_by: str
    modified_at: AwareDatetime
    reading_time: AwareDatetime | None = None


class ModificationsPublic(_Public):
    data: list[ModificationPublic]
    count: int
    continuation: str | None = None


# -- resolved anomalies (history) ----------------------------------------------------------------


class ResolvedAnomalyPublic(_Public):
    """An anomaly an operator resolved."""

    id: str
    tier: str
    sensors: list[str]
    alarm_type: str
    severity: Severity
    peak_severity: Severity
    description: str
    opened_at: AwareDatetime
    last_seen: AwareDatetime
    cleared_at: AwareDatetime | None = None
    #: Anomalous readings counted into it.
    count: int
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    resolved_by: str
    resolved_at: AwareDatetime
    resolution_note: str
    #: Tier 3's summary, where one was written.
    summary: str | None = None


class ResolvedAnomaliesPublic(_Public):
    data: list[ResolvedAnomalyPublic]
    count: int
    continuation: str | None = None


# -- the anomaly queue and the operators' workflow -----------------------------------------------


class AnomalyStatus(StrEnum):
    """Where an anomaly is in its life: ``open`` (in the queue) or ``resolved`` (history)."""

    OPEN = "open"
    RESOLVED = "resolved"


class AnomalyState(StrEnum):
    """ISA-18.2 state of an anomaly (unacknowledged/acknowledged x active/returned to normal), and
    the two flags on top that a queue filters on. ``resolved`` is the state of a resolved one."""

    UNACK_ACTIVE = "unack_active"
    ACK_ACTIVE = "ack_active"
    UNACK_RTN = "unack_rtn"
    ACK_RTN = "ack_rtn"
    SHELVED = "shelved"
    SUPPRESSED = "suppressed"
    RESOLVED = "resolved"


class RootCausePublic(StrEnum):
    """Why an anomaly happened, as the resolving operator judged it (the documented list):

    * ``process_upset``: the process really left its normal range (feed, load, upstream unit);
    * ``equipment_failure``: a pump, valve, exchanger or other equipment failed;
    * ``instrument_fault``: the sensor or transmitter read wrong;
    * ``calibration``: a calibration offset or drift of the instrument;
    * ``communication``: lost or frozen values on the way (network, historian, Fabric);
    * ``operator_action``: caused by an operator's intervention;
    * ``maintenance``: work on the plant during which the reading was expected;
    * ``planned_change``: a planned change of operating point or grade;
    * ``false_alarm``: nothing was wrong; the detector was (feed this back to its tuning);
    * ``unknown``: not found out.
    """

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


class TransitionPublic(_Public):
    """One entry of an anomaly's history: a change of the process or an operator's action."""

    at: AwareDatetime
    action: str = Field(examples=["activated", "acknowledged", "resolved"])
    #: The operator (from their credentials), ``system`` or tier 3's provider; ``null`` for the process.
    by: str | None = None
    note: str | None = None
    #: The analysis (stream entry) that caused a process change.
    result_id: str | None = None


class ShelfPublic(_Public):
    """Shelved by an operator: hidden from the queue's attention until ``until``, still evaluated."""

    by: str
    at: AwareDatetime
    until: AwareDatetime
    reason: str


class SuppressionPublic(_Public):
    """Suppressed by a maintenance window."""

    window_id: str
    by: str
    reason: str
    until: AwareDatetime | None = None


class SensorContributionPublic(_Public):
    """A sensor's part in an anomaly: its z-score (tier 2), its contribution to the forest's score
    (ML) or its deviation, at the last anomalous reading; larger magnitude = more involved."""

    sensor: str
    value: float


class ContextPublic(_Public):
    """What tier 3 wrote about the anomaly (a language model, or the offline writer: ``offline``)."""

    summary: str
    likely_causes: list[str]
    affected_equipment: list[str]
    recommended_checks: list[str]
    #: Advice only; the anomaly's severity is the rule's.
    suggested_severity: str
    confidence: str
    provider: str
    model: str
    status: str
    offline: bool
    generated_at: AwareDatetime


class AnomalyEvidencePublic(_Public):
    """Why the anomaly was raised: the analyses that opened it and last counted into it, and tier 3's
    context when there is one."""

    #: The analysis that opened it, then the last one that counted into it (when another).
    results: list[ResultPublic]
    context: ContextPublic | None = None


_ANOMALY_EXAMPLE: dict[str, Any] = {
    "id": "high_high:TI-101@1763884800000-0",
    "status": "open",
    "alarm": "high_high:TI-101",
    "alarm_type": "high_high",
    "tier": "heuristic",
    "sensors": ["TI-101"],
    "group": "TI-101",
    "severity": "critical",
    "state": "unack_active",
    "active": True,
    "opened_at": _T0,
    "last_seen": "2026-11-23T08:04:10Z",
    "cleared_at": None,
    "count": 26,
    "activations": 1,
    "chattering": False,
    "last_value": 362.1,
    "peak_value": 363.0,
    "description": "TI-101 at 363.0 degC above High-High (361.6)",
    "top_sensors": [{"sensor": "TI-101", "value": 1.4}],
    "flood_id": None,
    "acknowledged_by": None,
    "acknowledged_at": None,
    "shelf": None,
    "suppression": None,
    "resolved_by": None,
    "resolved_at": None,
    "resolution_note": None,
    "root_cause": None,
    "summary": "Heater outlet temperature above its trip limit; check the burner firing.",
    "history": None,
    "evidence": None,
}


class AnomalyPublic(_Public):
    """One anomaly (an alarm occurrence, ISA-18.2): open in the queue or resolved. In lists,
    ``history`` and ``evidence`` are ``null``; ``GET /api/v1/anomalies/{id}`` fills them. Its
    version travels as the `ETag` header (send it back in `If-Match`)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_ANOMALY_EXAMPLE]})

    id: str
    status: AnomalyStatus
    #: The alarm condition: ``<alarm_type>:<sensor>`` (``plant`` for plant-wide ones).
    alarm: str
    alarm_type: str = Field(examples=["high_high", "zscore", "forest"])
    tier: str
    sensors: list[str]
    #: Alarms shown together: the sensor (its High and High-High), ``plant`` for plant-wide ones.
    group: str
    severity: Severity
    state: AnomalyState
    #: The condition holds now (``false``: returned to normal, waiting for an operator).
    active: bool
    opened_at: AwareDatetime
    last_seen: AwareDatetime
    cleared_at: AwareDatetime | None = None
    #: Anomalous readings counted into it.
    count: int
    #: Times it activated (again) before being resolved.
    activations: int
    chattering: bool
    last_value: float | None = None
    peak_value: float | None = None
    description: str
    #: The most involved sensors, most involved first.
    top_sensors: list[SensorContributionPublic]
    #: The first anomaly of the alarm flood this one opened in, if any.
    flood_id: str | None = None
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    shelf: ShelfPublic | None = None
    suppression: SuppressionPublic | None = None
    resolved_by: str | None = None
    resolved_at: AwareDatetime | None = None
    resolution_note: str | None = None
    root_cause: RootCausePublic | None = None
    #: Tier 3's summary, where one was written.
    summary: str | None = None
    history: list[TransitionPublic] | None = None
    evidence: AnomalyEvidencePublic | None = None


class AnomaliesPublic(_Public):
    data: list[AnomalyPublic]
    count: int
    continuation: str | None = None


class AnomalyConflictPublic(_Public):
    """409: someone else changed the anomaly first (or it is not in a state the action applies to);
    ``current`` is how it is now (its ETag is in the response's `ETag` header)."""

    detail: str
    current: AnomalyPublic


_Note = Field(None, min_length=1, max_length=2000, description="a note kept in the anomaly's history")


class AcknowledgeCreate(_Public):
    """Acknowledge an anomaly: someone is on it. Who is taken from the credentials."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "looking at the burner"}]})

    note: str | None = _Note


class UnshelveCreate(_Public):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"note": "maintenance done"}]})

    note: str | None = _Note


class ResolveCreate(_Public):
    """Resolve an anomaly: a note and a root cause from the documented list (`RootCausePublic`)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"note": "replaced the thermocouple of TI-101", "root_cause": "instrument_fault"}]
        },
    )

    note: str = Field(min_length=1, max_length=2000)
    root_cause: RootCausePublic


class ReopenCreate(_Public):
    """Put a resolved anomaly back in the queue, its history kept."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"note": "the lab results show it was real"}]}
    )

    note: str = Field(min_length=1, max_length=2000)


#: Longest shelving (ISA-18.2 wants shelving time-limited): 7 days, as analyzer/alarms/operations.py.
MAX_SHELVE_MINUTES = 7 * 24 * 60


class ShelveCreate(_Public):
    """Shelve an anomaly for ``minutes`` or ``until`` a time (exactly one), at most 7 days."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"minutes": 120, "reason": "transmitter being replaced"}]},
    )

    minutes: int | None = Field(None, ge=1, le=MAX_SHELVE_MINUTES)
    until: AwareDatetime | None = None
    reason: str = Field(min_length=1, max_length=500)

    @model_validator(mode="after")
    def _one_of(self) -> ShelveCreate:
        if (self.minutes is None) == (self.until is None):
            raise ValueError("give either minutes or until (exactly one)")
        return self


# -- statistics of anomalies and the alarm performance report ------------------------------------


class HourlyAnomaliesPublic(_Public):
    hour: AwareDatetime
    #: Anomalies opened in this hour.
    opened: int
    #: Anomalies resolved in this hour (whenever they opened).
    resolved: int


class AnomaliesPerHourPublic(_Public):
    """Every UTC hour of the range, oldest first, hours without anomalies included as zeros."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "start": _T0,
                    "end": "2026-11-23T10:00:00Z",
                    "data": [
                        {"hour": _T0, "opened": 4, "resolved": 1},
                        {"hour": "2026-11-23T09:00:00Z", "opened": 0, "resolved": 3},
                    ],
                    "count": 2,
                }
            ]
        },
    )

    start: AwareDatetime
    end: AwareDatetime
    data: list[HourlyAnomaliesPublic]
    count: int


class SensorAnomaliesPublic(_Public):
    sensor: str
    #: Anomalies opened in the range that involve this sensor.
    anomalies: int


class AnomaliesBySensorPublic(_Public):
    """Sensors by anomalies opened in the range, most first (sensors without any left out)."""

    start: AwareDatetime
    end: AwareDatetime
    data: list[SensorAnomaliesPublic]
    count: int


class SeverityAnomaliesPublic(_Public):
    severity: Severity
    anomalies: int


class AnomaliesBySeverityPublic(_Public):
    """Anomalies opened in the range by severity, most severe first (every severity listed)."""

    start: AwareDatetime
    end: AwareDatetime
    data: list[SeverityAnomaliesPublic]
    total: int


class DurationsPublic(_Public):
    """Seconds; ``null`` when nothing was measured."""

    count: int
    mean_s: float | None = None
    median_s: float | None = None
    p90_s: float | None = None


class ResponseTimesPublic(_Public):
    """How fast operators act on the anomalies opened in the range: opened -> acknowledged (those
    acknowledged) and opened -> resolved (those resolved)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "start": _T0,
                    "end": "2026-11-24T08:00:00Z",
                    "opened": 42,
                    "time_to_acknowledge": {"count": 30, "mean_s": 312.0, "median_s": 180.0, "p90_s": 900.0},
                    "time_to_resolve": {"count": 25, "mean_s": 5400.0, "median_s": 3600.0, "p90_s": 14400.0},
                    "unacknowledged": 12,
                }
            ]
        },
    )

    start: AwareDatetime
    end: AwareDatetime
    #: Anomalies opened in the range.
    opened: int
    time_to_acknowledge: DurationsPublic
    time_to_resolve: DurationsPublic
    #: Of those, still open and never acknowledged.
    unacknowledged: int


class FrequentAlarmPublic(_Public):
    alarm: str
    activations: int
    share: float


class AlarmReportPublic(_Public):
    """The alarm performance report (ISA-18.2 / IEC 62682 section 16, EEMUA 191's key figures) over
    ``[since, until)``: every activation of every anomaly counts as an annunciated alarm."""

    since: AwareDatetime
    until: AwareDatetime
    activations: int
    #: Average activations per 10 minutes (EEMUA 191: about 1 manageable, over 2 not).
    per_10_min: float
    per_hour: float
    #: The busiest 10-minute interval.
    peak_per_10_min: int
    #: Share of 10-minute intervals with more than 10 activations (an alarm flood).
    flood_share: float
    #: The most frequent alarms and their share of all activations.
    top: list[FrequentAlarmPublic]
    #: Alarms that activated 3 or more times within a minute.
    chattering: list[str]
    #: Alarms active for more than 24 h at the end of the period.
    standing: list[str]
    #: Alarms shelved for more than 24 h at the end of the period.
    stale_shelved: list[str]
    #: Share of activations by priority (critical counted with high) ...
    priorities: dict[str, float]
    #: ... against the usual distribution.
    priority_target: dict[str, float]
    time_to_acknowledge: DurationsPublic
    time_to_resolve: DurationsPublic
    #: The report as a Markdown table (what `sensor-analyzer report` prints).
    text: str


# -- operators' configuration of the alarms: maintenance windows and learned limits ---------------


class MaintenanceWindowCreate(_Public):
    """Suppress some sensors' alarms for a planned time (they are still evaluated and recorded,
    marked suppressed). Who created it is taken from the credentials."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sensors": ["TI-101", "PI-102"],
                    "start": _T0,
                    "end": "2026-11-23T12:00:00Z",
                    "reason": "heater H-101 burner maintenance",
                }
            ]
        },
    )

    sensors: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(min_length=1, max_length=200)
    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(min_length=1, max_length=500)


class MaintenanceWindowPublic(_Public):
    id: str
    sensors: list[str]
    start: AwareDatetime
    end: AwareDatetime
    reason: str
    created_by: str
    created_at: AwareDatetime
    #: The window covers the present moment.
    active: bool


class MaintenanceWindowsPublic(_Public):
    data: list[MaintenanceWindowPublic]
    count: int


class LimitsPublic(_Public):
    """A set of alarm limits (``null`` = no such limit); present ones in increasing order."""

    low_low: float | None = None
    low: float | None = None
    high: float | None = None
    high_high: float | None = None


class LimitSuggestionPublic(_Public):
    """Limits learned from a sensor's normal readings of the 24 h window (not applied)."""

    sensor: str
    unit: str
    suggested: LimitsPublic
    centre: float
    spread: float
    #: Normal readings the suggestion was learned from.
    samples: int
    method: str


class LimitSuggestionsPublic(_Public):
    data: list[LimitSuggestionPublic]
    count: int


class LimitsAccept(_Public):
    """An admin accepts limits for a sensor the catalogue gives none (audited; applied by every
    replica from the same point of the stream on)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"low": 11.2, "high": 19.8, "high_high": 22.0, "note": "from the suggestion"}]},
    )

    low_low: float | None = Field(None, allow_inf_nan=False)
    low: float | None = Field(None, allow_inf_nan=False)
    high: float | None = Field(None, allow_inf_nan=False)
    high_high: float | None = Field(None, allow_inf_nan=False)
    note: str = Field("", max_length=500)


class AcceptedLimitsPublic(_Public):
    sensor: str
    limits: LimitsPublic
    accepted_by: str
    accepted_at: AwareDatetime
    note: str


class AcceptedLimitsListPublic(_Public):
    data: list[AcceptedLimitsPublic]
    count: int
