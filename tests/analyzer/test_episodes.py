"""Anomaly episodes against a real Redis and the SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from analyzer.alarms.episodes import EpisodeTracker
from analyzer.analysis.decision import Assessment, decide
from analyzer.catalog.index import SensorIndex
from analyzer.keys import RedisKeys
from analyzer.reading import to_reading
from analyzer.store.protocol import EpisodeQuery, Store
from analyzer.store.sqlite import SqliteStore
from analyzer.tiers.heuristic import HeuristicTier
from schemas.results import Severity
from tests.utils.payloads import small_catalog

INDEX = SensorIndex.from_catalog(small_catalog())
T0 = datetime(2026, 11, 23, 8, tzinfo=UTC)


def assess(n: int, ti: float, seq: int = 0) -> Assessment:
    """The assessment of reading ``n`` (10 s apart, entry id ``{1000+n}-{seq}``) with TI-1 = ``ti``."""
    moment = T0 + timedelta(seconds=10 * n)
    reading = to_reading({"timestamp": moment.isoformat(), "TI-1": ti}, f"{1000 + n}-{seq}", INDEX)
    [outcome] = HeuristicTier(INDEX).evaluate([reading])
    return decide(reading, outcome, INDEX)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await SqliteStore.open(tmp_path / "s.db")
    yield opened
    await opened.close()


@pytest.fixture
def tracker(store: Store, redis_client: Redis, stream_key: str) -> EpisodeTracker:
    return EpisodeTracker(store, redis_client, RedisKeys(stream_key))


async def open_episodes(store: Store) -> list:  # type: ignore[type-arg]
    return (await store.query_episodes(EpisodeQuery())).items


async def events(redis_client: Redis, stream_key: str) -> list[tuple[str, str]]:
    return [(f["kind"], f["severity"]) for _, f in await redis_client.xrange(f"{stream_key}:episode-events")]


async def test_a_long_breach_is_one_episode_updated_by_each_reading(
    tracker: EpisodeTracker, store: Store, redis_client: Redis, stream_key: str
) -> None:
    await tracker.apply([assess(0, 95.0), assess(1, 97.0)])
    await tracker.apply([assess(2, 96.0), assess(3, 92.0)])
    [episode] = await open_episodes(store)
    assert episode.id == "heuristic:TI-1:high@1000-0"
    assert episode.count == 4
    assert episode.peak_value == 97.0
    assert episode.last_value == 92.0
    assert episode.last_seen == T0 + timedelta(seconds=30)
    assert episode.severity_level is Severity.HIGH
    assert episode.state == "active"
    assert await events(redis_client, stream_key) == [("opened", "high")]


async def test_escalation_updates_the_same_episode_and_is_announced(
    tracker: EpisodeTracker, store: Store, redis_client: Redis, stream_key: str
) -> None:
    await tracker.apply([assess(0, 95.0)])
    await tracker.apply([assess(1, 101.0)])
    [episode] = await open_episodes(store)
    assert (episode.alarm_type, episode.severity_level, episode.peak_severity) == (
        "High-High",
        Severity.CRITICAL,
        Severity.CRITICAL,
    )
    await tracker.apply([assess(2, 95.0)])
    [episode] = await open_episodes(store)
    assert (episode.severity_level, episode.peak_severity, episode.count) == (Severity.HIGH, Severity.CRITICAL, 3)
    assert await events(redis_client, stream_key) == [("opened", "high"), ("escalated", "critical")]


async def test_return_to_normal_clears_and_a_recurrence_reactivates(tracker: EpisodeTracker, store: Store) -> None:
    await tracker.apply([assess(0, 95.0), assess(1, 50.0)])
    [episode] = await open_episodes(store)
    assert (episode.state, episode.cleared_at) == ("cleared", T0 + timedelta(seconds=10))
    await tracker.apply([assess(2, 50.0)])  # still normal: nothing to write
    await tracker.apply([assess(3, 93.0)])
    [episode] = await open_episodes(store)
    assert (episode.state, episode.cleared_at, episode.recurrences, episode.count) == ("active", None, 1, 2)


async def test_a_replayed_entry_is_not_counted_twice(tracker: EpisodeTracker, store: Store) -> None:
    batch = [assess(0, 95.0), assess(1, 96.0)]
    await tracker.apply(batch)
    await tracker.apply(batch)
    await tracker.apply([batch[1]])
    [episode] = await open_episodes(store)
    assert episode.count == 2


async def test_after_resolution_the_next_occurrence_opens_a_new_episode(tracker: EpisodeTracker, store: Store) -> None:
    await tracker.apply([assess(0, 95.0)])
    [episode] = await open_episodes(store)
    resolved = await store.resolve_episode(episode.id, "operator-1", "valve reset", T0 + timedelta(minutes=5))
    await tracker.forget_resolved(resolved)
    await tracker.apply([assess(40, 96.0)])
    [reopened] = await open_episodes(store)
    assert reopened.id == "heuristic:TI-1:high@1040-0"
    assert reopened.count == 1


async def test_an_index_left_pointing_at_a_resolved_episode_heals(tracker: EpisodeTracker, store: Store) -> None:
    await tracker.apply([assess(0, 95.0)])
    [episode] = await open_episodes(store)
    await store.resolve_episode(episode.id, "operator-1", "", T0 + timedelta(minutes=5))  # crash before forget
    await tracker.apply([assess(40, 96.0)])
    [reopened] = await open_episodes(store)
    assert reopened.id != episode.id and reopened.count == 1


async def test_two_replicas_on_one_condition_share_one_episode_and_lose_no_count(
    store: Store, redis_url: str, stream_key: str
) -> None:
    clients = [Redis.from_url(redis_url, decode_responses=True) for _ in range(2)]
    try:
        trackers = [EpisodeTracker(store, c, RedisKeys(stream_key)) for c in clients]
        batches = [[assess(2 * i + r, 95.0 + i % 3) for i in range(5)] for r in range(2)]
        for round_ in range(5):
            await asyncio.gather(*(t.apply([b[round_]]) for t, b in zip(trackers, batches, strict=True)))
        [episode] = await open_episodes(store)
        assert episode.count == 10
    finally:
        for client in clients:
            await client.aclose()
