"""The store protocol: four collections behind one async interface.

Implementations: :mod:`analyzer.store.sqlite` (local default) and :mod:`analyzer.store.cosmos`
(Azure). A single contract suite (``tests/store``) runs against both.

Semantics every implementation keeps:

* ``put_results`` is an idempotent upsert keyed by ``AnalysisResult.id`` (the stream entry id).
* Episodes carry an opaque ``etag``; ``replace_episode`` succeeds only if the stored etag still
  matches (optimistic concurrency) and raises :class:`ConflictError` otherwise. A change of
  ``severity_level`` moves the episode between partitions; readers never see it twice. Under heavy
  concurrent moves a read may also raise :class:`ConflictError`: read again.
* ``resolve_episode`` moves an episode from ``unresolved_anomalies`` to ``resolved_anomalies``.
  Calling it again after a crash completes the move; calling it on an already resolved episode
  returns the resolved record (idempotent).
* Queries return newest first, one :class:`~schemas.api.Page` at a time; ``continuation`` is an
  opaque string the API hands to clients unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.anomalies import Episode, EpisodeState, ModifiedValue, ResolvedAnomaly, Tier
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


class EpisodeQuery(_Query):
    """Open episodes by ``last_seen``, sensor, severity, state and tier."""

    severity: Severity | None = None
    state: EpisodeState | None = None
    tier: Tier | None = None


class ResolvedQuery(_Query):
    """Resolved episodes by ``resolved_at``, sensor, severity and resolver."""

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
    async def get_episode(self, episode_id: str) -> Versioned[Episode] | None: ...
    async def find_open_episode(self, condition_key: str) -> Versioned[Episode] | None: ...
    async def create_episode(self, episode: Episode) -> Versioned[Episode]: ...
    async def replace_episode(self, episode: Episode, etag: str) -> Versioned[Episode]: ...
    async def query_episodes(self, query: EpisodeQuery) -> Page[Episode]: ...

    # resolved_anomalies
    async def resolve_episode(
        self, episode_id: str, resolved_by: str, note: str, resolved_at: datetime
    ) -> ResolvedAnomaly: ...
    async def get_resolved(self, episode_id: str) -> ResolvedAnomaly | None: ...
    async def query_resolved(self, query: ResolvedQuery) -> Page[ResolvedAnomaly]: ...

    # modified_values
    async def put_modification(self, record: ModifiedValue) -> None: ...
    async def query_modifications(self, query: ModificationQuery) -> Page[ModifiedValue]: ...

    # lifecycle
    async def ping(self) -> None: ...
    async def close(self) -> None: ...
