"""Reading the alarm records (open and resolved) of a period, for the statistics and the report.

The store keeps open records by their last reading and resolved ones by their resolution time;
every record opened in ``[start, end)`` is among the open ones last seen at or after ``start`` and
the resolved ones resolved at or after ``start`` (a record is seen and resolved after it opened).
"""

from __future__ import annotations

import logging
from datetime import datetime

from analyzer.alarms.report import Durations
from analyzer.store.protocol import AlarmQuery, ResolvedQuery, Store
from schemas.alarms import AlarmRecord, ResolvedAlarm
from schemas.public import DurationsPublic

log = logging.getLogger(__name__)


async def records_since(store: Store, start: datetime, max_rows: int) -> list[AlarmRecord]:
    """Open records last seen since ``start`` and resolved records resolved since, at most ``max_rows`` of each."""
    records: list[AlarmRecord] = []
    continuation = None
    read = 0
    while read < max_rows:
        page = await store.query_alarms(
            AlarmQuery(start=start, limit=min(1000, max_rows - read), continuation=continuation)
        )
        records += page.items
        read += len(page.items)
        if (continuation := page.continuation) is None:
            break
    else:
        log.warning("statistics read %d open anomalies, the most they read; older ones are left out", read)
    continuation, read = None, 0
    while read < max_rows:
        resolved = await store.query_resolved(
            ResolvedQuery(start=start, limit=min(1000, max_rows - read), continuation=continuation)
        )
        records += resolved.items
        read += len(resolved.items)
        if (continuation := resolved.continuation) is None:
            break
    else:
        log.warning("statistics read %d resolved anomalies, the most they read; older ones are left out", read)
    return records


def opened_in(records: list[AlarmRecord], start: datetime, end: datetime) -> list[AlarmRecord]:
    return [r for r in records if start <= r.opened_at < end]


def resolved_in(records: list[AlarmRecord], start: datetime, end: datetime) -> list[ResolvedAlarm]:
    return [r for r in records if isinstance(r, ResolvedAlarm) and start <= r.resolved_at < end]


def durations_public(durations: Durations) -> DurationsPublic:
    return DurationsPublic(
        count=durations.count, mean_s=durations.mean_s, median_s=durations.median_s, p90_s=durations.p90_s
    )
