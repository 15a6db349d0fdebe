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
from typing import Generic, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.alarms import AlarmKind, AlarmRecord, AlarmState, ResolvedAlarm, Tier
from schemas.anomalies import ModifiedValue
from schemas.api import Page
from schemas.results import AnalysisResult, FinalStatus, Severity

T = TypeVar("T")


class StoreError(Exception):
    """A store operation failed; the message names the operation and the collection."""


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
