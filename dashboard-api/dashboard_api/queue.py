"""The anomaly queue: open alarm records filtered, sorted and paged.

The store pages open records by their last reading only; a queue is sorted by what an operator
asks for (newest opened, most severe, most readings). Open records are few (a plant with a few
hundred open anomalies is in trouble already), so the queue reads every open record matching the
store's own filters (severity, ISA state, tier, sensor, last seen since), applies the rest here,
sorts and pages by keyset: a continuation names the last item's sort key, so the next page starts
right after it even when records were resolved or opened in between (none is shown twice).

The continuation is opaque to clients: base64 of the position and a fingerprint of the query, with a
checksum. A token from another query, or an edited one, is refused (400), never misread.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson

from analyzer.store._paging import to_micros
from analyzer.store.protocol import AlarmQuery, InvalidContinuationError, Store
from dashboard_api.mapping import anomaly_state
from schemas.alarms import AlarmRecord, AlarmState, Tier
from schemas.public import AnomalyState
from schemas.results import Severity

log = logging.getLogger(__name__)


class AnomalySort(StrEnum):
    """The queue's order: a field, ascending, or descending with a leading ``-``. Ties go newest
    opened first. ``severity`` orders low < medium < high < critical."""

    OPENED_AT_DESC = "-opened_at"
    OPENED_AT = "opened_at"
    LAST_SEEN_DESC = "-last_seen"
    LAST_SEEN = "last_seen"
    SEVERITY_DESC = "-severity"
    SEVERITY = "severity"
    COUNT_DESC = "-count"
    COUNT = "count"


@dataclass(frozen=True)
class QueueQuery:
    severity: Severity | None = None
    sensor: str | None = None
    tier: Tier | None = None
    state: AnomalyState | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: AnomalySort = AnomalySort.OPENED_AT_DESC
    limit: int = 100
    continuation: str | None = None

    def fingerprint(self) -> str:
        """What a continuation must have been issued for: every filter and the order."""
        parts = [
            self.severity,
            self.sensor,
            self.tier,
            self.state,
            self.since and to_micros(self.since),
            self.until and to_micros(self.until),
            self.sort,
        ]
        return hashlib.sha256(orjson.dumps([str(p) if p is not None else None for p in parts])).hexdigest()[:16]


@dataclass(frozen=True)
class QueuePage:
    items: list[AlarmRecord]
    continuation: str | None
    #: More open records matched than the queue reads; the oldest by last reading were left out.
    truncated: bool


SortKey = tuple[int, int, str]


def sort_key(record: AlarmRecord, sort: AnomalySort) -> SortKey:
    """A key whose ascending order is the queue's order: (primary, newest opened first, id)."""
    field = sort.value.removeprefix("-")
    value: int
    if field == "opened_at":
        value = to_micros(record.opened_at)
    elif field == "last_seen":
        value = to_micros(record.last_seen)
    elif field == "severity":
        value = record.severity_level.rank
    else:
        value = record.count
    if sort.value.startswith("-"):
        value = -value
    return value, -to_micros(record.opened_at), record.id


def encode(query: QueueQuery, last: SortKey) -> str:
    body = orjson.dumps({"v": 1, "q": query.fingerprint(), "k": list(last)})
    check = hashlib.sha256(body).hexdigest()[:12]
    return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + check


def decode(query: QueueQuery, token: str) -> SortKey:
    invalid = InvalidContinuationError("the anomaly queue's continuation token is not valid for this query")
    encoded, _, check = token.partition(".")
    try:
        body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        data: Any = orjson.loads(body)
    except (ValueError, orjson.JSONDecodeError):
        raise invalid from None
    if hashlib.sha256(body).hexdigest()[:12] != check or not isinstance(data, dict):
        raise invalid
    key = data.get("k")
    if data.get("v") != 1 or data.get("q") != query.fingerprint():
        raise invalid
    if (
        not isinstance(key, list)
        or len(key) != 3
        or not isinstance(key[0], int)
        or not isinstance(key[1], int)
        or not isinstance(key[2], str)
    ):
        raise invalid
    return key[0], key[1], key[2]


def _matches(record: AlarmRecord, query: QueueQuery) -> bool:
    if query.until is not None and record.opened_at >= query.until:
        return False
    return query.state is None or anomaly_state(record) == query.state


async def read_open(store: Store, query: QueueQuery, max_scan: int) -> tuple[list[AlarmRecord], bool]:
    """Every open record matching the query (at most ``max_scan`` read), unsorted."""
    isa = {s.value for s in AlarmState}
    state = AlarmState(query.state.value) if query.state is not None and query.state.value in isa else None
    found: list[AlarmRecord] = []
    continuation = None
    read = 0
    while True:
        page = await store.query_alarms(
            AlarmQuery(
                severity=query.severity,
                state=state,
                tier=query.tier,
                sensor=query.sensor,
                start=query.since,
                limit=min(1000, max_scan - read),
                continuation=continuation,
            )
        )
        read += len(page.items)
        found += [record for record in page.items if _matches(record, query)]
        continuation = page.continuation
        if continuation is None:
            return found, False
        if read >= max_scan:
            log.warning("the anomaly queue read %d open anomalies, its limit; older ones are left out", read)
            return found, True


def page_of(records: Sequence[AlarmRecord], query: QueueQuery) -> tuple[list[AlarmRecord], str | None]:
    """One page of ``records`` in the query's order, after its continuation."""
    keyed = sorted(((sort_key(r, query.sort), r) for r in records), key=lambda pair: pair[0])
    start = 0
    if query.continuation is not None:
        last = decode(query, query.continuation)
        start = bisect.bisect_right([key for key, _ in keyed], last)
    chosen = keyed[start : start + query.limit]
    more = start + query.limit < len(keyed)
    return [record for _, record in chosen], encode(query, chosen[-1][0]) if more and chosen else None


async def queue_page(store: Store, query: QueueQuery, max_scan: int) -> QueuePage:
    if query.continuation is not None:
        decode(query, query.continuation)  # a bad token is refused before any read
    records, truncated = await read_open(store, query, max_scan)
    items, continuation = page_of(records, query)
    return QueuePage(items, continuation, truncated)
