"""Helpers for the integration and end-to-end tests: landing, draining, reading the store back,
and store wrappers that fail or stall on purpose."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from analyzer.keys import CONSUMER_GROUP
from analyzer.runtime.consumer import StreamConsumer
from analyzer.runtime.landing import Lander
from analyzer.store.protocol import AlarmQuery, ResolvedQuery, ResultQuery, Store
from schemas.alarms import AlarmRecord, ResolvedAlarm
from schemas.results import AnalysisResult
from tests.utils.payloads import normal_payload, plant_index

INDEX = plant_index()
#: A sensor with a High-High limit; ``BREACH`` puts it past High-High (and High), inside its instrument
#: range: alarms ``high_high:<it>`` and ``high:<it>``.
BREACHING = next(n for n in INDEX.names if INDEX.spec(n).high_high is not None)
BREACH = float(INDEX.spec(BREACHING).high_high) + 1.0  # type: ignore[arg-type]
BREACH_KEY = f"high_high:{BREACHING}"


def payloads(n: int, *, breach: Callable[[int], bool] = lambda _: False, end: datetime | None = None) -> list[dict]:
    """``n`` normal payloads 10 s apart ending ``end`` (default: a second ago); ``breach(i)`` puts payload i
    of them above ``BREACHING``'s High-High limit."""
    end = end or datetime.now(UTC) - timedelta(seconds=1)
    start = end - timedelta(seconds=10 * (n - 1))
    return [
        normal_payload(INDEX, start + timedelta(seconds=10 * i), **({BREACHING: BREACH} if breach(i) else {}))
        for i in range(n)
    ]


async def land(lander: Lander, documents: Sequence[dict]) -> list[str]:
    ids: list[str] = []
    for first in range(0, len(documents), 500):
        ids += await lander.land_documents(documents[first : first + 500])
    return ids


async def drain(worker: StreamConsumer) -> None:
    """Read new entries until the stream has none left for the group."""
    while await worker.read_once():
        pass


async def group_info(redis: Redis, stream: str, group: str = CONSUMER_GROUP) -> dict[str, Any]:
    [info] = [g for g in await redis.xinfo_groups(stream) if g["name"] == group]
    return dict(info)


async def wait_until(condition: Callable[[], Awaitable[bool]], *, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(0.02)


async def group_is_done(redis: Redis, stream: str) -> bool:
    """Lag 0 (every entry delivered) and nothing pending (every delivery acknowledged)."""
    groups = [g for g in await redis.xinfo_groups(stream) if g["name"] == CONSUMER_GROUP]
    if not groups:
        return False
    info = groups[0]
    return info["lag"] == 0 and info["pending"] == 0


async def all_results(store: Store) -> list[AnalysisResult]:
    page = await store.query_results(ResultQuery(limit=1000))
    items = list(page.items)
    while page.continuation:
        page = await store.query_results(ResultQuery(limit=1000, continuation=page.continuation))
        items += page.items
    return items


async def all_alarms(store: Store) -> list[AlarmRecord]:
    page = await store.query_alarms(AlarmQuery(limit=1000))
    items = list(page.items)
    while page.continuation:
        page = await store.query_alarms(AlarmQuery(limit=1000, continuation=page.continuation))
        items += page.items
    return items


async def all_resolved(store: Store) -> list[ResolvedAlarm]:
    page = await store.query_resolved(ResolvedQuery(limit=1000))
    items = list(page.items)
    while page.continuation:
        page = await store.query_resolved(ResolvedQuery(limit=1000, continuation=page.continuation))
        items += page.items
    return items


class StoreWrapper:
    """Delegates to a real store; subclasses hook ``put_results``."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def put_results(self, results: Sequence[AnalysisResult]) -> None:
        await self.inner.put_results(results)


class PoisonStore(StoreWrapper):
    """``put_results`` raises whenever the batch holds one of ``poison`` (or always, with ``poison=None``)."""

    def __init__(self, inner: Store, poison: set[str] | None) -> None:
        super().__init__(inner)
        self.poison = poison
        self.attempts = 0

    async def put_results(self, results: Sequence[AnalysisResult]) -> None:
        if self.poison is None or any(r.id in self.poison for r in results):
            self.attempts += 1
            raise RuntimeError("store refused the batch (test)")
        await self.inner.put_results(results)
