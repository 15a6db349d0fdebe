"""The sweep against a real Redis and SQLite: what it analyses, what it leaves alone, and its lock."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from analyzer.analysis.pipeline import BatchOutcome
from analyzer.runtime.services import Services, open_services
from analyzer.runtime.sweep import sweep
from analyzer.settings import Settings
from tests.integration.helpers import INDEX, all_results
from tests.utils.payloads import normal_payload


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(settings, statistical=False)
    yield opened
    await opened.close()


async def _add(redis: Redis, stream: str, age_s: float, seq: int, fields: Mapping[str, str] | None = None) -> str:
    ms = int(time.time() * 1000 - age_s * 1000)
    if fields is None:
        fields = {"payload": json.dumps(normal_payload(INDEX, datetime.fromtimestamp(ms / 1000, UTC)))}
    return str(await redis.xadd(stream, dict(fields), id=f"{ms}-{seq}"))


def _record_order(services: Services) -> list[str]:
    seen: list[str] = []
    original = services.pipeline.analyze_entries

    async def recording(entries: Sequence[tuple[str, Mapping[str, str]]], **options: bool) -> BatchOutcome:
        seen.extend(i for i, _ in entries)
        return await original(entries, **options)

    services.pipeline.analyze_entries = recording  # type: ignore[method-assign]
    return seen


async def test_the_sweep_analyses_what_has_no_result_oldest_first(
    services: Services, redis_client: Redis, stream_key: str
) -> None:
    """The trigger analysed a few entries (which folds the stream up to them, in order); the sweep
    analyses the rest older than its grace period, dead-letters what cannot be analysed, and leaves
    the young entries to the trigger."""
    old = [await _add(redis_client, stream_key, 600 - n, n) for n in range(10)]
    malformed = await _add(redis_client, stream_key, 300, 0, {"payload": "{broken"})
    young = [await _add(redis_client, stream_key, 5 - n, n) for n in range(2)]
    by_id = dict(await redis_client.xrange(stream_key))
    delivered = [old[4]]
    first = await services.pipeline.analyze_entries([(i, by_id[i]) for i in delivered])
    assert [r.id for r in first.results] == [old[4]]
    assert {r.id for r in await all_results(services.store)} == set(old[:5])  # folded in stream order
    seen = _record_order(services)

    outcome = await sweep(redis_client, services.keys, services.store, services.pipeline, grace_s=60, chunk=3)

    assert (outcome.scanned, outcome.analysed, outcome.already_done, outcome.dead_lettered) == (11, 5, 5, 1)
    assert seen == [*old[5:], malformed]  # oldest first, nothing twice
    stored = {r.id for r in await all_results(services.store)}
    assert stored == set(old)
    assert not stored & {malformed, *young}
    records = [r for _, r in await redis_client.xrange(f"{stream_key}:dead")]
    assert [r["entry_id"] for r in records] == [malformed]
    assert "not valid JSON" in records[0]["reason"] and records[0]["payload"] == "{broken"
    assert not await redis_client.exists(f"{stream_key}:sweep:lock")

    # A second sweep finds everything done; with no grace it takes the young entries too.
    again = await sweep(redis_client, services.keys, services.store, services.pipeline, grace_s=60)
    assert (again.scanned, again.analysed, again.already_done, again.dead_lettered) == (11, 0, 11, 0)
    last = await sweep(redis_client, services.keys, services.store, services.pipeline, grace_s=0)
    assert (last.scanned, last.analysed, last.already_done, last.dead_lettered) == (13, 2, 11, 0)
    assert {r.id for r in await all_results(services.store)} == stored | set(young)


async def test_a_concurrent_second_sweep_does_nothing(services: Services, redis_client: Redis, stream_key: str) -> None:
    ids = [await _add(redis_client, stream_key, 600 - n, n) for n in range(4)]
    entered, release = asyncio.Event(), asyncio.Event()
    original = services.pipeline.analyze_entries

    async def slow(entries: Sequence[tuple[str, Mapping[str, str]]], **options: bool) -> BatchOutcome:
        entered.set()
        await release.wait()
        return await original(entries, **options)

    services.pipeline.analyze_entries = slow  # type: ignore[method-assign]
    first = asyncio.create_task(sweep(redis_client, services.keys, services.store, services.pipeline, grace_s=60))
    await asyncio.wait_for(entered.wait(), 10)
    assert await redis_client.exists(f"{stream_key}:sweep:lock") == 1
    second = await sweep(redis_client, services.keys, services.store, services.pipeline, grace_s=60)
    assert (second.scanned, second.analysed, second.already_done, second.dead_lettered) == (0, 0, 0, 0)
    release.set()
    outcome = await asyncio.wait_for(first, 10)
    assert (outcome.scanned, outcome.analysed) == (4, 4)
    assert {r.id for r in await all_results(services.store)} == set(ids)
    assert not await redis_client.exists(f"{stream_key}:sweep:lock")
