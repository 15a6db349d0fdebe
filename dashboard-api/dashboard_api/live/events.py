"""Server-sent events: new readings (the stream) and alarm changes (``RedisKeys.alarm_events``),
tailed together with one blocking ``XREAD`` per round.

Every event's id holds both streams' positions (``"<readings id>,<alarms id>"``), so a browser
that reconnects with ``Last-Event-ID`` resumes exactly after the last event it received, with no
gap and no repeat, for as long as those entries are still in the streams; if the position has
been trimmed away meanwhile, the stream starts with a ``reset`` event (reload, then listen on).
Each round reads at most ``batch`` entries; an idle round ends with a keep-alive comment, which
is also when a closed connection is noticed.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

import orjson
from fastapi.sse import ServerSentEvent
from redis.asyncio import Redis
from redis.exceptions import TimeoutError as RedisTimeoutError

from analyzer.keys import PAYLOAD_FIELD, RedisKeys, entry_order
from dashboard_api.mapping import alarm_event_public
from schemas.public import ReadingEventPublic, StreamResetPublic

#: Two stream ids; 19 digits keep each part below 2**64, as Redis requires.
CURSOR_PATTERN = r"^\d{1,19}-\d{1,19},\d{1,19}-\d{1,19}$"
_CURSOR = re.compile(CURSOR_PATTERN)
#: Blocked reads in a row that may time out before a stream gives up (the browser reconnects).
MAX_READ_TIMEOUTS = 3


@dataclass(frozen=True)
class Cursor:
    """Both streams' positions: the id of the last entry delivered from each.

    >>> Cursor.parse("1763884800000-0,1763884790000-3").encode()
    '1763884800000-0,1763884790000-3'
    """

    readings: str
    alarms: str

    @classmethod
    def parse(cls, text: str) -> Cursor:
        if not _CURSOR.match(text):
            raise ValueError(f"Last-Event-ID {text[:60]!r} is not '<readings id>,<alarms id>'")
        readings, alarms = text.split(",")
        return cls(readings, alarms)

    def encode(self) -> str:
        return f"{self.readings},{self.alarms}"


async def _last_id(redis: Redis, key: str) -> str:
    newest = cast(list[tuple[str, Any]], await redis.xrevrange(key, count=1))
    return newest[0][0] if newest else "0-0"


async def _trimmed_past(redis: Redis, key: str, position: str) -> bool:
    """Entries after ``position`` may have been trimmed away (it is older than the oldest kept)."""
    if position == "0-0":
        return False
    oldest = cast(list[tuple[str, Any]], await redis.xrange(key, count=1))
    return bool(oldest) and entry_order(oldest[0][0]) > entry_order(position)


@dataclass(frozen=True)
class Start:
    cursor: Cursor
    reset: StreamResetPublic | None


async def start_at(redis: Redis, keys: RedisKeys, last_event_id: str | None) -> Start:
    """Where a connection starts: after ``Last-Event-ID``, else at the streams' current ends."""
    if last_event_id is None:
        return Start(Cursor(await _last_id(redis, keys.stream), await _last_id(redis, keys.alarm_events)), None)
    cursor = Cursor.parse(last_event_id)
    lost = [
        name
        for name, key, position in (
            ("readings", keys.stream, cursor.readings),
            ("alarms", keys.alarm_events, cursor.alarms),
        )
        if await _trimmed_past(redis, key, position)
    ]
    if not lost:
        return Start(cursor, None)
    fresh = Cursor(await _last_id(redis, keys.stream), await _last_id(redis, keys.alarm_events))
    reason = f"the {' and '.join(lost)} after {last_event_id} left the window; reload and listen on"
    return Start(fresh, StreamResetPublic(reason=reason))


def _reading_event(entry_id: str, fields: dict[str, str], sensors: frozenset[str]) -> ReadingEventPublic | None:
    try:
        document = orjson.loads(fields.get(PAYLOAD_FIELD, ""))
        timestamp = datetime.fromisoformat(document["timestamp"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # the worker dead-letters malformed entries; the page has nothing to show
    values = {
        name: float(value)
        for name, value in document.items()
        if name != "timestamp"
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and (not sensors or name in sensors)
    }
    if not values or timestamp.tzinfo is None:
        return None
    return ReadingEventPublic(result_id=entry_id, timestamp=timestamp, values=values)


def _entries(reply: Any) -> Iterable[tuple[str, Sequence[tuple[str, dict[str, str]]]]]:
    # RESP2 answers a list of [stream, entries]; RESP3 a mapping of stream -> entries.
    return reply.items() if isinstance(reply, dict) else reply


async def tail(
    redis: Redis,
    keys: RedisKeys,
    start: Start,
    *,
    sensors: Sequence[str] = (),
    batch: int,
    keepalive_s: float,
    max_duration_s: float,
    retry_ms: int,
) -> AsyncIterator[ServerSentEvent]:
    """The events of one connection, for at most ``max_duration_s``."""
    wanted = frozenset(sensors)
    cursor = start.cursor
    yield ServerSentEvent(comment="connected", retry=retry_ms)
    if start.reset is not None:
        yield ServerSentEvent(event="reset", data=start.reset, id=cursor.encode())
    deadline = time.monotonic() + max_duration_s
    # A blocking XREAD must return well before the client's socket timeout (redis-py's default is
    # 5 s), else the read fails and the stream breaks: block at most half of it (a busy event loop
    # may notice the reply late); the keep-alive comes a little more often then, which costs nothing.
    longest_block_s = keepalive_s
    socket_timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
    if socket_timeout:
        longest_block_s = min(keepalive_s, max(0.1, float(socket_timeout) / 2))
    timeouts = 0
    while time.monotonic() < deadline:
        block_ms = max(1, int(min(longest_block_s, deadline - time.monotonic()) * 1000))
        try:
            reply = await redis.xread(
                {keys.stream: cursor.readings, keys.alarm_events: cursor.alarms}, count=batch, block=block_ms
            )
        except RedisTimeoutError:
            # A blocked read answered late (a busy process): an idle round, unless Redis keeps
            # not answering; then the stream ends and the browser reconnects with Last-Event-ID.
            timeouts += 1
            if timeouts >= MAX_READ_TIMEOUTS:
                return
            reply = None
        else:
            timeouts = 0
        if not reply:
            yield ServerSentEvent(comment="keep-alive")
            continue
        for stream, entries in _entries(reply):
            for entry_id, fields in entries:
                if stream == keys.stream:
                    cursor = replace(cursor, readings=entry_id)
                    reading = _reading_event(entry_id, fields, wanted)
                    if reading is not None:
                        yield ServerSentEvent(event="reading", data=reading, id=cursor.encode())
                else:
                    cursor = replace(cursor, alarms=entry_id)
                    alarm = alarm_event_public(fields)
                    if alarm is not None:
                        yield ServerSentEvent(event="alarm", data=alarm, id=cursor.encode())
