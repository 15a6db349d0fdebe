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
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
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


class SensorLivePublic(_Public):
    """A catalogued sensor with its latest landed reading."""

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


class SensorsLivePublic(_Public):
    data: list[SensorLivePublic]
    count: int
    #: When the latest values were read.
    read_at: AwareDatetime
    stale_count: int


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
