"""The Cosmos DB store (NoSQL API) on ``azure.cosmos.aio``.

Documents are the pydantic models as JSON plus ``t_us`` (the sort time in integer microseconds,
so ordering ignores UTC offsets); queries page newest first by ``ORDER BY c.t_us DESC, c.id DESC``
(needs the composite index in :data:`INDEXING_POLICY`) through the SDK's continuation tokens,
wrapped and signed by :mod:`analyzer.store._paging`. Time ranges are half-open.

Alarm records never move between partitions: a record's ``severity_level`` is its alarm's fixed
priority. ``put_alarms`` keeps the highest ``revision`` (a conditional replace on the etag of the
last read or write; a late writer's older revision is dropped, and a record resolved meanwhile is
not brought back). ``close_alarm`` upserts the resolved record, then deletes the open one; a crash
in between leaves both, and repeating the call (or the projector's reconciliation) completes it.

Write cost per analysed entry (measured in ``bench/store_cost.py``): one upsert per result; a
changed alarm adds one replace per batch (a read first when this process has not written it yet).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar

from azure.core import MatchConditions
from azure.cosmos import PartitionKey
from azure.cosmos.aio import ContainerProxy, CosmosClient, DatabaseProxy
from pydantic import BaseModel

from analyzer.store import _faults, _retry, corrections
from analyzer.store._faults import FaultHook
from analyzer.store._paging import TokenCodec, to_micros
from analyzer.store.containers import (
    ALL_CONTAINERS,
    ANOMALY_RESULTS,
    COMPOSITE_INDEX,
    MODIFIED_VALUES,
    RESOLVED_ANOMALIES,
    SORT_FIELD,
    UNRESOLVED_ANOMALIES,
    ContainerSpec,
)
from analyzer.store.protocol import (
    AlarmQuery,
    AlreadyExistsError,
    ConflictError,
    CorrectionOutcome,
    CorrectionRequest,
    HourlyCount,
    InvalidContinuationError,
    ModificationQuery,
    NotFoundError,
    ResolvedQuery,
    ResultQuery,
    ResultSummary,
    SensorHistory,
    StoreError,
    VersionMismatchError,
)
from analyzer.store.summaries import summary_document
from schemas.alarms import AlarmRecord, ResolvedAlarm
from schemas.anomalies import ModifiedValue
from schemas.api import Page
from schemas.results import AnalysisResult, Severity

if TYPE_CHECKING:
    from analyzer.settings import Settings

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")

#: Marks an analysis whose correction is half written (dashboard API, issue 9).
_CORRECTING = "correcting"
_INTERNAL = frozenset({SORT_FIELD, _CORRECTING, "ttl"})

#: Every container: consistent indexing of everything, plus the composite index that the
#: newest-first ``ORDER BY c.t_us DESC, c.id DESC`` of every query needs. Terraform must declare
#: the same ``composite_index`` on each container.
INDEXING_POLICY: Final[dict[str, Any]] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/*"}],
    "excludedPaths": [{"path": '/"_etag"/?'}],
    "compositeIndexes": [
        [{"path": path, "order": order} for path, order in COMPOSITE_INDEX],
    ],
}

#: Concurrent upserts per ``put_results`` call.
PUT_CONCURRENCY: Final = 16


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_") and k not in _INTERNAL}


def _doc(model: BaseModel, sort_time: datetime, **extra: Any) -> dict[str, Any]:
    body = model.model_dump(mode="json")
    body[SORT_FIELD] = to_micros(sort_time)
    body.update(extra)
    return body


class CosmosStore:
    """The :class:`~analyzer.store.protocol.Store` on four Cosmos DB containers."""

    def __init__(
        self,
        client: CosmosClient,
        database: DatabaseProxy,
        codec: TokenCodec,
        *,
        credential: Any = None,
        fault_hook: FaultHook | None = None,
    ) -> None:
        self._client = client
        self._credential = credential
        self._codec = codec
        self.database_name = database.id
        self.results = database.get_container_client(ANOMALY_RESULTS.name)
        self.open_alarms = database.get_container_client(UNRESOLVED_ANOMALIES.name)
        #: Alarm id -> (revision, etag) of this process's last read or write (saves a read per update).
        self._alarm_etags: dict[str, tuple[int, str]] = {}
        self.resolved = database.get_container_client(RESOLVED_ANOMALIES.name)
        self.modifications = database.get_container_client(MODIFIED_VALUES.name)
        #: Tests set this to simulate a crash at a named point (see :mod:`analyzer.store._faults`).
        self.fault_hook = fault_hook

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        *,
        endpoint: str,
        database: str,
        key: str | None = None,
        verify_tls: bool = True,
        create_if_missing: bool = False,
        fault_hook: FaultHook | None = None,
        **client_options: Any,
    ) -> CosmosStore:
        """Connect with ``key`` if given (local servers), else ``DefaultAzureCredential``."""
        credential: Any
        owned_credential = None
        if key is not None:
            credential = key
        else:
            from azure.identity.aio import DefaultAzureCredential

            credential = owned_credential = DefaultAzureCredential()
        client = CosmosClient(endpoint, credential=credential, connection_verify=verify_tls, **client_options)
        try:
            if create_if_missing:
                db = await _retry.call(
                    "create_database", database, lambda: client.create_database_if_not_exists(database)
                )
                for spec in ALL_CONTAINERS:
                    await _create_container(db, spec)
            else:
                db = client.get_database_client(database)
            # Tokens must verify on every replica and across restarts: derive the secret from
            # what all replicas share (the account and database), plus the key where there is one.
            secret = hashlib.sha256(f"{endpoint}|{database}|{key or ''}|continuation".encode()).digest()
            store = cls(client, db, TokenCodec(secret), credential=owned_credential, fault_hook=fault_hook)
            await store.ping()
        except BaseException:
            await client.close()
            if owned_credential is not None:
                await owned_credential.close()
            raise
        return store

    @classmethod
    async def from_settings(cls, settings: Settings) -> CosmosStore:
        if not settings.cosmos_db_endpoint:
            raise StoreError("STORE_BACKEND=cosmos needs COSMOS_DB_ENDPOINT")
        return await cls.open(
            endpoint=settings.cosmos_db_endpoint,
            database=settings.cosmos_db_database_name,
            key=settings.cosmos_db_key.get_secret_value() if settings.cosmos_db_key else None,
            verify_tls=settings.cosmos_db_verify_tls,
            create_if_missing=settings.cosmos_db_create_if_missing,
        )

    async def close(self) -> None:
        await self._client.close()
        if self._credential is not None:
            await self._credential.close()

    async def ping(self) -> None:
        for container in (self.results, self.open_alarms, self.resolved, self.modifications):
            await _retry.call("ping", container.id, container.read)

    def _fault(self, point: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(point)

    # -- anomaly_results -------------------------------------------------------------------

    async def put_results(self, results: Sequence[AnalysisResult]) -> None:
        unique = list({result.id: result for result in results}.values())
        gate = asyncio.Semaphore(PUT_CONCURRENCY)

        async def upsert(result: AnalysisResult) -> None:
            body = _doc(result, result.timestamp)
            async with gate:
                await _retry.call("put_results", self.results.id, lambda: self.results.upsert_item(body))

        await _gather(upsert(result) for result in unique)

    async def get_result(self, result_id: str) -> AnalysisResult | None:
        docs = await self._query_all("get_result", self.results, "SELECT * FROM c WHERE c.id = @id", {"@id": result_id})
        return AnalysisResult.model_validate(_strip(docs[0])) if docs else None

    async def existing_result_ids(self, result_ids: Sequence[str]) -> set[str]:
        wanted = list(dict.fromkeys(result_ids))
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            found.update(
                await self._query_all(
                    "existing_result_ids",
                    self.results,
                    "SELECT VALUE c.id FROM c WHERE ARRAY_CONTAINS(@ids, c.id)",
                    {"@ids": chunk},
                )
            )
        return found

    async def query_results(self, query: ResultQuery) -> Page[AnalysisResult]:
        where, params = _time_filters(query)
        if query.sensor is not None:
            where.append("ARRAY_CONTAINS(c.anomalous_sensors, @sensor)")
            params["@sensor"] = query.sensor
        if query.severity is not None:
            where.append("c.severity_level = @severity")
            params["@severity"] = query.severity.value
        if query.status is not None:
            where.append("c.final_status = @status")
            params["@status"] = query.status.value
        docs, token = await self._page("query_results", self.results, query, where, params)
        return Page[AnalysisResult](items=[AnalysisResult.model_validate(_strip(d)) for d in docs], continuation=token)

    # -- unresolved_anomalies --------------------------------------------------------------

    async def put_alarms(self, records: Sequence[AlarmRecord]) -> None:
        latest = list({r.id: r for r in sorted(records, key=lambda r: r.revision)}.values())
        gate = asyncio.Semaphore(PUT_CONCURRENCY)

        async def put(record: AlarmRecord) -> None:
            async with gate:
                await self._put_alarm(record)

        await _gather(put(record) for record in latest)

    async def _put_alarm(self, record: AlarmRecord) -> None:
        """Upsert unless the stored revision is the same or newer; a point write in the common case
        (the etag of this process's last write is remembered), a read first otherwise."""
        container, body = self.open_alarms, _doc(record, record.last_seen)
        for _ in range(8):
            known = self._alarm_etags.get(record.id)
            try:
                if known is None:
                    try:
                        stored: dict[str, Any] = await _retry.call(
                            "put_alarms",
                            container.id,
                            lambda: container.read_item(record.id, partition_key=record.severity_level.value),
                        )
                    except NotFoundError:
                        if await self._resolved_doc(record.id) is not None:
                            return  # resolved meanwhile: a late write must not bring it back
                        created = await _retry.call(
                            "put_alarms", container.id, lambda: container.create_item(body), idempotent=False
                        )
                        self._remember(record.id, record.revision, created["_etag"])
                        return
                    known = (int(stored.get("revision", 0)), stored["_etag"])
                    self._remember(record.id, *known)
                revision, etag = known
                if revision >= record.revision:
                    return
                replace = functools.partial(
                    container.replace_item, record.id, body, etag=etag, match_condition=MatchConditions.IfNotModified
                )
                written = await _retry.call("put_alarms", container.id, replace, idempotent=False)
                self._remember(record.id, record.revision, written["_etag"])
                return
            except (ConflictError, AlreadyExistsError, NotFoundError):
                # Written by another replica since (412/409), or closed (404): look again.
                self._alarm_etags.pop(record.id, None)
        raise ConflictError(f"put_alarms on {container.id}: record {record.id!r} keeps changing")

    def _remember(self, alarm_id: str, revision: int, etag: str) -> None:
        if len(self._alarm_etags) > 10_000:
            self._alarm_etags.clear()
        self._alarm_etags[alarm_id] = (revision, etag)

    async def get_alarm(self, alarm_id: str, severity: Severity | None = None) -> AlarmRecord | None:
        container = self.open_alarms
        if severity is not None:
            try:
                doc = await _retry.call(
                    "get_alarm", container.id, lambda: container.read_item(alarm_id, partition_key=severity.value)
                )
            except NotFoundError:
                return None
            return AlarmRecord.model_validate(_strip(doc))
        docs = await self._query_all("get_alarm", container, "SELECT * FROM c WHERE c.id = @id", {"@id": alarm_id})
        return AlarmRecord.model_validate(_strip(docs[0])) if docs else None

    async def query_alarms(self, query: AlarmQuery) -> Page[AlarmRecord]:
        where, params = _time_filters(query)
        if query.sensor is not None:
            where.append("ARRAY_CONTAINS(c.sensors, @sensor)")
            params["@sensor"] = query.sensor
        for name, value in (
            ("severity_level", query.severity.value if query.severity else None),
            ("state", query.state.value if query.state else None),
            ("kind", query.kind.value if query.kind else None),
            ("tier", query.tier),
        ):
            if value is not None:
                where.append(f"c.{name} = @{name}")
                params[f"@{name}"] = value
        docs, token = await self._page("query_alarms", self.open_alarms, query, where, params)
        return Page[AlarmRecord](items=[AlarmRecord.model_validate(_strip(d)) for d in docs], continuation=token)

    # -- resolved_anomalies ----------------------------------------------------------------

    async def close_alarm(self, resolved: ResolvedAlarm) -> None:
        """Write the resolved record (idempotent upsert), then delete the open one."""
        body = _doc(resolved, resolved.resolved_at)
        await _retry.call("close_alarm", self.resolved.id, lambda: self.resolved.upsert_item(body))
        self._fault(_faults.RESOLVE_WRITTEN)
        container = self.open_alarms
        with contextlib.suppress(NotFoundError):
            await _retry.call(
                "close_alarm",
                container.id,
                lambda: container.delete_item(resolved.id, partition_key=resolved.severity_level.value),
            )
        self._alarm_etags.pop(resolved.id, None)

    async def reopen_alarm(self, record: AlarmRecord, resolved_by: str) -> None:
        with contextlib.suppress(NotFoundError):
            await _retry.call(
                "reopen_alarm",
                self.resolved.id,
                lambda: self.resolved.delete_item(record.id, partition_key=resolved_by),
            )
        self._alarm_etags.pop(record.id, None)
        await self._put_alarm(record)

    async def _resolved_doc(self, alarm_id: str) -> dict[str, Any] | None:
        docs = await self._query_all(
            "get_resolved", self.resolved, "SELECT * FROM c WHERE c.id = @id", {"@id": alarm_id}
        )
        return docs[0] if docs else None

    async def get_resolved(self, alarm_id: str) -> ResolvedAlarm | None:
        doc = await self._resolved_doc(alarm_id)
        return ResolvedAlarm.model_validate(_strip(doc)) if doc is not None else None

    async def query_resolved(self, query: ResolvedQuery) -> Page[ResolvedAlarm]:
        where, params = _time_filters(query)
        if query.sensor is not None:
            where.append("ARRAY_CONTAINS(c.sensors, @sensor)")
            params["@sensor"] = query.sensor
        if query.severity is not None:
            where.append("c.severity_level = @severity")
            params["@severity"] = query.severity.value
        if query.resolved_by is not None:
            where.append("c.resolved_by = @resolved_by")
            params["@resolved_by"] = query.resolved_by
        docs, token = await self._page("query_resolved", self.resolved, query, where, params)
        return Page[ResolvedAlarm](items=[ResolvedAlarm.model_validate(_strip(d)) for d in docs], continuation=token)

    # -- modified_values -------------------------------------------------------------------

    async def put_modification(self, record: ModifiedValue) -> None:
        body = _doc(record, record.modified_at)
        await _retry.call("put_modification", self.modifications.id, lambda: self.modifications.upsert_item(body))

    async def query_modifications(self, query: ModificationQuery) -> Page[ModifiedValue]:
        where, params = _time_filters(query)
        for field in ("sensor", "modified_by", "result_id"):
            value = getattr(query, field)
            if value is not None:
                where.append(f"c.{field} = @{field}")
                params[f"@{field}"] = value
        docs, token = await self._page("query_modifications", self.modifications, query, where, params)
        return Page[ModifiedValue](items=[ModifiedValue.model_validate(_strip(d)) for d in docs], continuation=token)

    # -- queries ---------------------------------------------------------------------------

    async def _query_all(
        self, operation: str, container: ContainerProxy, sql: str, params: dict[str, Any]
    ) -> list[Any]:
        parameters = [{"name": name, "value": value} for name, value in params.items()]

        async def run() -> list[Any]:
            return [item async for item in container.query_items(sql, parameters=parameters)]

        return await _retry.call(operation, container.id, run)

    async def _page(
        self,
        operation: str,
        container: ContainerProxy,
        query: ResultQuery | AlarmQuery | ResolvedQuery | ModificationQuery,
        where: list[str],
        params: dict[str, Any],
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page newest first; the SDK's continuation, wrapped in a signed token."""
        sdk_token: str | None = None
        if query.continuation is not None:
            sdk_token = self._codec.decode(query, query.continuation)
            if not isinstance(sdk_token, str):
                raise InvalidContinuationError(f"{operation} on {container.id}: continuation has no position")
        sql = (
            f"SELECT * FROM c {'WHERE ' + ' AND '.join(where) if where else ''} ORDER BY c.{SORT_FIELD} DESC, c.id DESC"
        )
        parameters = [{"name": name, "value": value} for name, value in params.items()]

        async def fetch(token: str | None) -> tuple[list[dict[str, Any]], str | None]:
            pager: Any = container.query_items(sql, parameters=parameters, max_item_count=query.limit).by_page(token)
            try:
                page = await pager.__anext__()
            except StopAsyncIteration:
                return [], None
            items = [item async for item in page]
            return items, pager.continuation_token

        docs: list[dict[str, Any]] = []
        for _ in range(20):  # the service may return empty pages with a continuation; skip them
            docs, sdk_token = await _retry.call(operation, container.id, functools.partial(fetch, sdk_token))
            if docs or sdk_token is None:
                break
        docs = docs[: query.limit]
        return docs, self._codec.encode(query, sdk_token) if sdk_token and docs else None

    # -- dashboard API additions (issue 9): corrections, statistics, retention ----------------
    #
    # A correction touches two containers, so it follows the moves' pattern: the commit point is a
    # conditional (If-Match) replace of the analysis that marks it with the audit record
    # (``correcting``) while it still shows the old value; then the audit record is upserted; then
    # the analysis is replaced with the corrected value and no mark. Whoever meets a mark (the next
    # correction of that analysis, :meth:`repair_corrections`) finishes it; both later steps are
    # idempotent, so a crash anywhere leaves either nothing or a mark that is finished later, and no
    # reader sees a corrected value without its audit record.

    async def _result_doc(self, operation: str, result_id: str) -> dict[str, Any] | None:
        docs = await self._query_all(operation, self.results, "SELECT * FROM c WHERE c.id = @id", {"@id": result_id})
        return docs[0] if docs else None

    async def correct_value(self, request: CorrectionRequest) -> CorrectionOutcome:
        operation = "correct_value"
        for _ in range(10):
            done = await self._query_all(
                operation, self.modifications, "SELECT * FROM c WHERE c.id = @id", {"@id": request.id}
            )
            if done:
                record = ModifiedValue.model_validate(_strip(done[0]))
                corrections.same_request(record, request)
                result = await self._reconcile(operation, record.result_id)
                return CorrectionOutcome(record, result, corrections.version(result), applied=False)
            doc = await self._result_doc(operation, request.result_id)
            if doc is None:
                raise NotFoundError(f"{operation} on {self.results.id}: no analysis {request.result_id!r}")
            if doc.get(_CORRECTING):
                await self._finish_correction(doc)  # an interrupted correction goes first
                continue
            result = AnalysisResult.model_validate(_strip(doc))
            current = corrections.version(result)
            if request.expected_version is not None and request.expected_version != current:
                raise VersionMismatchError(
                    f"{operation} on {self.results.id}: analysis {result.id!r} is at version {current}, "
                    f"not {request.expected_version}",
                    current,
                )
            record = corrections.audit_record(request, result)
            marker = {k: v for k, v in doc.items() if not k.startswith("_")}
            marker[_CORRECTING] = record.model_dump(mode="json")
            write = functools.partial(
                self.results.replace_item,
                doc["id"],
                marker,
                etag=doc["_etag"],
                match_condition=MatchConditions.IfNotModified,
            )
            try:
                marked = await _retry.call(operation, self.results.id, write, idempotent=False)
            except (ConflictError, NotFoundError):
                continue  # changed since read (another correction, a replayed analysis): read again
            self._fault(_faults.CORRECTION_MARKED)
            corrected = await self._finish_correction(marked)
            return CorrectionOutcome(record, corrected, corrections.version(corrected), applied=True)
        raise ConflictError(f"{operation} on {self.results.id}: analysis {request.result_id!r} keeps changing")

    async def _finish_correction(self, marked: dict[str, Any]) -> AnalysisResult:
        """Write the marked correction's audit record, then show it in the analysis (both idempotent)."""
        record = ModifiedValue.model_validate(marked[_CORRECTING])
        body = _doc(record, record.modified_at)
        await _retry.call("correct_value", self.modifications.id, lambda: self.modifications.upsert_item(body))
        self._fault(_faults.CORRECTION_AUDITED)
        corrected = corrections.apply(AnalysisResult.model_validate(_strip(marked)), record)
        final = _doc(corrected, corrected.timestamp)
        write = functools.partial(
            self.results.replace_item,
            marked["id"],
            final,
            etag=marked["_etag"],
            match_condition=MatchConditions.IfNotModified,
        )
        # Conflict or gone: another reader finished it, or a replay overwrote the analysis (the
        # audit record is written, so repair_corrections shows it again).
        with contextlib.suppress(ConflictError, NotFoundError):
            await _retry.call("correct_value", self.results.id, write, idempotent=False)
        return corrected

    async def _reconcile(self, operation: str, result_id: str) -> AnalysisResult:
        """The analysis after finishing its marked correction and re-applying audit records it lost."""
        for _ in range(10):
            doc = await self._result_doc(operation, result_id)
            if doc is None:
                raise NotFoundError(f"{operation} on {self.results.id}: no analysis {result_id!r}")
            if doc.get(_CORRECTING):
                await self._finish_correction(doc)
                continue
            records = await self._query_all(
                operation, self.modifications, "SELECT * FROM c WHERE c.result_id = @id", {"@id": result_id}
            )
            latest = corrections.latest_per_reading(ModifiedValue.model_validate(_strip(r)) for r in records)
            result = AnalysisResult.model_validate(_strip(doc))
            missing = [record for record in latest.values() if not corrections.shows(result, record)]
            if not missing:
                return result
            for record in missing:
                result = corrections.apply(result, record)
            write = functools.partial(
                self.results.replace_item,
                doc["id"],
                _doc(result, result.timestamp),
                etag=doc["_etag"],
                match_condition=MatchConditions.IfNotModified,
            )
            try:
                await _retry.call(operation, self.results.id, write, idempotent=False)
            except (ConflictError, NotFoundError):
                continue
            return result
        raise ConflictError(f"{operation} on {self.results.id}: analysis {result_id!r} keeps changing")

    async def repair_corrections(self, since: datetime) -> int:
        operation = "repair_corrections"
        repaired = 0
        marked = await self._query_all(
            operation, self.results, f"SELECT * FROM c WHERE IS_DEFINED(c.{_CORRECTING})", {}
        )
        for doc in marked:
            await self._finish_correction(doc)
            repaired += 1
        recent = await self._query_all(
            operation,
            self.modifications,
            f"SELECT * FROM c WHERE c.{SORT_FIELD} >= @since",
            {"@since": to_micros(since)},
        )
        latest = corrections.latest_per_reading(ModifiedValue.model_validate(_strip(r)) for r in recent)
        for result_id in sorted({result_id for result_id, _ in latest}):
            doc = await self._result_doc(operation, result_id)
            if doc is None:
                continue  # expired: the audit trail outlives the analyses
            result = AnalysisResult.model_validate(_strip(doc))
            wanted = [record for (rid, _), record in latest.items() if rid == result_id]
            if all(corrections.shows(result, record) for record in wanted):
                continue
            await self._reconcile(operation, result_id)
            repaired += 1
        return repaired

    async def get_modification(self, modification_id: str) -> ModifiedValue | None:
        docs = await self._query_all(
            "get_modification", self.modifications, "SELECT * FROM c WHERE c.id = @id", {"@id": modification_id}
        )
        return ModifiedValue.model_validate(_strip(docs[0])) if docs else None

    async def count_results_per_hour(self, start: datetime, end: datetime) -> list[HourlyCount]:
        # GROUP BY is not served by every Cosmos-protocol server (nor needed): project two small
        # fields of the days in range (one partition each) and count here.
        where, params = _day_range(start, end)
        rows = await self._query_all(
            "count_results_per_hour",
            self.results,
            f"SELECT VALUE [c.{SORT_FIELD}, c.final_status] FROM c WHERE {where}",
            params,
        )
        counts: dict[int, list[int]] = {}
        for t_us, status in rows:
            bucket = counts.setdefault(t_us // _HOUR_US, [0, 0])
            bucket[0] += 1
            bucket[1] += status == "anomaly"
        return [
            HourlyCount(hour=_from_micros(hour * _HOUR_US), analyses=n, anomalies=a)
            for hour, (n, a) in sorted(counts.items())
        ]

    async def sensor_history(self, sensor: str, start: datetime, end: datetime, max_rows: int) -> SensorHistory:
        where, params = _day_range(start, end)
        params["@sensor"] = sensor
        sql = (
            f"SELECT TOP {max_rows + 1} c.{SORT_FIELD} AS t, c.raw_data[@sensor] AS v, "
            f'c.corrections[@sensor]["value"] AS cv FROM c WHERE {where} ORDER BY c.{SORT_FIELD}'
        )
        rows = await self._query_all("sensor_history", self.results, sql, params)
        truncated = len(rows) > max_rows
        times: list[int] = []
        values: list[float] = []
        for row in rows[:max_rows]:
            value = row.get("cv", row.get("v"))
            if value is not None:
                times.append(row["t"])
                values.append(float(value))
        return SensorHistory(times_us=times, values=values, truncated=truncated)

    async def expire_results(self, older_than: datetime, max_rows: int) -> int:
        # The container's default_ttl (containers.py, Terraform) expires analyses without any
        # process; this enforces a shorter configured age the same way SQLite does.
        rows = await self._query_all(
            "expire_results",
            self.results,
            f"SELECT TOP {max_rows} c.id, c.day FROM c WHERE c.{SORT_FIELD} < @cutoff",
            {"@cutoff": to_micros(older_than)},
        )
        gate = asyncio.Semaphore(PUT_CONCURRENCY)

        async def delete(row: dict[str, Any]) -> None:
            async with gate:
                with contextlib.suppress(NotFoundError):
                    await _retry.call(
                        "expire_results",
                        self.results.id,
                        lambda: self.results.delete_item(row["id"], partition_key=row["day"]),
                    )

        await _gather(delete(row) for row in rows)
        return len(rows)

    async def query_result_summaries(self, query: ResultQuery) -> Page[ResultSummary]:
        # The service returns whole documents (a projection cannot filter the per-sensor maps);
        # summarising the parsed JSON still skips validating every sensor's block.
        where, params = _time_filters(query)
        if query.sensor is not None:
            where.append("ARRAY_CONTAINS(c.anomalous_sensors, @sensor)")
            params["@sensor"] = query.sensor
        if query.severity is not None:
            where.append("c.severity_level = @severity")
            params["@severity"] = query.severity.value
        if query.status is not None:
            where.append("c.final_status = @status")
            params["@status"] = query.status.value
        docs, token = await self._page("query_result_summaries", self.results, query, where, params)
        items = [ResultSummary.model_validate(summary_document(_strip(doc))) for doc in docs]
        return Page[ResultSummary](items=items, continuation=token)


def _time_filters(
    query: ResultQuery | AlarmQuery | ResolvedQuery | ModificationQuery,
) -> tuple[list[str], dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if query.start is not None:
        where.append(f"c.{SORT_FIELD} >= @start")
        params["@start"] = to_micros(query.start)
    if query.end is not None:
        where.append(f"c.{SORT_FIELD} < @end")
        params["@end"] = to_micros(query.end)
    return where, params


async def _create_container(database: DatabaseProxy, spec: ContainerSpec) -> None:
    options: dict[str, Any] = {
        "partition_key": PartitionKey(path=spec.partition_key),
        "indexing_policy": INDEXING_POLICY,
    }
    if spec.default_ttl_s is not None:
        options["default_ttl"] = spec.default_ttl_s
    await _retry.call(
        "create_container", spec.name, lambda: database.create_container_if_not_exists(spec.name, **options)
    )


async def _gather(tasks: Any) -> None:
    """Run every task; if any fail, wait for the rest and raise the first failure."""
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


_HOUR_US = 3_600_000_000
#: A time range longer than this is not narrowed to its day partitions (one IN list entry per day).
_MAX_DAYS_LISTED = 62


def _from_micros(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def _day_range(start: datetime, end: datetime) -> tuple[str, dict[str, Any]]:
    """A ``WHERE`` clause for reading times in ``[start, end)``, naming the day partitions so the
    query touches only those (``anomaly_results`` is partitioned by ``/day``)."""
    where = f"c.{SORT_FIELD} >= @start AND c.{SORT_FIELD} < @end"
    params: dict[str, Any] = {"@start": to_micros(start), "@end": to_micros(end)}
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    if 0 <= (last - first).days < _MAX_DAYS_LISTED:
        days = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
        names = [f"@day{n}" for n in range(len(days))]
        where += f" AND c.day IN ({', '.join(names)})"
        params.update(zip(names, days, strict=True))
    return where, params
