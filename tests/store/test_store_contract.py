"""The store contract: every test runs against SQLite and against Cosmos DB (see ``conftest.store``)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from store_factories import at, entry_id, make_alarm, make_modification, make_result, resolve

from analyzer.store import _faults
from analyzer.store._faults import SimulatedCrash
from analyzer.store.protocol import (
    AlarmQuery,
    InvalidContinuationError,
    ModificationQuery,
    ResolvedQuery,
    ResultQuery,
    Store,
)
from schemas.alarms import AlarmKind, AlarmState
from schemas.results import FinalStatus, Severity


async def collect(fetch: Any, query: Any) -> tuple[list[Any], int]:
    """Every item of a query, following continuations; also the number of pages."""
    items: list[Any] = []
    pages = 0
    while True:
        page = await fetch(query)
        pages += 1
        items.extend(page.items)
        if page.continuation is None:
            return items, pages
        assert page.items, "a page with a continuation must not be empty"
        query = query.model_copy(update={"continuation": page.continuation})
        assert pages < 100


def crash_at(point: str) -> _faults.FaultHook:
    def hook(reached: str) -> None:
        if reached == point:
            raise SimulatedCrash(point)

    return hook


# -- anomaly_results -------------------------------------------------------------------------


async def test_put_and_get_result(store: Store) -> None:
    result = make_result(1, anomalous=["TI-101"], severity=Severity.HIGH)
    await store.put_results([result, make_result(2)])
    assert await store.get_result(result.id) == result
    assert await store.get_result("0-0") is None
    await store.put_results([])


async def test_put_results_is_an_idempotent_upsert(store: Store) -> None:
    first = make_result(1, anomalous=["TI-101"], value=351.0)
    await store.put_results([first])
    replay = make_result(1, anomalous=["PI-201"], value=352.0)
    await store.put_results([replay, replay])
    assert await store.get_result(first.id) == replay
    everything, _ = await collect(store.query_results, ResultQuery())
    assert [r.id for r in everything] == [first.id]
    # the sensor index follows the new document, not the old one
    assert (await store.query_results(ResultQuery(sensor="TI-101"))).items == []
    assert [r.id for r in (await store.query_results(ResultQuery(sensor="PI-201"))).items] == [first.id]


async def test_existing_result_ids(store: Store) -> None:
    await store.put_results([make_result(n) for n in range(0, 40, 2)])
    asked = [entry_id(n) for n in range(500)]
    assert await store.existing_result_ids(asked) == {entry_id(n) for n in range(0, 40, 2)}
    assert await store.existing_result_ids([]) == set()
    assert await store.existing_result_ids(["nope-1", entry_id(2), entry_id(2)]) == {entry_id(2)}


async def test_query_results_pages_newest_first_without_gaps(store: Store) -> None:
    results = [make_result(n) for n in range(23)]
    await store.put_results(results)
    items, pages = await collect(store.query_results, ResultQuery(limit=5))
    assert pages == 5
    assert [r.id for r in items] == [r.id for r in reversed(results)]


async def test_query_results_filters(store: Store) -> None:
    results = [
        make_result(0),
        make_result(1, anomalous=["TI-101"], severity=Severity.HIGH),
        make_result(2, anomalous=["TI-101", "PI-201"], severity=Severity.CRITICAL),
        make_result(3, anomalous=["PI-201"], severity=Severity.LOW),
        make_result(4),
        make_result(8640 * 2, anomalous=["TI-101"], severity=Severity.HIGH),  # two days later
    ]
    await store.put_results(results)

    async def ids(**filters: Any) -> list[str]:
        items, _ = await collect(store.query_results, ResultQuery(limit=2, **filters))
        return [r.id for r in items]

    e = entry_id
    assert await ids(sensor="TI-101") == [e(8640 * 2), e(2), e(1)]
    assert await ids(sensor="PI-201") == [e(3), e(2)]
    assert await ids(severity=Severity.HIGH) == [e(8640 * 2), e(1)]
    assert await ids(status=FinalStatus.NORMAL) == [e(4), e(0)]
    # half-open time range: start <= timestamp < end
    assert await ids(start=at(10), end=at(40)) == [e(3), e(2), e(1)]
    assert await ids(start=at(10), end=at(40), sensor="TI-101", status=FinalStatus.ANOMALY) == [e(2), e(1)]
    assert await ids(start=at(3600)) == [e(8640 * 2)]
    assert await ids(sensor="FI-999") == []


async def test_continuation_tokens_are_checked(store: Store) -> None:
    await store.put_results([make_result(n, anomalous=["TI-101"]) for n in range(6)])
    page = await store.query_results(ResultQuery(limit=2, sensor="TI-101"))
    token = page.continuation
    assert token is not None
    # a token replays to the same next page
    again = await store.query_results(ResultQuery(limit=2, sensor="TI-101", continuation=token))
    assert [r.id for r in again.items] == [entry_id(3), entry_id(2)]

    flipped = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    _, _, mac = token.partition(".")
    forged = base64.urlsafe_b64encode(b'{"q":"x","p":null}').decode().rstrip("=") + "." + mac
    for bad in (flipped, "garbage", "", "a.b", token + "x", forged):
        with pytest.raises(InvalidContinuationError):
            await store.query_results(ResultQuery(limit=2, sensor="TI-101", continuation=bad))
    # a token is tied to the filters it was issued for
    with pytest.raises(InvalidContinuationError):
        await store.query_results(ResultQuery(limit=2, sensor="PI-201", continuation=token))
    with pytest.raises(InvalidContinuationError):
        await store.query_alarms(AlarmQuery(limit=2, continuation=token))
    # the page size may change between pages
    rest = await store.query_results(ResultQuery(limit=10, sensor="TI-101", continuation=token))
    assert [r.id for r in rest.items] == [entry_id(n) for n in (3, 2, 1, 0)]
    assert rest.continuation is None


# -- unresolved_anomalies --------------------------------------------------------------------


async def test_put_and_get_alarm(store: Store) -> None:
    record = make_alarm()
    await store.put_alarms([record])
    assert await store.get_alarm(record.id) == record
    assert await store.get_alarm(record.id, Severity.MEDIUM) == record  # a point read by its priority
    assert await store.get_alarm("high:TI-999@1-0") is None
    assert await store.get_alarm("high:TI-999@1-0", Severity.LOW) is None


async def test_put_alarms_keeps_the_newest_revision(store: Store) -> None:
    """Writers race (the worker's projection, an operator's action): a late, older revision never
    rolls the record back."""
    record = make_alarm()
    await store.put_alarms([record.model_copy(update={"revision": 3, "count": 30})])
    await store.put_alarms([record.model_copy(update={"revision": 2, "count": 20})])
    await store.put_alarms([record.model_copy(update={"revision": 3, "count": 99})])  # same revision: kept
    stored = await store.get_alarm(record.id)
    assert stored is not None and (stored.revision, stored.count) == (3, 30)
    await store.put_alarms([record.model_copy(update={"revision": 4, "count": 40})])
    stored = await store.get_alarm(record.id)
    assert stored is not None and (stored.revision, stored.count) == (4, 40)


async def test_concurrent_writers_end_on_the_highest_revision(store: Store) -> None:
    record = make_alarm()
    revisions = list(range(1, 41))
    await asyncio.gather(
        *(store.put_alarms([record.model_copy(update={"revision": r, "count": r})]) for r in reversed(revisions))
    )
    stored = await store.get_alarm(record.id)
    assert stored is not None and (stored.revision, stored.count) == (40, 40)
    assert [a.id for a in (await store.query_alarms(AlarmQuery())).items] == [record.id]


async def test_query_alarms_filters_and_pages(store: Store) -> None:
    records = [
        make_alarm(
            f"{'high' if n % 3 else 'zscore'}:TI-{n:03d}",
            first=n,
            severity=Severity.HIGH if n % 2 else Severity.LOW,
            last_seen=at(10 * n),
            state=AlarmState.UNACK_RTN if n % 3 == 0 else AlarmState.UNACK_ACTIVE,
        )
        for n in range(9)
    ]
    records.append(make_alarm("forest:plant", first=9, sensors=["TI-001", "FI-102"], severity=Severity.LOW))
    await store.put_alarms(records)

    async def ids(**filters: Any) -> list[str]:
        items, _ = await collect(store.query_alarms, AlarmQuery(limit=3, **filters))
        return [a.id for a in items]

    assert await ids() == [r.id for r in reversed(records)]
    assert await ids(severity=Severity.HIGH) == [records[n].id for n in (7, 5, 3, 1)]
    assert await ids(state=AlarmState.UNACK_RTN) == [records[n].id for n in (6, 3, 0)]
    assert await ids(kind=AlarmKind.ZSCORE) == [records[n].id for n in (6, 3, 0)]
    assert await ids(tier="ml") == [records[9].id]
    assert await ids(sensor="TI-001") == [records[9].id, records[1].id]
    assert await ids(start=at(20), end=at(50)) == [records[n].id for n in (4, 3, 2)]


async def test_close_and_reopen_an_alarm(store: Store) -> None:
    record = make_alarm(severity=Severity.HIGH)
    other = make_alarm("low:PI-201", first=3)
    await store.put_alarms([record, other])
    resolved = resolve(record)
    await store.close_alarm(resolved)
    assert await store.get_alarm(record.id) is None
    assert await store.get_resolved(record.id) == resolved
    assert [a.id for a in (await store.query_alarms(AlarmQuery())).items] == [other.id]
    await store.close_alarm(resolved)  # idempotent
    assert await store.get_resolved(record.id) == resolved
    # A late projection of the open record (a worker that committed before the resolve) does not
    # bring it back.
    await store.put_alarms([record.model_copy(update={"revision": 5})])
    assert await store.get_alarm(record.id) is None
    assert await store.get_resolved("nope") is None

    reopened = record.model_copy(update={"revision": 7, "state": AlarmState.UNACK_RTN})
    await store.reopen_alarm(reopened, resolved.resolved_by)
    assert await store.get_alarm(record.id) == reopened
    assert await store.get_resolved(record.id) is None


async def test_query_resolved(store: Store) -> None:
    for n, (who, severity) in enumerate(
        [
            ("bob", Severity.HIGH),
            ("alice", Severity.LOW),
            ("bob", Severity.LOW),
            ("alice", Severity.CRITICAL),
            ("bob", Severity.HIGH),
        ]
    ):
        record = make_alarm(f"high:TI-{n:03d}", first=n, severity=severity)
        await store.put_alarms([record])
        await store.close_alarm(resolve(record, who, f"fixed {n}", 1000 + 60 * n))

    async def notes(**filters: Any) -> list[str]:
        items, _ = await collect(store.query_resolved, ResolvedQuery(limit=2, **filters))
        return [r.resolution_note for r in items]

    assert await notes() == [f"fixed {n}" for n in (4, 3, 2, 1, 0)]
    assert await notes(resolved_by="bob") == ["fixed 4", "fixed 2", "fixed 0"]
    assert await notes(severity=Severity.LOW) == ["fixed 2", "fixed 1"]
    assert await notes(sensor="TI-003") == ["fixed 3"]
    assert await notes(start=at(1060), end=at(1180)) == ["fixed 2", "fixed 1"]


async def test_a_crash_between_the_writes_of_a_close_is_completed_by_repeating_it(store: Store) -> None:
    record = make_alarm(severity=Severity.HIGH)
    await store.put_alarms([record])
    store.fault_hook = crash_at(_faults.RESOLVE_WRITTEN)  # type: ignore[attr-defined]
    with pytest.raises(SimulatedCrash):
        await store.close_alarm(resolve(record))
    store.fault_hook = None  # type: ignore[attr-defined]
    # SQLite rolled the transaction back (still open); Cosmos holds both until the close is repeated.
    assert await store.get_alarm(record.id) is not None or await store.get_resolved(record.id) is not None
    await store.close_alarm(resolve(record))
    assert await store.get_alarm(record.id) is None
    assert await store.get_resolved(record.id) == resolve(record)
    assert [a.id for a in (await store.query_alarms(AlarmQuery())).items] == []


# -- modified_values -------------------------------------------------------------------------


async def test_modifications(store: Store) -> None:
    records = [
        make_modification(n, by="alice" if n % 2 else "bob", sensor="TI-101" if n < 4 else "PI-201", result=n // 3)
        for n in range(7)
    ]
    for record in records:
        await store.put_modification(record)
    await store.put_modification(records[0])  # idempotent

    async def ids(**filters: Any) -> list[str]:
        items, _ = await collect(store.query_modifications, ModificationQuery(limit=2, **filters))
        return [m.id for m in items]

    assert await ids() == [r.id for r in reversed(records)]
    assert await ids(modified_by="alice") == ["mod-0005", "mod-0003", "mod-0001"]
    assert await ids(sensor="PI-201") == ["mod-0006", "mod-0005", "mod-0004"]
    assert await ids(result_id=entry_id(1)) == ["mod-0005", "mod-0004", "mod-0003"]
    assert await ids(start=at(60), end=at(180)) == ["mod-0002", "mod-0001"]
    first = (await store.query_modifications(ModificationQuery(modified_by="bob", limit=1))).items[0]
    assert first == records[6]


async def test_ping(store: Store) -> None:
    await store.ping()
