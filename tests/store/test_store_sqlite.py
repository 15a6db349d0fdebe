"""What only the SQLite store promises: the file, WAL, indexes, restarts, and a free event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from store_factories import make_result

from analyzer.settings import Settings
from analyzer.store.factory import open_store
from analyzer.store.protocol import ResultQuery
from analyzer.store.sqlite import SqliteStore


async def test_open_store_creates_the_parent_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "analyzer.db"
    store = await open_store(Settings(store_backend="sqlite", sqlite_path=path))
    try:
        assert isinstance(store, SqliteStore)
        await store.put_results([make_result(1)])
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM anomaly_results").fetchone()[0] == 1


async def test_continuation_survives_a_restart_and_is_shared_by_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    first = await SqliteStore.open(path)
    await first.put_results([make_result(n) for n in range(5)])
    page = await first.query_results(ResultQuery(limit=2))
    await first.close()
    second = await SqliteStore.open(path)
    try:
        rest = await second.query_results(ResultQuery(limit=10, continuation=page.continuation))
        assert len(rest.items) == 3
    finally:
        await second.close()


def _plan(path: Path, sql: str, *params: object) -> str:
    conn = sqlite3.connect(path)
    return " | ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params))


async def test_queries_use_indexes(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    store = await SqliteStore.open(path)
    await store.close()
    plans = {
        "by time": _plan(path, "SELECT id FROM anomaly_results WHERE t >= ? ORDER BY t DESC, id DESC", 0),
        "by sensor": _plan(
            path,
            "SELECT d.doc FROM anomaly_results_sensors AS k JOIN anomaly_results AS d ON d.id = k.id "
            "WHERE k.sensor = ? ORDER BY k.t DESC, k.id DESC",
            "TI-101",
        ),
        "by severity": _plan(
            path, "SELECT id FROM anomaly_results WHERE severity = ? ORDER BY t DESC, id DESC", "high"
        ),
        "alarm by key": _plan(path, "SELECT id FROM unresolved_anomalies WHERE alarm_key = ?", "k"),
        "alarm by state": _plan(
            path, "SELECT id FROM unresolved_anomalies WHERE state = ? ORDER BY t DESC, id DESC", "unack_active"
        ),
    }
    for name, plan in plans.items():
        # an index is searched, and no temporary sort is needed for newest-first order
        assert "USING" in plan and "TEMP B-TREE" not in plan, (name, plan)


async def test_io_runs_off_the_event_loop(tmp_path: Path) -> None:
    """A write must not block the event loop: the SQLite work waits for a coroutine to run.

    If the write ran on the loop's thread, the coroutine could never set the event and the write
    would report that it waited in vain; no timing is measured.
    """
    store = await SqliteStore.open(tmp_path / "a.db")
    coroutine_ran = threading.Event()
    threads: list[int] = []
    original = store._put_results_sync

    def write_after_the_loop_moved(results: list) -> None:  # type: ignore[type-arg]
        threads.append(threading.get_ident())
        if not coroutine_ran.wait(timeout=10):
            raise AssertionError("the event loop was blocked while SQLite wrote")
        original(results)

    store._put_results_sync = write_after_the_loop_moved  # type: ignore[method-assign]

    async def other_work() -> None:
        await asyncio.sleep(0)
        coroutine_ran.set()

    try:
        await asyncio.gather(store.put_results([make_result(n) for n in range(200)]), other_work())
        assert (await store.get_result(make_result(199).id)) is not None
    finally:
        await store.close()
    assert threads and threads[0] != threading.get_ident()


async def test_results_from_other_processes_are_seen(tmp_path: Path) -> None:
    """The worker and the API may be different processes on one file (WAL: readers see commits)."""
    path = tmp_path / "a.db"
    writer = await SqliteStore.open(path)
    reader = await SqliteStore.open(path)
    try:
        await writer.put_results([make_result(1)])
        assert await reader.get_result(make_result(1).id) is not None
    finally:
        await writer.close()
        await reader.close()
