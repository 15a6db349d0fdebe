"""Operator actions on alarms against a real Redis and SQLite: the transitions, two operators at once,
an acknowledgement racing the worker, resolution and recurrence, and recovery of the records."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from redis.asyncio import Redis

from analyzer.alarms.operations import TransitionError
from analyzer.alarms.service import AlarmConflict, AlarmNotFound
from analyzer.runtime.services import Services, open_services
from analyzer.settings import Settings
from schemas.alarms import AlarmRecord, AlarmState, ResolvedAlarm, RootCause
from tests.integration.helpers import BREACH_KEY, BREACHING, all_alarms, land, payloads

pytestmark = pytest.mark.redis


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(settings, statistical=False)
    yield opened
    await opened.close()


def _resolved(record: AlarmRecord) -> ResolvedAlarm:
    return ResolvedAlarm(
        **record.model_dump(),
        resolved_by="nobody",
        resolved_at=datetime.now(UTC),
        resolution_note="-",
        root_cause=RootCause.UNKNOWN,
    )


async def _analyse(services: Services, n: int, *, breach: bool = True) -> list[str]:
    ids = await land(services.lander, payloads(n, breach=lambda _: breach))
    entries = await services.redis.xrange(services.keys.stream, min=ids[0], max=ids[-1])
    await services.pipeline.analyze_entries(entries)
    return ids


async def _record_id(services: Services) -> str:
    raw = await services.redis.hget(services.keys.alarms, BREACH_KEY)
    assert raw is not None
    return str(orjson.loads(raw)["record"]["id"])


async def test_acknowledge_shelve_resolve_and_reopen(services: Services, redis_client: Redis) -> None:
    await _analyse(services, 5)
    alarm_id = await _record_id(services)
    record = await services.alarms.acknowledge(alarm_id, by="alice", note="looking", if_match="1")
    assert record.state == AlarmState.ACK_ACTIVE and record.acknowledged_by == "alice" and record.etag == "2"
    stored = await services.store.get_alarm(alarm_id)
    assert stored == record  # written to the store at once
    again = await services.alarms.acknowledge(alarm_id, by="alice")  # the same state again: harmless
    assert again.etag == "2"

    with pytest.raises(TransitionError, match="limited to 168 h"):
        await services.alarms.shelve(alarm_id, by="alice", until=datetime.now(UTC) + timedelta(days=30), reason="x")
    shelved_record = await services.alarms.shelve(
        alarm_id, by="alice", until=datetime.now(UTC) + timedelta(hours=2), reason="waiting for maintenance"
    )
    assert shelved_record.shelf is not None and shelved_record.shelf.reason == "waiting for maintenance"

    resolved = await services.alarms.resolve(
        alarm_id, by="bob", note="replaced the transmitter", root_cause=RootCause.INSTRUMENT_FAULT
    )
    assert resolved.resolved_by == "bob" and resolved.root_cause == RootCause.INSTRUMENT_FAULT
    assert await services.store.get_alarm(alarm_id) is None
    assert await services.store.get_resolved(alarm_id) == resolved
    assert await services.redis.hget(services.keys.alarms, BREACH_KEY) is None  # the alarm is idle again
    # resolving again returns the resolved record
    assert await services.alarms.resolve(alarm_id, by="bob", note="n", root_cause=RootCause.UNKNOWN) == resolved

    reopened = await services.alarms.reopen(alarm_id, by="carol", note="it came back in the lab results")
    assert reopened.id == alarm_id and reopened.state == AlarmState.UNACK_RTN
    assert [t.action for t in reopened.history][-3:] == ["shelved", "resolved", "reopened"]
    assert await services.store.get_resolved(alarm_id) is None
    assert await services.store.get_alarm(alarm_id) == reopened
    events = [orjson.loads(f["event"])["kind"] for _, f in await redis_client.xrange(services.keys.alarm_events)]
    assert events[-4:] == ["acknowledged", "shelved", "resolved", "reopened"]
    with pytest.raises(AlarmNotFound):
        await services.alarms.acknowledge("high:NOPE@1-0", by="alice")


async def test_two_operators_at_once_exactly_one_wins(services: Services) -> None:
    await _analyse(services, 3)
    alarm_id = await _record_id(services)
    seen = (await services.alarms.get(alarm_id)).etag

    async def act(who: str) -> str:
        try:
            await services.alarms.resolve(alarm_id, by=who, note="mine", root_cause=RootCause.UNKNOWN, if_match=seen)
        except AlarmConflict as conflict:
            assert conflict.current.id == alarm_id
            return "conflict"
        except AlarmNotFound:
            return "gone"
        return "won"

    outcomes = await asyncio.gather(act("alice"), act("bob"))
    assert sorted(outcomes) in (["conflict", "won"], ["gone", "won"])
    resolved = await services.store.get_resolved(alarm_id)
    assert resolved is not None and resolved.resolved_by in {"alice", "bob"}


async def test_an_acknowledgement_racing_the_worker_loses_no_reading(services: Services) -> None:
    """The worker folds breaching readings while operators acknowledge and shelve the same record:
    every reading is counted once and the acknowledgement stays."""
    ids = await land(services.lander, payloads(200, breach=lambda _: True))
    entries = await services.redis.xrange(services.keys.stream)
    await services.pipeline.analyze_entries(entries[:2])
    alarm_id = await _record_id(services)

    async def worker() -> None:
        for first in range(2, len(entries), 3):
            await services.pipeline.analyze_entries(entries[first : first + 3])
            await asyncio.sleep(0)

    async def operator() -> None:
        await services.alarms.acknowledge(alarm_id, by="alice")
        for _ in range(20):
            await services.alarms.unshelve(alarm_id, by="alice")
            await asyncio.sleep(0)

    await asyncio.gather(worker(), operator())
    [record] = [a for a in await all_alarms(services.store) if a.alarm_key == BREACH_KEY]
    assert record.count == len(ids)
    assert record.acknowledged_by == "alice" and record.state == AlarmState.ACK_ACTIVE
    assert record.sensors == [BREACHING]


async def test_after_resolution_the_next_occurrence_is_a_new_record(services: Services) -> None:
    await _analyse(services, 3)
    first = await _record_id(services)
    await services.alarms.resolve(first, by="bob", note="done", root_cause=RootCause.PROCESS_UPSET)
    await _analyse(services, 2)
    second = await _record_id(services)
    assert second != first
    record = await services.store.get_alarm(second)
    assert record is not None and record.count == 2 and record.activations == 1


async def test_a_writer_that_stopped_after_its_commit_leaves_work_for_repair(services: Services) -> None:
    await _analyse(services, 3)
    alarm_id = await _record_id(services)
    live = await services.alarms.get(alarm_id)
    # As if the projection after a commit never ran: the store lacks the record, the key is dirty.
    await services.store.close_alarm(_resolved(live))
    await services.store.reopen_alarm(live.model_copy(update={"revision": 0}), "nobody")
    await services.redis.sadd(services.keys.alarms_dirty, BREACH_KEY)
    assert await services.projector.repair() == 1
    assert await services.store.get_alarm(alarm_id) == live
    assert await services.redis.scard(services.keys.alarms_dirty) == 0


async def test_open_records_are_restored_after_redis_lost_its_data(services: Services, redis_client: Redis) -> None:
    await _analyse(services, 3)
    alarm_id = await _record_id(services)
    await services.alarms.acknowledge(alarm_id, by="alice")
    names = [k async for k in redis_client.scan_iter(match=f"*{services.keys.stream}*")]
    await redis_client.delete(*names)  # a Redis restarted without persistence
    assert await services.projector.restore() >= 1
    restored = await services.alarms.get(alarm_id)
    assert restored.acknowledged_by == "alice"
    assert await services.projector.restore() == 0  # only into an empty Redis
    # the next readings continue the same record
    await _analyse(services, 2)
    assert (await services.alarms.get(alarm_id)).count == 5
