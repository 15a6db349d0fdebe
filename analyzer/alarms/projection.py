"""Writing alarm records to the store, where operators query them.

The live alarm (``{stream}:alarms`` in Redis) is changed only by the fold's commit and by the
operator transitions, both atomic scripts that also mark the alarm key *dirty*. Whoever made the
change then writes the record to the store (``put_alarms`` keeps the highest revision, so writers
may race) and clears the mark. A writer that crashed in between leaves the mark; :meth:`repair`
(run by every worker now and then) writes what is still dirty.

:meth:`restore` is the way back after Redis lost its data: it reloads the open records from the
store into a fresh Redis, so the queue operators work on survives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import cast

from redis.asyncio import Redis

from analyzer.alarms.codec import dump_alarm, load_alarm
from analyzer.alarms.step import Alarm, Phase
from analyzer.keys import RedisKeys
from analyzer.store.protocol import AlarmQuery, Store
from schemas.alarms import AlarmRecord, ProcessState

log = logging.getLogger(__name__)


class AlarmProjector:
    def __init__(self, store: Store, redis: Redis, keys: RedisKeys) -> None:
        self.store = store
        self.redis = redis
        self.keys = keys

    async def project_changed(self, alarm_keys: Sequence[str], records: Sequence[AlarmRecord]) -> None:
        """After a commit: write the changed records, then clear their dirty marks."""
        if records:
            await self.store.put_alarms(records)
        if alarm_keys:
            await self.redis.srem(self.keys.alarms_dirty, *alarm_keys)

    async def repair(self) -> int:
        """Write every alarm still marked dirty (a writer crashed after its commit); returns how many."""
        dirty = [_text(k) for k in cast(set[bytes | str], await self.redis.smembers(self.keys.alarms_dirty))]
        if not dirty:
            return 0
        raw = cast(list[bytes | str | None], await self.redis.hmget(self.keys.alarms, dirty))
        records = [a.record for a in (load_alarm(r) for r in raw if r is not None) if a.record is not None]
        await self.project_changed(dirty, records)
        if records:
            log.info("wrote %d alarm records left unwritten by a stopped writer", len(records))
        return len(records)

    async def restore(self) -> int:
        """Reload open records from the store when Redis holds no alarms and no fold state (it lost
        its data); returns how many were restored. A no-op on a Redis that kept its data."""
        if await self.redis.exists(self.keys.fold) or await self.redis.hlen(self.keys.alarms):
            return 0
        restored = 0
        continuation = None
        while True:
            page = await self.store.query_alarms(AlarmQuery(limit=1000, continuation=continuation))
            for record in page.items:
                alarm = alarm_of(record)
                if await self.redis.hsetnx(self.keys.alarms, alarm.key, dump_alarm(alarm)):
                    restored += 1
            continuation = page.continuation
            if continuation is None:
                break
        if restored:
            log.warning("Redis had lost its alarm state: restored %d open alarm records from the store", restored)
        return restored


def alarm_of(record: AlarmRecord) -> Alarm:
    """The live alarm of a stored record (the pending run is not stored; it restarts)."""
    alarm = Alarm(
        key=record.alarm_key,
        kind=record.kind,
        sensors=tuple(record.sensors),
        group=record.group,
        last_entry_id=record.last_entry_id,
        record=record,
    )
    phase = Phase.ACTIVE if record.process == ProcessState.ACTIVE else Phase.IDLE
    return replace(alarm, phase=phase)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
