"""The store protocol: four collections behind one async interface.

Implementations: :mod:`analyzer.store.sqlite` (local default) and :mod:`analyzer.store.cosmos`
(Azure). A single contract suite (``tests/store``) runs against both.

Semantics every implementation keeps:

* ``put_results`` is an idempotent upsert keyed by ``AnalysisResult.id`` (the stream entry id).
* Alarm records are written by their owner (``analyzer/alarms``), which keeps the live copy in
  Redis: ``put_alarms`` upserts each record unless the store already holds the same or a newer
  ``revision`` (a late writer never rolls a record back). A record's ``severity_level`` (its
  partition) never changes.
* ``close_alarm`` writes the resolved record, then deletes the open one; ``reopen_alarm`` the
  reverse. Both are idempotent, so calling again after a crash completes them.
* Queries return newest first, one :class:`~schemas.api.Page` at a time; ``continuation`` is an
  opaque string the API hands to clients unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.alarms import AlarmKind, AlarmRecord, AlarmState, ResolvedAlarm, Tier
from schemas.anomalies import ModifiedValue
from schemas.api import Page
from schemas.results import (
    AnalysisResult,
    FinalStatus,
    HeuristicSensorResult,
    Severity,
    StatisticalSensorResult,
    ValueCorrection,
)

T = TypeVar("T")


class StoreError(Exception):
    """A store operation failed; the message names the operation and the collection."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached or is busy (SQLite locked, Cosmos DB unreachable, 429/503):
    transient. Consumers hold the batch and retry it with backoff instead of counting a failure."""


class NotFoundError(StoreError):
    pass


class AlreadyExistsError(StoreError):
    pass


class ConflictError(StoreError):
    """The document changed since it was read (etag mismatch): read it again and retry."""


class InvalidContinuationError(StoreError, ValueError):
    """A client sent a continuation token this store did not issue."""


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """A document and the etag it was read at."""

    item: T
    etag: str


class _Query(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    sensor: str | None = None
    limit: int = Field(100, ge=1, le=1000)
    continuation: str | None = None


class ResultQuery(_Query):
    """Analyses by reading time (``timestamp``), sensor (among ``anomalous_sensors``), severity, status."""

    severity: Severity | None = None
    status: FinalStatus | None = None


class AlarmQuery(_Query):
    """Open alarm records by ``last_seen``, sensor, severity, ISA state, kind and tier."""

    severity: Severity | None = None
    state: AlarmState | None = None
    kind: AlarmKind | None = None
    tier: Tier | None = None


class ResolvedQuery(_Query):
    """Resolved alarm records by ``resolved_at``, sensor, severity and resolver."""

    severity: Severity | None = None
    resolved_by: str | None = None


class ModificationQuery(_Query):
    """Audit records by ``modified_at``, sensor, modifier and analysis."""

    modified_by: str | None = None
    result_id: str | None = None


class Store(Protocol):
    """What the pipeline and the APIs need from the store."""

    # anomaly_results
    async def put_results(self, results: Sequence[AnalysisResult]) -> None: ...
    async def get_result(self, result_id: str) -> AnalysisResult | None: ...
    async def existing_result_ids(self, result_ids: Sequence[str]) -> set[str]: ...
    async def query_results(self, query: ResultQuery) -> Page[AnalysisResult]: ...

    # unresolved_anomalies
    async def put_alarms(self, records: Sequence[AlarmRecord]) -> None: ...
    async def get_alarm(self, alarm_id: str, severity: Severity | None = None) -> AlarmRecord | None: ...
    async def query_alarms(self, query: AlarmQuery) -> Page[AlarmRecord]: ...

    # resolved_anomalies
    async def close_alarm(self, resolved: ResolvedAlarm) -> None: ...
    async def reopen_alarm(self, record: AlarmRecord, resolved_by: str) -> None: ...
    async def get_resolved(self, alarm_id: str) -> ResolvedAlarm | None: ...
    async def query_resolved(self, query: ResolvedQuery) -> Page[ResolvedAlarm]: ...

    # modified_values
    async def put_modification(self, record: ModifiedValue) -> None: ...
    async def query_modifications(self, query: ModificationQuery) -> Page[ModifiedValue]: ...

    # lifecycle
    async def ping(self) -> None: ...
    async def close(self) -> None: ...

    # -- dashboard API additions (issue 9): value corrections, history statistics, retention --------
    # Added at the end so the episode methods above can change independently.

    async def correct_value(self, request: CorrectionRequest) -> CorrectionOutcome:
        """Correct one reading of a stored analysis and write its audit record, crash-safely.

        The analysis keeps its original ``raw_data``; ``corrections[sensor]`` shows the new value
        and the audit record (``modified_values``) holds who, when, the old and new value and the
        reason. A crash between the two writes leaves a state that the next call, or
        :meth:`repair_corrections`, completes; readers never see a correction without its audit
        record. ``request.id`` makes the call idempotent: a second call with the same id returns
        the first outcome with ``applied=False`` (and raises :class:`InvalidCorrectionError` if it
        asks for another change). Raises :class:`NotFoundError` (no such analysis),
        :class:`InvalidCorrectionError` (the analysis has no reading of that sensor) and
        :class:`VersionMismatchError` (``expected_version`` is not the stored version).
        """
        ...

    async def repair_corrections(self, since: datetime) -> int:
        """Complete interrupted corrections, and re-apply the audit records written since
        ``since`` that their analysis no longer shows (a replayed entry overwrites its analysis).
        Returns how many analyses were repaired."""
        ...

    async def get_modification(self, modification_id: str) -> ModifiedValue | None: ...

    async def count_results_per_hour(self, start: datetime, end: datetime) -> list[HourlyCount]:
        """Analyses and anomalous analyses per UTC hour of reading time in ``[start, end)``,
        oldest first; hours without analyses are left out."""
        ...

    async def sensor_history(self, sensor: str, start: datetime, end: datetime, max_rows: int) -> SensorHistory:
        """One sensor's stored values (corrected where an operator corrected them) by reading time
        in ``[start, end)``, oldest first, at most ``max_rows`` analyses read."""
        ...

    async def expire_results(self, older_than: datetime, max_rows: int) -> int:
        """Delete at most ``max_rows`` analyses whose reading time is before ``older_than``;
        returns how many were deleted. Anomalies and the audit trail are never expired."""
        ...

    async def query_result_summaries(self, query: ResultQuery) -> Page[ResultSummary]:
        """:meth:`query_results` without the tiers' per-sensor blocks (only what they flagged):
        what history lists show, read without parsing every sensor's block of every analysis."""
        ...


