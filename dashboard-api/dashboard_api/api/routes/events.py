"""Server-sent events of new readings and alarm changes (see :mod:`dashboard_api.live.events`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, status
from fastapi.sse import EventSourceResponse, ServerSentEvent

from dashboard_api.deps import ConfigDep, KeysDep, RedisDep, StateDep, ViewerDep
from dashboard_api.errors import json_responses
from dashboard_api.live.events import CURSOR_PATTERN, Start, start_at, tail

router = APIRouter(prefix="/api/v1/live", tags=["live"], responses=json_responses(401, 403, 422, 503))


async def stream_slot(state: StateDep) -> AsyncIterator[None]:
    """One of the bounded number of open event streams, held until the connection ends."""
    if not state.streams.take():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"{state.streams.limit} event streams are open, the most this server keeps; try again shortly",
        )
    try:
        yield
    finally:
        state.streams.give_back()


async def starting_point(
    redis: RedisDep,
    keys: KeysDep,
    last_event_id: Annotated[
        str | None,
        Header(
            alias="Last-Event-ID",
            pattern=CURSOR_PATTERN,
            description="the id of the last event received; the stream resumes right after it",
            examples=["1763884800000-0,1763884790000-0"],
        ),
    ] = None,
) -> Start:
    # Resolved before the response starts, so Redis being away is a 503, not a broken stream.
    return await start_at(redis, keys, last_event_id)


@router.get(
    "/events",
    response_class=EventSourceResponse,
    dependencies=[Depends(stream_slot)],
)
async def live_events(
    _: ViewerDep,
    redis: RedisDep,
    keys: KeysDep,
    config: ConfigDep,
    start: Annotated[Start, Depends(starting_point)],
    sensor: Annotated[
        list[str] | None,
        Query(max_length=200, description="only these sensors' values in `reading` events (default all)"),
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """A `text/event-stream` of `reading` events (a payload landed: its values) and `alarm`
    events (an anomaly opened or escalated), so a page updates without polling.

    Each event's `id` holds both streams' positions: reconnecting with `Last-Event-ID` resumes
    right after it, without gaps. A `reset` event says the position left the window (reload).
    Idle connections get a keep-alive comment every `DASHBOARD_SSE_KEEPALIVE_S`; a connection
    ends after `DASHBOARD_SSE_MAX_DURATION_S` (the browser reconnects by itself).
    """
    async for event in tail(
        redis,
        keys,
        start,
        sensors=sensor or (),
        batch=config.sse_batch,
        keepalive_s=config.sse_keepalive_s,
        max_duration_s=config.sse_max_duration_s,
        retry_ms=config.sse_retry_ms,
    ):
        yield event
