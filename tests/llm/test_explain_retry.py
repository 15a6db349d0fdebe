"""The retry queue of deferred contexts on a real Redis: due times, one claimer per record, leases that
lapse when a claimer dies, stale claimers that cannot undo a newer schedule, and a restart."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from analyzer.keys import RedisKeys
from analyzer.runtime.explain_retry import RetryQueue

pytestmark = pytest.mark.redis


@pytest.fixture
def key(stream_key: str) -> str:
    return RedisKeys(stream_key).llm_retry


async def test_only_due_records_are_claimed(redis_client: Redis, key: str) -> None:
    queue = RetryQueue(redis_client, key, lease_s=60)
    await queue.schedule("a@1-0", 0)
    await queue.schedule("b@1-0", 30)
    [claim] = await queue.claim_due(10)
    assert claim.alarm_id == "a@1-0"
    assert await queue.claim_due(10) == []  # a is leased, b not due
    assert await queue.release(claim)
    assert list(await queue.waiting()) == ["b@1-0"]


async def test_two_consumers_never_claim_the_same_record(redis_client: Redis, key: str) -> None:
    first, second = RetryQueue(redis_client, key, lease_s=60), RetryQueue(redis_client, key, lease_s=60)
    ids = [f"high:S{n}@1-0" for n in range(40)]
    for alarm_id in ids:
        await first.schedule(alarm_id, 0)
    rounds = await asyncio.gather(*(q.claim_due(3) for q in (first, second) for _ in range(10)))
    claimed = [c.alarm_id for claims in rounds for c in claims]
    assert sorted(claimed) == sorted(ids)  # each one exactly once
    assert len(claimed) == len(set(claimed))


async def test_a_dead_claimers_records_come_due_again_and_its_late_answer_changes_nothing(
    redis_client: Redis, key: str
) -> None:
    dying = RetryQueue(redis_client, key, lease_s=0.2)
    await dying.schedule("a@1-0", 0)
    [lost] = await dying.claim_due(5)  # ... and the process dies holding it
    assert await dying.claim_due(5) == []
    await asyncio.sleep(0.3)
    restarted = RetryQueue(redis_client, key, lease_s=60)  # a new process: the set is in Redis
    [taken] = await restarted.claim_due(5)
    assert taken.alarm_id == "a@1-0" and taken.lease != lost.lease
    assert not await dying.release(lost)  # the stale claim cannot remove it
    assert not await dying.reschedule(lost, 0)
    assert await restarted.reschedule(taken, 0.1)
    await asyncio.sleep(0.15)
    [again] = await restarted.claim_due(5)
    assert again.alarm_id == "a@1-0"
    assert await restarted.release(again)
    assert await restarted.waiting() == {}


async def test_keep_existing_leaves_a_schedule_alone(redis_client: Redis, key: str) -> None:
    queue = RetryQueue(redis_client, key, lease_s=60)
    assert await queue.schedule("a@1-0", 100)
    due = (await queue.waiting())["a@1-0"]
    assert not await queue.schedule("a@1-0", 0, keep_existing=True)
    assert (await queue.waiting())["a@1-0"] == due
    assert await queue.schedule("b@1-0", 0, keep_existing=True)
    assert await queue.schedule("a@1-0", 0)  # a new deferral moves it
    assert (await queue.waiting())["a@1-0"] < due