# -- dashboard API additions (issue 9): the types of the methods above ----------------------------


class InvalidCorrectionError(StoreError, ValueError):
    """A correction that cannot apply: the analysis has no reading of that sensor, or a repeated
    request id asks for another change than the first time."""


class VersionMismatchError(ConflictError):
    """The caller's version of an analysis (HTTP ``If-Match``) is not the stored one."""

    def __init__(self, message: str, current_version: str) -> None:
        super().__init__(message)
        self.current_version = current_version


@dataclass(frozen=True)
class CorrectionRequest:
    """An operator's correction of one reading; ``modified_by`` is the authenticated identity."""

    id: str
    result_id: str
    sensor: str
    new_value: float
    reason: str
    modified_by: str
    modified_at: datetime
    #: Apply only if the analysis is still at this version (from its ``ETag``).
    expected_version: str | None = None


@dataclass(frozen=True)
class CorrectionOutcome:
    record: ModifiedValue
    result: AnalysisResult
    #: The analysis' version after the correction (its ``ETag``).
    version: str
    #: ``False`` when ``request.id`` had already been applied (a repeated request).
    applied: bool


@dataclass(frozen=True)
class HourlyCount:
    hour: datetime
    analyses: int
    anomalies: int


@dataclass(frozen=True)
class SensorHistory:
    """Reading times (microseconds since the epoch) and values, oldest first."""

    times_us: list[int]
    values: list[float]
    #: More analyses lay in the range than ``max_rows``: the newest part is missing.
    truncated: bool


class FlaggedML(BaseModel):
    model_config = ConfigDict(extra="forbid")

    score: float
    threshold: float
    status: str
    #: The sensors that drive the score most, with their contributions.
    top: dict[str, float]


class ResultSummary(BaseModel):
    """An analysis without the tiers' per-sensor blocks: only the sensors a tier flagged."""

    # Fields the analysis gains later are left out until a summary needs them.
    model_config = ConfigDict(extra="ignore")

    id: str
    timestamp: AwareDatetime
    analyzed_at: AwareDatetime
    final_status: FinalStatus
    severity_level: Severity | None = None
    overall_confidence: float
    anomalous_sensors: list[str] = Field(default_factory=list)
    alarm_ids: list[str] = Field(default_factory=list)
    raw_data: dict[str, float]
    corrections: dict[str, ValueCorrection] = Field(default_factory=dict)
    heuristic_flagged: dict[str, HeuristicSensorResult] = Field(default_factory=dict)
    statistical_flagged: dict[str, StatisticalSensorResult] = Field(default_factory=dict)
    ml: FlaggedML | None = None
