"""The SQLite store: the local default, one file in WAL mode.

* Every call runs on one dedicated thread that owns the connection, so the event loop never
  blocks on disk and writes are serialised without a lock (measured: see ``bench/store_cost.py``).
* Each collection is a table with the document as JSON plus the columns that queries filter and
  sort on; list-valued filters (``anomalous_sensors``, ``sensors``) live in side tables indexed by
  ``(sensor, time, id)``. Times are stored as integer microseconds since the epoch so ordering does
  not depend on the UTC offset a time was written with.
* Queries page newest first by keyset ``(time, id)``; the token is signed with a secret kept in
  the database file (so it survives restarts and is shared by every process using the file).
  Time ranges are half-open: ``start <= time < end``.
* ``put_results`` is one transaction; ``close_alarm`` is one transaction, so a crash leaves the
  old state and the next attempt completes.
* ``put_alarms`` keeps the highest ``revision`` of a record (compared inside the upsert).
* ``synchronous=FULL``: a committed batch survives power loss, which is what lets the worker
  acknowledge a stream entry once ``put_results`` returns.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from analyzer.store import _faults, corrections
from analyzer.store._faults import FaultHook
from analyzer.store._paging import TokenCodec, to_micros
from analyzer.store.containers import (
    ANOMALY_RESULTS,
    MODIFIED_VALUES,
    RESOLVED_ANOMALIES,
    UNRESOLVED_ANOMALIES,
)
from analyzer.store.protocol import (
    AlarmQuery,
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
    StoreUnavailableError,
    VersionMismatchError,
)
from analyzer.store.summaries import SQLITE_SUMMARY
from schemas.alarms import AlarmRecord, ResolvedAlarm
from schemas.anomalies import ModifiedValue
from schemas.api import Page
from schemas.results import AnalysisResult, Severity

R = TypeVar("R")
M = TypeVar("M", bound=BaseModel)

_RESULTS = ANOMALY_RESULTS.name
_OPEN = UNRESOLVED_ANOMALIES.name
_RESOLVED = RESOLVED_ANOMALIES.name
_MODIFIED = MODIFIED_VALUES.name

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);

CREATE TABLE IF NOT EXISTS {_RESULTS} (
    id TEXT PRIMARY KEY,
    t INTEGER NOT NULL,
    day TEXT NOT NULL,
    severity TEXT,
    status TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {_RESULTS}_t ON {_RESULTS} (t, id);
CREATE INDEX IF NOT EXISTS {_RESULTS}_status_t ON {_RESULTS} (status, t, id);
CREATE INDEX IF NOT EXISTS {_RESULTS}_severity_t ON {_RESULTS} (severity, t, id);
CREATE TABLE IF NOT EXISTS {_RESULTS}_sensors (
    sensor TEXT NOT NULL, t INTEGER NOT NULL, id TEXT NOT NULL,
    PRIMARY KEY (sensor, t, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS {_RESULTS}_sensors_id ON {_RESULTS}_sensors (id);

CREATE TABLE IF NOT EXISTS {_OPEN} (
    id TEXT PRIMARY KEY,
    alarm_key TEXT NOT NULL,
    t INTEGER NOT NULL,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    kind TEXT NOT NULL,
    tier TEXT NOT NULL,
    revision INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {_OPEN}_key ON {_OPEN} (alarm_key);
CREATE INDEX IF NOT EXISTS {_OPEN}_t ON {_OPEN} (t, id);
CREATE INDEX IF NOT EXISTS {_OPEN}_severity_t ON {_OPEN} (severity, t, id);
CREATE INDEX IF NOT EXISTS {_OPEN}_state_t ON {_OPEN} (state, t, id);
CREATE INDEX IF NOT EXISTS {_OPEN}_kind_t ON {_OPEN} (kind, t, id);
CREATE INDEX IF NOT EXISTS {_OPEN}_tier_t ON {_OPEN} (tier, t, id);
CREATE TABLE IF NOT EXISTS {_OPEN}_sensors (
    sensor TEXT NOT NULL, t INTEGER NOT NULL, id TEXT NOT NULL,
    PRIMARY KEY (sensor, t, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS {_OPEN}_sensors_id ON {_OPEN}_sensors (id);

CREATE TABLE IF NOT EXISTS {_RESOLVED} (
    id TEXT PRIMARY KEY,
    t INTEGER NOT NULL,
    severity TEXT NOT NULL,
    resolved_by TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {_RESOLVED}_t ON {_RESOLVED} (t, id);
CREATE INDEX IF NOT EXISTS {_RESOLVED}_severity_t ON {_RESOLVED} (severity, t, id);
CREATE INDEX IF NOT EXISTS {_RESOLVED}_by_t ON {_RESOLVED} (resolved_by, t, id);
CREATE TABLE IF NOT EXISTS {_RESOLVED}_sensors (
    sensor TEXT NOT NULL, t INTEGER NOT NULL, id TEXT NOT NULL,
    PRIMARY KEY (sensor, t, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS {_RESOLVED}_sensors_id ON {_RESOLVED}_sensors (id);

CREATE TABLE IF NOT EXISTS {_MODIFIED} (
    id TEXT PRIMARY KEY,
    t INTEGER NOT NULL,
    modified_by TEXT NOT NULL,
    result_id TEXT NOT NULL,
    sensor TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS {_MODIFIED}_t ON {_MODIFIED} (t, id);
CREATE INDEX IF NOT EXISTS {_MODIFIED}_by_t ON {_MODIFIED} (modified_by, t, id);
CREATE INDEX IF NOT EXISTS {_MODIFIED}_result_t ON {_MODIFIED} (result_id, t, id);
CREATE INDEX IF NOT EXISTS {_MODIFIED}_sensor_t ON {_MODIFIED} (sensor, t, id);
"""

