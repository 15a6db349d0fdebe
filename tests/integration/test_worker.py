"""The local stream worker against a real Redis and a SQLite store: consumer-group sharing,
dead letters, repeated failures, a worker killed with SIGKILL mid-batch, and a clean stop."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from analyzer.keys import CONSUMER_GROUP
from analyzer.runtime.consumer import ensure_group
from analyzer.runtime.services import Services, open_services
from analyzer.runtime.worker import ConsumerConfig, analysis_worker
from analyzer.settings import Settings
from tests.integration.helpers import (
    BREACH_KEY,
    INDEX,
    PoisonStore,
    all_alarms,
    all_results,
    drain,
    group_info,
    group_is_done,
    land,
    payloads,
    wait_until,
)
from tests.utils.payloads import normal_payload

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(settings, statistical=False)
    yield opened
    await opened.close()


async def test_two_workers_share_the_stream_without_doubling_work(settings: Settings, services: Services) -> None:
    n = 200
    breaching = {i for i in range(n) if i % 3 == 0}  # 67 readings over the High-High limit
    ids = await land(services.lander, payloads(n, breach=lambda i: i in breaching))
    other = await open_services(settings, statistical=False)  # a second process: own Redis client and store
    try:
        config = ConsumerConfig(batch_size=8, block_ms=50)
        workers = [
            analysis_worker(services.redis, services.keys, services.pipeline, config, "w1"),
            analysis_worker(other.redis, other.keys, other.pipeline, config, "w2"),
        ]
        stop = asyncio.Event()
        runs = [asyncio.create_task(w.run(stop)) for w in workers]
        await wait_until(lambda: group_is_done(services.redis, services.keys.stream), what="the group to finish")
        stop.set()
        stats = await asyncio.gather(*runs)
    finally:
        await other.close()

    assert sum(s.handled for s in stats) == n
    assert all(s.handled > 0 for s in stats), stats
    assert all(s.dead_lettered == 0 for s in stats)
    results = await all_results(services.store)
    assert sorted(r.id for r in results) == sorted(ids)
    assert sum(r.final_status.value == "anomaly" for r in results) == len(breaching)
    # Both workers folded the stream in order through the shared state: one record counts every breach
    # once, opened at the first breaching reading, whichever worker folded it.
    [record] = [a for a in await all_alarms(services.store) if a.alarm_key == BREACH_KEY]
    assert record.count == len(breaching)
    assert record.first_entry_id == ids[min(breaching)]
    assert record.opened_at == min(r.timestamp for r in results if r.final_status.value == "anomaly")
    info = await group_info(services.redis, services.keys.stream)
    assert info["pending"] == 0 and info["consumers"] == 0  # both left the group cleanly


async def test_malformed_entries_are_dead_lettered_and_the_rest_analysed(
    services: Services, redis_client: Redis, stream_key: str
) -> None:
    good = payloads(4)
    core_missing = normal_payload(INDEX)
    del core_missing["TI-101"]
    ids = [await redis_client.xadd(stream_key, {"payload": json.dumps(good[0])})]
    bad = {
        # No payload field: the record's payload holds all the entry's fields as JSON.
        await redis_client.xadd(stream_key, {"data": "x", "other": "y"}): (
            "no 'payload' field",
            '{"data":"x","other":"y"}',
        ),
        await redis_client.xadd(stream_key, {"payload": "{not json"}): ("not valid JSON", "{not json"),
    }
    ids.append(await redis_client.xadd(stream_key, {"payload": json.dumps(good[1])}))
    missing_id = await redis_client.xadd(stream_key, {"payload": json.dumps(core_missing)})
    bad[missing_id] = ("missing core sensors: TI-101", json.dumps(core_missing))
    ids += [await redis_client.xadd(stream_key, {"payload": json.dumps(p)}) for p in good[2:]]

    worker = analysis_worker(services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=3, block_ms=0))
    await ensure_group(services.redis, stream_key, CONSUMER_GROUP)
    await drain(worker)

    assert worker.stats.handled == 4 and worker.stats.dead_lettered == 3
    dead = await redis_client.xrange(f"{stream_key}:dead")
    assert [d["entry_id"] for _, d in dead] == list(bad)
    for _, record in dead:
        reason, payload = bad[record["entry_id"]]
        assert reason in record["reason"]
        assert record["payload"] == payload and record["source"] == "analyzer"
    assert set(await redis_client.zrange(f"{stream_key}:dead:ids", 0, -1)) == set(bad)
    assert sorted(r.id for r in await all_results(services.store)) == sorted(ids)
    assert await services.store.existing_result_ids(list(bad)) == set()
    assert (await group_info(redis_client, stream_key))["pending"] == 0


async def test_an_entry_that_keeps_failing_is_retried_then_dead_lettered(
    services: Services, redis_client: Redis, stream_key: str
) -> None:
    ids = await land(services.lander, payloads(10))
    poison = ids[4]
    store = PoisonStore(services.store, {poison})
    services.pipeline.store = store  # type: ignore[assignment]
    config = ConsumerConfig(batch_size=5, block_ms=20, claim_idle_ms=50, max_deliveries=3)
    worker = analysis_worker(services.redis, services.keys, services.pipeline, config, "only")
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await wait_until(lambda: group_is_done(redis_client, stream_key), what="the poison entry to be dead-lettered")
    stop.set()
    stats = await run

    assert stats.handled == 9 and stats.dead_lettered == 1
    [(_, record)] = await redis_client.xrange(f"{stream_key}:dead")
    assert record["entry_id"] == poison
    assert "failed 3 times" in record["reason"]
    assert "store refused the batch (test)" in record["reason"]  # the last error, for whoever reads it
    assert (
        orjson.loads(record["payload"])["timestamp"]
        == orjson.loads((await redis_client.xrange(stream_key, poison, poison))[0][1]["payload"])["timestamp"]
    )
    # Two attempts on each of its 3 deliveries (in its batch, then alone), none on the 4th.
    assert store.attempts == 6
    # The fold counted it like any other reading: the verdict was committed before the store failed.
    assert await redis_client.hexists(services.keys.verdicts, poison)
    assert sorted(r.id for r in await all_results(services.store)) == sorted(set(ids) - {poison})


async def test_a_replay_after_a_crash_between_fold_and_results_counts_each_breach_once(
    settings: Settings, services: Services, redis_client: Redis, stream_key: str
) -> None:
    """A consumer fails after its fold was committed (as a crash would); others go on with a long
    backlog of the same breach before its entries are claimed."""
    n = 300
    ids = await land(services.lander, payloads(n, breach=lambda _: True))
    await ensure_group(redis_client, stream_key, CONSUMER_GROUP)
    crashed = await open_services(settings, statistical=False)
    try:
        crashed.pipeline.store = PoisonStore(crashed.store, None)  # type: ignore[assignment]
        failing = analysis_worker(
            crashed.redis, crashed.keys, crashed.pipeline, ConsumerConfig(batch_size=20), "crashed"
        )
        assert await failing.read_once() == 20
    finally:
        await crashed.close()
    assert (await group_info(redis_client, stream_key))["pending"] == 20
    assert await all_alarms(services.store) == []  # the records were not written either
    assert await redis_client.scard(services.keys.alarms_dirty) == 2  # but marked for writing (High, High-High)

    survivor = analysis_worker(
        services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=64, block_ms=0, claim_idle_ms=1)
    )
    await drain(survivor)  # the backlog first: 280 more breaching readings
    await asyncio.sleep(0.01)
    assert await survivor.claim_idle() == 20

    assert await group_is_done(redis_client, stream_key)
    assert sorted(r.id for r in await all_results(services.store)) == sorted(ids)
    records = await all_alarms(services.store)
    assert sorted(r.alarm_key for r in records) == sorted([BREACH_KEY, BREACH_KEY.replace("high_high", "high")])
    assert all(r.count == n for r in records)


async def test_a_worker_killed_mid_batch_loses_nothing_and_doubles_nothing(
    settings: Settings, services: Services, redis_client: Redis, stream_key: str, redis_url: str
) -> None:
    n, batch = 120, 16
    breaching = set(range(n))
    ids = await land(services.lander, payloads(n, breach=lambda i: i in breaching))
    await ensure_group(redis_client, stream_key, CONSUMER_GROUP)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.killable_worker",
            redis_url,
            stream_key,
            str(settings.sqlite_path),
            "doomed",
            str(batch),
            "60",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(_line_starting, process.stdout, "stalling"), 20)
        _, size, first, last = line.split()
        assert int(size) == batch and first == ids[batch] and last == ids[2 * batch - 1]
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=10) == -signal.SIGKILL
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    pending = await redis_client.xpending_range(stream_key, CONSUMER_GROUP, "-", "+", 1000)
    assert {p["consumer"] for p in pending} == {"doomed"}
    assert [p["message_id"] for p in pending] == ids[batch : 2 * batch]
    assert len(await services.store.existing_result_ids(ids)) == batch  # only the first batch is durable

    config = ConsumerConfig(batch_size=batch, block_ms=20, claim_idle_ms=200)
    rescuer = analysis_worker(services.redis, services.keys, services.pipeline, config, "rescuer")
    stop = asyncio.Event()
    run = asyncio.create_task(rescuer.run(stop))
    await wait_until(lambda: group_is_done(redis_client, stream_key), what="the rescuer to finish")
    stop.set()
    stats = await run

    assert stats.claimed == batch
    assert stats.handled == n - batch
    results = await all_results(services.store)
    assert sorted(r.id for r in results) == sorted(ids)
    [record] = [a for a in await all_alarms(services.store) if a.alarm_key == BREACH_KEY]
    assert record.count == len(breaching)
    consumers = {c["name"] for c in await redis_client.xinfo_consumers(stream_key, CONSUMER_GROUP)}
    assert consumers == {"doomed"}  # holds nothing now; the rescuer left


def _line_starting(stream: object, prefix: str) -> str:
    for line in stream:  # type: ignore[attr-defined]
        if line.startswith(prefix):
            return str(line)
    raise AssertionError(f"the worker exited before printing {prefix!r}")


async def test_a_clean_stop_finishes_and_acknowledges_the_batch_then_leaves_the_group(
    services: Services, redis_client: Redis, stream_key: str
) -> None:
    ids = await land(services.lander, payloads(30))
    entered = asyncio.Event()
    release = asyncio.Event()
    original = services.pipeline.analyze_entries

    async def slow(entries, **options):  # type: ignore[no-untyped-def]
        entered.set()
        await release.wait()
        return await original(entries, **options)

    services.pipeline.analyze_entries = slow  # type: ignore[method-assign]
    worker = analysis_worker(
        services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=10, block_ms=20)
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(entered.wait(), 10)
    stop.set()  # mid-batch
    await asyncio.sleep(0.05)
    assert (await group_info(redis_client, stream_key))["pending"] == 10
    release.set()
    stats = await asyncio.wait_for(run, 10)

    assert stats.handled == 10
    info = await group_info(redis_client, stream_key)
    assert info["pending"] == 0 and info["lag"] == 20 and info["consumers"] == 0
    assert await services.store.existing_result_ids(ids) == set(ids[:10])


async def test_a_stopping_worker_that_still_holds_entries_stays_in_the_group(
    services: Services, redis_client: Redis, stream_key: str
) -> None:
    ids = await land(services.lander, payloads(6))
    services.pipeline.store = PoisonStore(services.store, {ids[2]})  # type: ignore[assignment]
    worker = analysis_worker(
        services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=6, block_ms=20), "holder"
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await wait_until(
        lambda: _pending_is(redis_client, stream_key, 1), what="the batch to be processed but for one entry"
    )
    stop.set()
    stats = await asyncio.wait_for(run, 10)
    assert stats.handled == 5 and stats.failed_batches == 1
    [pending] = await redis_client.xpending_range(stream_key, CONSUMER_GROUP, "-", "+", 10)
    assert pending["message_id"] == ids[2] and pending["consumer"] == "holder"
    consumers = {c["name"] for c in await redis_client.xinfo_consumers(stream_key, CONSUMER_GROUP)}
    assert consumers == {"holder"}  # not deleted: that would drop its pending entry


async def _pending_is(redis: Redis, stream: str, count: int) -> bool:
    if not await redis.exists(stream) or not await redis.xinfo_groups(stream):
        return False
    info = await group_info(redis, stream)
    return info["lag"] == 0 and info["pending"] == count


async def test_exhausted_entries_are_found_among_many_pending_entries_of_others(
    services: Services, redis_client: Redis, stream_key: str
) -> None:
    """Two idle, exhausted entries of a dead consumer with 100 fresh pending entries of a busy one
    between them: both are dead-lettered, whatever lies between them in the pending list."""
    ids = await land(services.lander, payloads(102))
    first, last = ids[0], ids[-1]
    await ensure_group(redis_client, stream_key, CONSUMER_GROUP)
    await redis_client.xreadgroup(CONSUMER_GROUP, "dead", {stream_key: ">"}, count=1)
    await redis_client.xreadgroup(CONSUMER_GROUP, "busy", {stream_key: ">"}, count=100)
    await redis_client.xreadgroup(CONSUMER_GROUP, "dead", {stream_key: ">"}, count=1)
    # Delivered 10 times already, idle for a minute.
    await redis_client.xclaim(stream_key, CONSUMER_GROUP, "dead", 0, [first, last], idle=60_000, retrycount=10)

    config = ConsumerConfig(batch_size=64, claim_idle_ms=30_000, max_deliveries=3)
    worker = analysis_worker(services.redis, services.keys, services.pipeline, config, "rescuer")
    assert await worker.claim_idle() == 2

    assert (worker.stats.dead_lettered, worker.stats.handled) == (2, 0)
    assert [r["entry_id"] for _, r in await redis_client.xrange(f"{stream_key}:dead")] == [first, last]
    pending = await redis_client.xpending_range(stream_key, CONSUMER_GROUP, "-", "+", 1000)
    assert len(pending) == 100 and {p["consumer"] for p in pending} == {"busy"}


async def test_entries_analysed_out_of_order_are_folded_in_stream_order(
    services: Services, redis_client: Redis, stream_key: str
) -> None:
    """The Azure sweep's pattern: later entries arrive first. The fold reads the stream and takes the
    earlier ones first, so the record starts at the first breach and the earlier call finds its
    entries analysed."""
    ids = await land(services.lander, payloads(6, breach=lambda _: True))
    entries = await redis_client.xrange(stream_key)
    later, earlier = entries[3:], entries[:3]
    first = await services.pipeline.analyze_entries(later)
    assert [r.id for r in first.results] == ids[3:]
    second = await services.pipeline.analyze_entries(earlier)
    assert [r.id for r in second.results] == ids[:3]
    record = next(a for a in await all_alarms(services.store) if a.alarm_key == BREACH_KEY)
    results = {r.id: r for r in await all_results(services.store)}
    assert record.count == 6 and record.first_entry_id == ids[0]
    assert record.opened_at == results[ids[0]].timestamp
    assert record.last_seen == results[ids[5]].timestamp
    assert all(record.id in results[i].alarm_ids for i in ids)


async def test_a_stream_deleted_under_a_blocked_reader_is_read_again_when_it_returns(
    services: Services, redis_client: Redis, stream_key: str
) -> None:
    """Deleting the stream while XREADGROUP blocks answers UNBLOCKED (Redis 7); the worker must
    recreate its group and go on, not die (seen under `make run` when the key was removed)."""
    await land(services.lander, payloads(2))
    worker = analysis_worker(
        services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=10, block_ms=2000)
    )
    stop = asyncio.Event()
    run = asyncio.create_task(worker.run(stop))
    await wait_until(lambda: group_is_done(services.redis, stream_key), what="the first entries")
    await asyncio.sleep(0.2)  # blocked in XREADGROUP now
    await redis_client.delete(stream_key)
    await asyncio.sleep(0.2)
    assert not run.done(), run.exception() if run.done() else None
    [entry_id] = await land(services.lander, payloads(1))
    await wait_until(lambda: group_is_done(services.redis, stream_key), what="the new entry")
    stop.set()
    await asyncio.wait_for(run, 10)
    assert entry_id in await services.store.existing_result_ids([entry_id])
