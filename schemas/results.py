"""What each tier says about a payload, and the analysis document stored in ``anomaly_results``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class AlarmType(StrEnum):
    OK = "OK"
    LOW = "Low"
    HIGH = "High"
    LOW_LOW = "Low-Low"
    HIGH_HIGH = "High-High"


class SensorStatus(StrEnum):
    NORMAL = "Normal"
    ANOMALY = "Anomaly"


class Severity(StrEnum):
    """Ordered from most to least urgent; ``rank`` gives a comparable number."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        return {"critical": 4, "high": 3, "medium": 2, "low": 1}[self.value]


class FinalStatus(StrEnum):
    NORMAL = "normal"
    ANOMALY = "anomaly"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HeuristicSensorResult(_Frozen):
    value: float
    alarm_type: AlarmType
    status: SensorStatus
    #: The limit that was crossed (``None`` when OK).
    limit: float | None = None
    context: str


class TierBlock(_Frozen):
    timestamp: AwareDatetime
    method: str
    processing_time_ms: float = Field(ge=0)


class HeuristicBlock(TierBlock):
    """Tier 1. Stored compactly: ``results`` holds the sensors beyond a limit only; every other
    sensor of ``raw_data`` was within its limits (the operator API expands the full shape)."""

    method: str = "alarm_limits"
    results: dict[str, HeuristicSensorResult]


StatisticalStatus = Literal["Normal", "Anomaly", "insufficient_history", "stuck", "not_updated"]


class StatisticalSensorResult(_Frozen):
    value: float
    mean: float | None = None
    std: float | None = None
    z_score: float | None = None
    status: StatisticalStatus
    context: str = ""


class StatisticalBlock(TierBlock):
    """Tier 2. Stored compactly: ``z_scores`` of every scored sensor; ``results`` in full only for
    sensors that were not plain ``Normal`` (``Anomaly``, ``stuck``); the names of the sensors that
    were not scored, by reason."""

    method: str = "zscore_24h"
    z_scores: dict[str, float] = Field(default_factory=dict)
    results: dict[str, StatisticalSensorResult]
    insufficient_history: list[str] = Field(default_factory=list)
    not_updated: list[str] = Field(default_factory=list)


MLStatus = Literal["Normal", "Anomaly", "no_model", "refused_model"]


class MLResult(_Frozen):
    #: Per-sensor contribution to the anomaly score (larger = drives it more).
    values: dict[str, float]
    #: Calibrated anomaly score in 0..1 (share of the training window that is less anomalous).
    score: float = Field(ge=0, le=1)
    raw_score: float
    threshold: float = Field(ge=0, le=1)
    status: MLStatus
    model_version: str | None = None


class PcaResult(_Frozen):
    """The PCA monitor beside the forest (same training rows): Hotelling's T^2 (inside the model
    plane), Q / SPE (off it) and the largest per-sensor residual in units of that sensor's own residual
    spread, each with its limit calibrated on the training rows; flagged when any exceeds its limit."""

    #: Sensors with the largest residuals (the broken relation), each with its contribution to Q.
    values: dict[str, float]
    t2: float | None
    t2_limit: float
    q: float | None
    q_limit: float
    residual: float | None
    residual_limit: float
    status: Literal["Normal", "Anomaly"]
    model_version: str


class MLBlock(TierBlock):
    """The multivariate detectors: ``results`` is the IsolationForest, ``pca`` the PCA monitor (absent
    until one is trained: it needs two or more features and enough training rows)."""

    method: str = "isolation_forest"
    results: MLResult
    pca: PcaResult | None = None


class ValueCorrection(_Frozen):
    """An operator's correction of one reading of an analysis; ``raw_data`` keeps the original.

    The audit record (``modified_values``) with ``id == modification_id`` says who, when, why and
    the value it replaced.
    """

    value: float = Field(allow_inf_nan=False)
    modification_id: str
    modified_by: str
    modified_at: AwareDatetime


class AnalysisResult(_Frozen):
    """One analysed payload, stored in ``anomaly_results``. ``id`` is the stream entry id, so a
    replayed entry overwrites its own result."""

    id: str
    source_entry_id: str
    timestamp: AwareDatetime
    #: Partition key: the reading's UTC day, ``YYYY-MM-DD``.
    day: str
    raw_data: dict[str, float]
    unknown_sensors: list[str] = Field(default_factory=list)
    heuristic: HeuristicBlock
    statistical: StatisticalBlock | None = None
    ml: MLBlock | None = None
    final_status: FinalStatus
    severity_level: Severity | None = None
    overall_confidence: float = Field(ge=0, le=1)
    #: Sensors any tier flagged, for queries by sensor.
    anomalous_sensors: list[str] = Field(default_factory=list)
    #: Alarm records that counted this reading (opened, re-activated or updated by it).
    alarm_ids: list[str] = Field(default_factory=list)
    analyzed_at: AwareDatetime
    #: Operators' corrections by sensor (the latest per sensor); ``raw_data`` stays as landed.
    corrections: dict[str, ValueCorrection] = Field(default_factory=dict)


def day_bucket(moment: datetime) -> str:
    """The ``anomaly_results`` partition key of a reading time."""
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y-%m-%d")