#: SQLite's default limit on bound parameters is far above this; chunks keep statements small.
_IN_CHUNK = 500


class _Tx:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any exception (including simulated crashes)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")


class SqliteStore:
    """The :class:`~analyzer.store.protocol.Store` on one SQLite file."""

    def __init__(self, path: Path, *, fault_hook: FaultHook | None = None) -> None:
        self.path = Path(path)
        #: Tests set this to simulate a crash at a named point (see :mod:`analyzer.store._faults`).
        self.fault_hook = fault_hook
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._conn: sqlite3.Connection | None = None
        self._codec: TokenCodec | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: Path, *, fault_hook: FaultHook | None = None) -> SqliteStore:
        store = cls(path, fault_hook=fault_hook)
        await store._run("open", store.path.name, store._open_sync)
        return store

    def _open_sync(self) -> None:
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(self.path) != ":memory:" and mode.lower() != "wal":
            raise StoreError(f"open {self.path}: could not switch to WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.executescript(_SCHEMA)
        with _Tx(conn):
            conn.execute(
                "INSERT OR IGNORE INTO store_meta (key, value) VALUES ('continuation_secret', ?)",
                (secrets.token_bytes(32),),
            )
        secret = conn.execute("SELECT value FROM store_meta WHERE key = 'continuation_secret'").fetchone()[0]
        self._codec = TokenCodec(bytes(secret))
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)

    async def ping(self) -> None:
        await self._run("ping", "store_meta", lambda: self._db.execute("SELECT 1").fetchone())

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the SQLite store is closed")
        return self._conn

    async def _run(self, operation: str, collection: str, fn: Callable[..., R], *args: Any) -> R:
        if self._conn is None and operation != "open":
            raise StoreError(f"{operation} on {collection}: the SQLite store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn, *args)
        except StoreError:
            raise
        except sqlite3.OperationalError as exc:  # locked, busy, disk I/O: another writer or the disk
            raise StoreUnavailableError(f"{operation} on {collection} ({self.path}) failed: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"{operation} on {collection} ({self.path}) failed: {exc}") from exc

    def _fault(self, point: str) -> None:
        if self.fault_hook is not None:
            self.fault_hook(point)

    # -- anomaly_results -------------------------------------------------------------------

    async def put_results(self, results: Sequence[AnalysisResult]) -> None:
        if results:
            await self._run("put_results", _RESULTS, self._put_results_sync, list(results))

    def _put_results_sync(self, results: list[AnalysisResult]) -> None:
        rows: list[tuple[str, int, str, str | None, str, str]] = []
        sensor_rows: list[tuple[str, int, str]] = []
        for result in results:
            t = to_micros(result.timestamp)
            severity = result.severity_level.value if result.severity_level else None
            rows.append((result.id, t, result.day, severity, result.final_status.value, result.model_dump_json()))
            sensor_rows.extend((sensor, t, result.id) for sensor in dict.fromkeys(result.anomalous_sensors))
        with _Tx(self._db) as db:
            db.executemany(
                f"INSERT INTO {_RESULTS} (id, t, day, severity, status, doc) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET t = excluded.t, day = excluded.day, "
                "severity = excluded.severity, status = excluded.status, doc = excluded.doc",
                rows,
            )
            db.executemany(f"DELETE FROM {_RESULTS}_sensors WHERE id = ?", [(row[0],) for row in rows])
            db.executemany(f"INSERT OR IGNORE INTO {_RESULTS}_sensors (sensor, t, id) VALUES (?, ?, ?)", sensor_rows)

    async def get_result(self, result_id: str) -> AnalysisResult | None:
        row = await self._run(
            "get_result", _RESULTS, self._one, f"SELECT doc FROM {_RESULTS} WHERE id = ?", (result_id,)
        )
        return AnalysisResult.model_validate_json(row[0]) if row else None

    async def existing_result_ids(self, result_ids: Sequence[str]) -> set[str]:
        return await self._run("existing_result_ids", _RESULTS, self._existing_sync, list(result_ids))

    def _existing_sync(self, result_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(list(dict.fromkeys(result_ids)), _IN_CHUNK):
            marks = ",".join("?" * len(chunk))
            found.update(row[0] for row in self._db.execute(f"SELECT id FROM {_RESULTS} WHERE id IN ({marks})", chunk))
        return found

    async def query_results(self, query: ResultQuery) -> Page[AnalysisResult]:
        filters = []
        if query.severity is not None:
            filters.append(("severity = ?", query.severity.value))
        if query.status is not None:
            filters.append(("status = ?", query.status.value))
        return await self._page("query_results", _RESULTS, query, filters, AnalysisResult, sensor_table=True)

    # -- unresolved_anomalies --------------------------------------------------------------

    async def put_alarms(self, records: Sequence[AlarmRecord]) -> None:
        if records:
            await self._run("put_alarms", _OPEN, self._put_alarms_sync, list(records))

    def _put_alarms_sync(self, records: list[AlarmRecord]) -> None:
        with _Tx(self._db) as db:
            for record in records:
                if db.execute(f"SELECT 1 FROM {_RESOLVED} WHERE id = ?", (record.id,)).fetchone():
                    continue  # resolved meanwhile: a late write must not bring it back
                t = to_micros(record.last_seen)
                cursor = db.execute(
                    f"INSERT INTO {_OPEN} (id, alarm_key, t, severity, state, kind, tier, revision, doc) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET t = excluded.t, "
                    "state = excluded.state, revision = excluded.revision, doc = excluded.doc "
                    f"WHERE excluded.revision > {_OPEN}.revision",
                    (
                        record.id,
                        record.alarm_key,
                        t,
                        record.severity_level.value,
                        record.state.value,
                        record.kind.value,
                        record.tier,
                        record.revision,
                        record.model_dump_json(),
                    ),
                )
                if cursor.rowcount:
                    self._set_sensors(db, _OPEN, record.id, t, record.sensors)

    async def get_alarm(self, alarm_id: str, severity: Severity | None = None) -> AlarmRecord | None:
        row = await self._run("get_alarm", _OPEN, self._one, f"SELECT doc FROM {_OPEN} WHERE id = ?", (alarm_id,))
        return AlarmRecord.model_validate_json(row[0]) if row else None

    async def query_alarms(self, query: AlarmQuery) -> Page[AlarmRecord]:
        filters: list[tuple[str, str]] = []
        if query.severity is not None:
            filters.append(("severity = ?", query.severity.value))
        if query.state is not None:
            filters.append(("state = ?", query.state.value))
        if query.kind is not None:
            filters.append(("kind = ?", query.kind.value))
        if query.tier is not None:
            filters.append(("tier = ?", query.tier))
        return await self._page("query_alarms", _OPEN, query, filters, AlarmRecord, sensor_table=True)

    # -- resolved_anomalies ----------------------------------------------------------------

    async def close_alarm(self, resolved: ResolvedAlarm) -> None:
        await self._run("close_alarm", f"{_OPEN} -> {_RESOLVED}", self._close_sync, resolved)

    def _close_sync(self, resolved: ResolvedAlarm) -> None:
        t = to_micros(resolved.resolved_at)
        with _Tx(self._db) as db:
            db.execute(
                f"INSERT OR REPLACE INTO {_RESOLVED} (id, t, severity, resolved_by, doc) VALUES (?, ?, ?, ?, ?)",
                (resolved.id, t, resolved.severity_level.value, resolved.resolved_by, resolved.model_dump_json()),
            )
            self._set_sensors(db, _RESOLVED, resolved.id, t, resolved.sensors)
            # One transaction here; the point exists so the contract suite crashes both stores alike.
            self._fault(_faults.RESOLVE_WRITTEN)
            db.execute(f"DELETE FROM {_OPEN} WHERE id = ?", (resolved.id,))
            db.execute(f"DELETE FROM {_OPEN}_sensors WHERE id = ?", (resolved.id,))

    async def reopen_alarm(self, record: AlarmRecord, resolved_by: str) -> None:
        def write() -> None:
            with _Tx(self._db) as db:
                db.execute(f"DELETE FROM {_RESOLVED} WHERE id = ?", (record.id,))
                db.execute(f"DELETE FROM {_RESOLVED}_sensors WHERE id = ?", (record.id,))
            self._put_alarms_sync([record])

        await self._run("reopen_alarm", f"{_RESOLVED} -> {_OPEN}", write)

    async def get_resolved(self, alarm_id: str) -> ResolvedAlarm | None:
        row = await self._run(
            "get_resolved", _RESOLVED, self._one, f"SELECT doc FROM {_RESOLVED} WHERE id = ?", (alarm_id,)
        )
        return ResolvedAlarm.model_validate_json(row[0]) if row else None

    async def query_resolved(self, query: ResolvedQuery) -> Page[ResolvedAlarm]:
        filters = []
        if query.severity is not None:
            filters.append(("severity = ?", query.severity.value))
        if query.resolved_by is not None:
            filters.append(("resolved_by = ?", query.resolved_by))
        return await self._page("query_resolved", _RESOLVED, query, filters, ResolvedAlarm, sensor_table=True)

    # -- modified_values -------------------------------------------------------------------

    async def put_modification(self, record: ModifiedValue) -> None:
        def write() -> None:
            with _Tx(self._db) as db:
                db.execute(
                    f"INSERT OR REPLACE INTO {_MODIFIED} (id, t, modified_by, result_id, sensor, doc) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        to_micros(record.modified_at),
                        record.modified_by,
                        record.result_id,
                        record.sensor,
                        record.model_dump_json(),
                    ),
                )

        await self._run("put_modification", _MODIFIED, write)

    async def query_modifications(self, query: ModificationQuery) -> Page[ModifiedValue]:
        filters = []
        if query.modified_by is not None:
            filters.append(("modified_by = ?", query.modified_by))
        if query.result_id is not None:
            filters.append(("result_id = ?", query.result_id))
        if query.sensor is not None:
            filters.append(("sensor = ?", query.sensor))
        return await self._page("query_modifications", _MODIFIED, query, filters, ModifiedValue, sensor_table=False)

    # -- helpers ---------------------------------------------------------------------------

    def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self._db.execute(sql, params).fetchone()
        return row

    @staticmethod
    def _set_sensors(db: sqlite3.Connection, table: str, doc_id: str, t: int, sensors: Iterable[str]) -> None:
        db.execute(f"DELETE FROM {table}_sensors WHERE id = ?", (doc_id,))
        db.executemany(
            f"INSERT OR IGNORE INTO {table}_sensors (sensor, t, id) VALUES (?, ?, ?)",
            [(sensor, t, doc_id) for sensor in dict.fromkeys(sensors)],
        )

    async def _page(
        self,
        operation: str,
        table: str,
        query: ResultQuery | AlarmQuery | ResolvedQuery | ModificationQuery,
        filters: list[tuple[str, str]],
        model: type[M],
        *,
        sensor_table: bool,
        select: str = "d.doc",
    ) -> Page[M]:
        assert self._codec is not None
        position = None
        if query.continuation is not None:
            position = self._codec.decode(query, query.continuation)
            if (
                not isinstance(position, list)
                or len(position) != 2
                or not isinstance(position[0], int)
                or not isinstance(position[1], str)
            ):
                raise InvalidContinuationError(f"{operation} on {table}: continuation token has no position")
        if sensor_table and query.sensor is not None:
            # Walk the side table's (sensor, t, id) index and join the documents.
            source = f"{table}_sensors AS k JOIN {table} AS d ON d.id = k.id"
            where = ["k.sensor = ?"]
            params: list[Any] = [query.sensor]
            key = "k"
        else:
            source = f"{table} AS d"
            where, params, key = [], [], "d"
        for clause, value in filters:
            where.append(f"d.{clause}")
            params.append(value)
        if query.start is not None:
            where.append(f"{key}.t >= ?")
            params.append(to_micros(query.start))
        if query.end is not None:
            where.append(f"{key}.t < ?")
            params.append(to_micros(query.end))
        if position is not None:
            where.append(f"({key}.t, {key}.id) < (?, ?)")
            params.extend(position)
        sql = (
            f"SELECT {select}, {key}.t, {key}.id FROM {source} "
            f"{'WHERE ' + ' AND '.join(where) if where else ''} "
            f"ORDER BY {key}.t DESC, {key}.id DESC LIMIT ?"
        )
        params.append(query.limit + 1)
        rows = await self._run(operation, table, lambda: self._db.execute(sql, params).fetchall())
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        items = [model.model_validate_json(row[0]) for row in rows]
        continuation = self._codec.encode(query, [rows[-1][1], rows[-1][2]]) if more else None
        return Page[model](items=items, continuation=continuation)  # type: ignore[valid-type]

    # -- dashboard API additions (issue 9): corrections, statistics, retention ----------------

    async def correct_value(self, request: CorrectionRequest) -> CorrectionOutcome:
        return await self._run("correct_value", f"{_RESULTS} + {_MODIFIED}", self._correct_sync, request)

    def _correct_sync(self, request: CorrectionRequest) -> CorrectionOutcome:
        # Both writes in one transaction: a crash between them rolls both back. The fault points
        # exist so the contract suite crashes both stores at the same places.
        with _Tx(self._db) as db:
            done = db.execute(f"SELECT doc FROM {_MODIFIED} WHERE id = ?", (request.id,)).fetchone()
            if done is not None:
                record = ModifiedValue.model_validate_json(done[0])
                corrections.same_request(record, request)
                result = self._reconcile(db, record.result_id)
                return CorrectionOutcome(record, result, corrections.version(result), applied=False)
            result = self._reconcile(db, request.result_id)
            current = corrections.version(result)
            if request.expected_version is not None and request.expected_version != current:
                raise VersionMismatchError(
                    f"correct_value on {_RESULTS}: analysis {result.id!r} is at version {current}, "
                    f"not {request.expected_version}",
                    current,
                )
            record = corrections.audit_record(request, result)
            corrected = corrections.apply(result, record)
            db.execute(f"UPDATE {_RESULTS} SET doc = ? WHERE id = ?", (corrected.model_dump_json(), corrected.id))
            self._fault(_faults.CORRECTION_MARKED)
            db.execute(
                f"INSERT INTO {_MODIFIED} (id, t, modified_by, result_id, sensor, doc) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    to_micros(record.modified_at),
                    record.modified_by,
                    record.result_id,
                    record.sensor,
                    record.model_dump_json(),
                ),
            )
            self._fault(_faults.CORRECTION_AUDITED)
        return CorrectionOutcome(record, corrected, corrections.version(corrected), applied=True)

    def _reconcile(self, db: sqlite3.Connection, result_id: str) -> AnalysisResult:
        """The analysis, after re-applying audit records it lost (a replay overwrote it)."""
        row = db.execute(f"SELECT doc FROM {_RESULTS} WHERE id = ?", (result_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"correct_value on {_RESULTS}: no analysis {result_id!r}")
        result = AnalysisResult.model_validate_json(row[0])
        records = [
            ModifiedValue.model_validate_json(doc)
            for (doc,) in db.execute(f"SELECT doc FROM {_MODIFIED} WHERE result_id = ?", (result_id,))
        ]
        return self._show_latest(db, result, records)

    @staticmethod
    def _show_latest(db: sqlite3.Connection, result: AnalysisResult, records: list[ModifiedValue]) -> AnalysisResult:
        missing = [r for r in corrections.latest_per_reading(records).values() if not corrections.shows(result, r)]
        for record in missing:
            result = corrections.apply(result, record)
        if missing:
            db.execute(f"UPDATE {_RESULTS} SET doc = ? WHERE id = ?", (result.model_dump_json(), result.id))
        return result

    async def repair_corrections(self, since: datetime) -> int:
        return await self._run("repair_corrections", f"{_MODIFIED} -> {_RESULTS}", self._repair_sync, since)

    def _repair_sync(self, since: datetime) -> int:
        repaired = 0
        with _Tx(self._db) as db:
            recent = [
                ModifiedValue.model_validate_json(doc)
                for (doc,) in db.execute(f"SELECT doc FROM {_MODIFIED} WHERE t >= ?", (to_micros(since),))
            ]
            by_result: dict[str, list[ModifiedValue]] = {}
            for record in corrections.latest_per_reading(recent).values():
                by_result.setdefault(record.result_id, []).append(record)
            for result_id, records in by_result.items():
                row = db.execute(f"SELECT doc FROM {_RESULTS} WHERE id = ?", (result_id,)).fetchone()
                if row is None:
                    continue  # expired: the audit trail outlives the analyses
                result = AnalysisResult.model_validate_json(row[0])
                if self._show_latest(db, result, records) is not result:
                    repaired += 1
        return repaired

    async def get_modification(self, modification_id: str) -> ModifiedValue | None:
        row = await self._run(
            "get_modification", _MODIFIED, self._one, f"SELECT doc FROM {_MODIFIED} WHERE id = ?", (modification_id,)
        )
        return ModifiedValue.model_validate_json(row[0]) if row else None

    async def count_results_per_hour(self, start: datetime, end: datetime) -> list[HourlyCount]:
        sql = (
            f"SELECT t / {_HOUR_US}, COUNT(*), SUM(status = 'anomaly') FROM {_RESULTS} "
            "WHERE t >= ? AND t < ? GROUP BY 1 ORDER BY 1"
        )
        params = (to_micros(start), to_micros(end))
        rows = await self._run("count_results_per_hour", _RESULTS, lambda: self._db.execute(sql, params).fetchall())
        return [HourlyCount(hour=_from_micros(hour * _HOUR_US), analyses=n, anomalies=a) for hour, n, a in rows]

    async def sensor_history(self, sensor: str, start: datetime, end: datetime, max_rows: int) -> SensorHistory:
        if '"' in sensor or "\\" in sensor:
            raise ValueError(f"sensor name {sensor!r} may not contain quotes or backslashes")
        sql = (
            f"SELECT t, json_extract(doc, ?), json_extract(doc, ?) FROM {_RESULTS} "
            "WHERE t >= ? AND t < ? ORDER BY t LIMIT ?"
        )
        params = (
            f'$.raw_data."{sensor}"',
            f'$.corrections."{sensor}".value',
            to_micros(start),
            to_micros(end),
            max_rows + 1,
        )
        rows = await self._run("sensor_history", _RESULTS, lambda: self._db.execute(sql, params).fetchall())
        truncated = len(rows) > max_rows
        kept = [(t, corrected if corrected is not None else raw) for t, raw, corrected in rows[:max_rows]]
        kept = [(t, value) for t, value in kept if value is not None]
        return SensorHistory(
            times_us=[t for t, _ in kept], values=[float(value) for _, value in kept], truncated=truncated
        )

    async def expire_results(self, older_than: datetime, max_rows: int) -> int:
        return await self._run("expire_results", _RESULTS, self._expire_sync, to_micros(older_than), max_rows)

    async def query_result_summaries(self, query: ResultQuery) -> Page[ResultSummary]:
        filters = []
        if query.severity is not None:
            filters.append(("severity = ?", query.severity.value))
        if query.status is not None:
            filters.append(("status = ?", query.status.value))
        return await self._page(
            "query_result_summaries",
            _RESULTS,
            query,
            filters,
            ResultSummary,
            sensor_table=True,
            select=SQLITE_SUMMARY,
        )

    def _expire_sync(self, cutoff_us: int, max_rows: int) -> int:
        with _Tx(self._db) as db:
            sql = f"SELECT id FROM {_RESULTS} WHERE t < ? ORDER BY t LIMIT ?"
            ids = [row[0] for row in db.execute(sql, (cutoff_us, max_rows))]
            for chunk in _chunks(ids, _IN_CHUNK):
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM {_RESULTS} WHERE id IN ({marks})", chunk)
                db.execute(f"DELETE FROM {_RESULTS}_sensors WHERE id IN ({marks})", chunk)
        return len(ids)


def _chunks(values: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


_HOUR_US = 3_600_000_000


def _from_micros(micros: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
