"""The store contract: every test runs against SQLite and against Cosmos DB (see ``conftest.store``)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest
from store_factories import at, entry_id, make_episode, make_modification, make_result

from analyzer.store import _faults
from analyzer.store._faults import SimulatedCrash
from analyzer.store.protocol import (
    AlreadyExistsError,
    ConflictError,
    EpisodeQuery,
    InvalidContinuationError,
    ModificationQuery,
    NotFoundError,
    ResolvedQuery,
    ResultQuery,
    Store,
    Versioned,
)
from schemas.anomalies import Episode
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


async def bump(store: Store, episode_id: str, **changes: Any) -> Versioned[Episode]:
    """What the pipeline does: read, change, replace with the etag; re-read on conflict."""
    for _ in range(200):
        try:
            current = await store.get_episode(episode_id)
            assert current is not None
            updated = current.item.model_copy(update={"count": current.item.count + 1, **changes})
            return await store.replace_episode(updated, current.etag)
        except ConflictError:
            await asyncio.sleep(0)
    raise AssertionError("no progress after 200 conflicts")


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
        await store.query_episodes(EpisodeQuery(limit=2, continuation=token))
    # the page size may change between pages
    rest = await store.query_results(ResultQuery(limit=10, sensor="TI-101", continuation=token))
    assert [r.id for r in rest.items] == [entry_id(n) for n in (3, 2, 1, 0)]
    assert rest.continuation is None


# -- unresolved_anomalies --------------------------------------------------------------------


async def test_create_get_and_find_episode(store: Store) -> None:
    episode = make_episode()
    created = await store.create_episode(episode)
    assert created.item == episode and created.etag
    got = await store.get_episode(episode.id)
    assert got is not None and got.item == episode and got.etag == created.etag
    found = await store.find_open_episode(episode.condition_key)
    assert found is not None and found.item.id == episode.id and found.etag == created.etag
    assert await store.find_open_episode("heuristic:TI-999:high") is None
    assert await store.get_episode("nope") is None
    with pytest.raises(AlreadyExistsError):
        await store.create_episode(episode)


async def test_replace_checks_the_etag(store: Store) -> None:
    created = await store.create_episode(make_episode())
    first = await store.get_episode(created.item.id)
    second = await store.get_episode(created.item.id)
    assert first is not None and second is not None
    updated = await store.replace_episode(first.item.model_copy(update={"count": 2}), first.etag)
    assert updated.etag != first.etag
    with pytest.raises(ConflictError):
        await store.replace_episode(second.item.model_copy(update={"count": 7}), second.etag)
    current = await store.get_episode(created.item.id)
    assert current is not None and current.item.count == 2 and current.etag == updated.etag
    with pytest.raises(NotFoundError):
        await store.replace_episode(make_episode("heuristic:XX-1:high"), updated.etag)


async def test_concurrent_updaters_never_lose_an_increment(store: Store) -> None:
    created = await store.create_episode(make_episode())
    workers, each = 4, 6

    async def worker() -> None:
        for _ in range(each):
            await bump(store, created.item.id)

    await asyncio.gather(*(worker() for _ in range(workers)))
    final = await store.get_episode(created.item.id)
    assert final is not None and final.item.count == 1 + workers * each


async def test_severity_change_moves_the_episode_once(store: Store) -> None:
    created = await store.create_episode(make_episode(severity=Severity.MEDIUM))
    stale = created.etag
    moved = await store.replace_episode(
        created.item.model_copy(
            update={"severity_level": Severity.CRITICAL, "peak_severity": Severity.CRITICAL, "count": 2}
        ),
        created.etag,
    )
    assert moved.item.severity_level is Severity.CRITICAL
    got = await store.get_episode(created.item.id)
    assert got is not None and got.item.severity_level is Severity.CRITICAL and got.etag == moved.etag
    assert (await store.query_episodes(EpisodeQuery(severity=Severity.MEDIUM))).items == []
    assert [e.id for e in (await store.query_episodes(EpisodeQuery(severity=Severity.CRITICAL))).items] == [
        created.item.id
    ]
    assert [e.id for e in (await store.query_episodes(EpisodeQuery())).items] == [created.item.id]
    # the etag read before the move is stale after it
    with pytest.raises(ConflictError):
        await store.replace_episode(created.item.model_copy(update={"count": 9}), stale)
    # and it moves back again
    back = await store.replace_episode(moved.item.model_copy(update={"severity_level": Severity.LOW}), moved.etag)
    found = await store.find_open_episode(created.item.condition_key)
    assert found is not None and found.item.severity_level is Severity.LOW and found.etag == back.etag
    assert [e.count for e in (await store.query_episodes(EpisodeQuery())).items] == [2]


async def test_concurrent_updaters_across_severity_moves(store: Store) -> None:
    created = await store.create_episode(make_episode())
    cycle = [Severity.LOW, Severity.HIGH, Severity.MEDIUM, Severity.CRITICAL]

    async def worker(offset: int) -> None:
        for step in range(4):
            await bump(store, created.item.id, severity_level=cycle[(offset + step) % 4])

    await asyncio.gather(*(worker(i) for i in range(3)))
    final = await store.get_episode(created.item.id)
    assert final is not None and final.item.count == 1 + 3 * 4
    listed = (await store.query_episodes(EpisodeQuery())).items
    assert [(e.id, e.count) for e in listed] == [(created.item.id, 13)]


async def test_query_episodes_filters_and_pages(store: Store) -> None:
    episodes = [
        make_episode(
            f"heuristic:TI-{n:03d}:high",
            first=n,
            severity=[Severity.LOW, Severity.HIGH][n % 2],
            state="cleared" if n % 3 == 0 else "active",
        )
        for n in range(9)
    ]
    episodes.append(
        make_episode(
            "ml:TI-001+PI-201:isolation_forest",
            first=20,
            tier="ml",
            sensors=["TI-001", "PI-201"],
            severity=Severity.CRITICAL,
        )
    )
    for episode in episodes:
        await store.create_episode(episode)

    async def ids(**filters: Any) -> list[str]:
        items, _ = await collect(store.query_episodes, EpisodeQuery(limit=3, **filters))
        return [e.id for e in items]

    newest_first = [e.id for e in reversed(episodes)]
    assert await ids() == newest_first
    assert await ids(severity=Severity.HIGH) == [episodes[n].id for n in (7, 5, 3, 1)]
    assert await ids(state="cleared") == [episodes[n].id for n in (6, 3, 0)]
    assert await ids(tier="ml") == [episodes[9].id]
    assert await ids(sensor="TI-001") == [episodes[9].id, episodes[1].id]
    assert await ids(start=at(20), end=at(50)) == [episodes[n].id for n in (4, 3, 2)]


async def test_find_open_episode_survives_an_update(store: Store) -> None:
    created = await store.create_episode(make_episode())
    await bump(store, created.item.id, last_seen=at(600), state="cleared")
    found = await store.find_open_episode(created.item.condition_key)
    assert found is not None and found.item.count == 2 and found.item.state == "cleared"


# -- resolved_anomalies ----------------------------------------------------------------------


async def test_resolve_moves_the_episode(store: Store) -> None:
    created = await store.create_episode(make_episode(severity=Severity.HIGH))
    await store.create_episode(make_episode("heuristic:PI-201:low", first=3))
    resolved = await store.resolve_episode(created.item.id, "bob", "replaced the thermocouple", at(900))
    assert resolved.id == created.item.id and resolved.resolved_by == "bob"
    assert resolved.resolution_note == "replaced the thermocouple" and resolved.resolved_at == at(900)
    assert resolved.count == created.item.count and resolved.severity_level is Severity.HIGH
    assert await store.get_episode(created.item.id) is None
    assert await store.find_open_episode(created.item.condition_key) is None
    assert await store.get_resolved(created.item.id) == resolved
    assert [e.id for e in (await store.query_episodes(EpisodeQuery())).items] == ["heuristic:PI-201:low@" + entry_id(3)]
    # idempotent: resolving again returns the record, whoever asks
    assert await store.resolve_episode(created.item.id, "carol", "again", at(1000)) == resolved
    with pytest.raises(NotFoundError):
        await store.resolve_episode("nope", "bob", "", at(0))
    assert await store.get_resolved("nope") is None
    with pytest.raises(NotFoundError):
        await store.replace_episode(created.item, created.etag)


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
        episode = make_episode(f"heuristic:TI-{n:03d}:high", first=n, severity=severity)
        await store.create_episode(episode)
        await store.resolve_episode(episode.id, who, f"fixed {n}", at(1000 + 60 * n))

    async def notes(**filters: Any) -> list[str]:
        items, _ = await collect(store.query_resolved, ResolvedQuery(limit=2, **filters))
        return [r.resolution_note for r in items]

    assert await notes() == [f"fixed {n}" for n in (4, 3, 2, 1, 0)]
    assert await notes(resolved_by="bob") == ["fixed 4", "fixed 2", "fixed 0"]
    assert await notes(severity=Severity.LOW) == ["fixed 2", "fixed 1"]
    assert await notes(sensor="TI-003") == ["fixed 3"]
    assert await notes(start=at(1060), end=at(1180)) == ["fixed 2", "fixed 1"]


async def _visible(store: Store, episode_id: str) -> tuple[bool, bool]:
    """Whether readers see the episode as open, and as resolved; checked through every read path."""
    as_open = await store.get_episode(episode_id) is not None
    listed_open = episode_id in [e.id for e in (await store.query_episodes(EpisodeQuery())).items]
    as_resolved = await store.get_resolved(episode_id) is not None
    listed_resolved = episode_id in [r.id for r in (await store.query_resolved(ResolvedQuery())).items]
    assert as_open == listed_open
    assert as_resolved == listed_resolved
    return as_open, as_resolved


@pytest.mark.parametrize("point", [_faults.RESOLVE_MARKED, _faults.RESOLVE_WRITTEN])
async def test_crash_between_the_writes_of_a_resolve(store: Store, point: str) -> None:
    created = await store.create_episode(make_episode(severity=Severity.HIGH))
    store.fault_hook = crash_at(point)  # type: ignore[attr-defined]
    with pytest.raises(SimulatedCrash):
        await store.resolve_episode(created.item.id, "bob", "fixed", at(900))
    store.fault_hook = None  # type: ignore[attr-defined]

    as_open, as_resolved = await _visible(store, created.item.id)
    assert as_open != as_resolved, "exactly one of open / resolved, never both, never neither"
    # the pipeline may still update the open episode before the operator retries
    if as_open:
        await bump(store, created.item.id)
    resolved = await store.resolve_episode(created.item.id, "bob", "fixed", at(900))
    assert resolved.resolved_by == "bob" and resolved.count == (2 if as_open else 1)
    assert await _visible(store, created.item.id) == (False, True)
    assert await store.resolve_episode(created.item.id, "bob", "fixed", at(900)) == resolved


@pytest.mark.parametrize("point", [_faults.MOVE_MARKED, _faults.MOVE_CREATED])
async def test_crash_in_the_middle_of_a_severity_move(store: Store, point: str) -> None:
    created = await store.create_episode(make_episode(severity=Severity.MEDIUM))
    escalated = created.item.model_copy(update={"severity_level": Severity.CRITICAL, "count": 2})
    store.fault_hook = crash_at(point)  # type: ignore[attr-defined]
    with pytest.raises(SimulatedCrash):
        await store.replace_episode(escalated, created.etag)
    store.fault_hook = None  # type: ignore[attr-defined]

    # readers see the episode exactly once: either before the move or after it, never both
    seen = await store.get_episode(created.item.id)
    assert seen is not None and seen.item in (created.item, escalated)
    listed = (await store.query_episodes(EpisodeQuery())).items
    assert [e.id for e in listed] == [created.item.id]
    assert listed[0] == seen.item
    if seen.item == created.item:  # the old state: the worker's retry completes the move
        await store.replace_episode(escalated, seen.etag)
    final = await bump(store, created.item.id)
    assert final.item.severity_level is Severity.CRITICAL and final.item.count == 3
    assert [(e.id, e.count) for e in (await store.query_episodes(EpisodeQuery())).items] == [(created.item.id, 3)]
    assert (await store.query_episodes(EpisodeQuery(severity=Severity.MEDIUM))).items == []


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
