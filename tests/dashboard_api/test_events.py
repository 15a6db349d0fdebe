"""Server-sent events over real HTTP (uvicorn) from a real Redis, read by a real streaming client:
readings and alarm changes, resuming with Last-Event-ID without gaps or repeats, keep-alives,
the connection limit and a clean disconnect."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from pydantic import SecretStr

from analyzer.settings import Settings
from analyzer.store.protocol import Store
from dashboard_api.main import create_app
from dashboard_api.settings import DashboardSettings
from dashboard_api.state import DashboardState
from schemas.public import Role
from tests.dashboard_api.utils import RoleKeys, land, served

pytestmark = pytest.mark.redis

URL = "/api/v1/live/events"


class Live:
    def __init__(self, base: str, state: DashboardState, keys: RoleKeys) -> None:
        self.base = base
        self.state = state
        self.headers = keys.headers(Role.VIEWER)

    async def reading(self, value: float) -> str:
        return await land(self.state.redis, self.state.keys, datetime.now(UTC), {"TI-101": value, "FI-101": 400.0})

    async def alarm(self, anomaly_id: str, kind: str = "opened", severity: str = "high") -> str:
        event = {"kind": kind, "alarm_id": anomaly_id, "severity_level": severity}
        fields = {"event": json.dumps(event)}
        return str(await self.state.redis.xadd(self.state.keys.alarm_events, fields))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def live_server(
    settings: Settings, config: DashboardSettings, store: Store, keys: RoleKeys
) -> AsyncIterator[Live]:
    app = create_app(settings, dashboard=config, store=store)
    async with served(app) as base:
        yield Live(base, app.state.dashboard, keys)


@pytest.fixture
async def live(
    settings: Settings, dashboard_config: DashboardSettings, sqlite_store: Store, role_keys: RoleKeys
) -> AsyncIterator[Live]:
    async with live_server(settings, dashboard_config, sqlite_store, role_keys) as server:
        yield server


async def next_event(events: AsyncIterator[ServerSentEvent]) -> ServerSentEvent:
    """The next event that carries data (the opening `retry` and keep-alive comments skipped)."""
    while True:
        event = await asyncio.wait_for(anext(events), 10)
        if event.data:
            return event


async def connected(events: AsyncIterator[ServerSentEvent]) -> None:
    """Wait for the opening `retry` line: the server has fixed its starting point."""
    event = await asyncio.wait_for(anext(events), 10)
    assert event.retry == 2000 and not event.data


async def test_readings_and_alarms_then_resume_without_gaps(live: Live) -> None:
    seen: list[tuple[str, str]] = []
    async with (
        httpx.AsyncClient(base_url=live.base, timeout=10) as client,
        aconnect_sse(client, "GET", URL, headers=live.headers) as source,
    ):
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        events = source.aiter_sse()
        await connected(events)
        first = [await live.reading(350.0 + n) for n in range(3)]
        alarm = await live.alarm("heuristic:TI-101:high@" + first[0])
        for _ in range(3):  # read three of the four, then drop the connection
            event = await next_event(events)
            seen.append((event.event, event.id))
        last_id = seen[-1][1]

    reading = json.loads(event.data)
    assert [kind for kind, _ in seen] == ["reading", "reading", "reading"]
    assert reading["result_id"] == first[2] and reading["values"] == {"TI-101": 352.0, "FI-101": 400.0}
    assert last_id == f"{first[2]},0-0"

    later = [await live.reading(360.0), await live.reading(361.0)]
    later_alarm = await live.alarm("zscore:TI-101@" + later[0], kind="escalated", severity="critical")

    resumed: list[ServerSentEvent] = []
    async with (
        httpx.AsyncClient(base_url=live.base, timeout=10) as client,
        aconnect_sse(client, "GET", URL, headers={**live.headers, "Last-Event-ID": last_id}) as source,
    ):
        events = source.aiter_sse()
        await connected(events)
        for _ in range(4):
            resumed.append(await next_event(events))
        # Nothing more is pending: the next thing is a keep-alive, not a repeated event.
        extra = asyncio.create_task(next_event(events))
        await asyncio.sleep(0.8)
        assert not extra.done()
        extra.cancel()

    kinds = [(e.event, json.loads(e.data).get("result_id") or json.loads(e.data).get("anomaly_id")) for e in resumed]
    # One XREAD returns what is pending: the readings stream's entries, then the alarms'.
    assert kinds == [
        ("reading", later[0]),
        ("reading", later[1]),
        ("alarm", "heuristic:TI-101:high@" + first[0]),
        ("alarm", "zscore:TI-101@" + later[0]),
    ]
    alarm_event = json.loads(resumed[3].data)
    assert alarm_event == {"anomaly_id": "zscore:TI-101@" + later[0], "kind": "escalated", "severity": "critical"}
    # Each id carries both positions, after the event it comes with.
    assert [e.id for e in resumed] == [
        f"{later[0]},0-0",
        f"{later[1]},0-0",
        f"{later[1]},{alarm}",
        f"{later[1]},{later_alarm}",
    ]


async def test_a_sensor_filter_and_a_bad_last_event_id(live: Live) -> None:
    async with (
        httpx.AsyncClient(base_url=live.base, timeout=10) as client,
        aconnect_sse(client, "GET", URL, params={"sensor": "TI-101"}, headers=live.headers) as source,
    ):
        events = source.aiter_sse()
        await connected(events)
        await live.reading(351.0)
        event = await next_event(events)
        assert json.loads(event.data)["values"] == {"TI-101": 351.0}
    async with httpx.AsyncClient(base_url=live.base, timeout=10) as client:
        response = await client.get(URL, headers={**live.headers, "Last-Event-ID": "yesterday"})
        assert response.status_code == 422 and "Last-Event-ID" in response.json()["detail"]


async def test_keep_alives_and_a_clean_disconnect(live: Live) -> None:
    assert live.state.streams.open == 0
    async with (
        httpx.AsyncClient(base_url=live.base, timeout=10) as client,
        client.stream("GET", URL, headers=live.headers) as response,
    ):
        lines: list[str] = []
        async for line in response.aiter_lines():
            lines.append(line)
            if line == ": keep-alive":
                break
        assert lines[0] == ": connected" and "retry: 2000" in lines
        assert live.state.streams.open == 1
    await until_closed(live)


async def test_the_number_of_streams_is_bounded(
    settings: Settings, dashboard_config: DashboardSettings, sqlite_store: Store, role_keys: RoleKeys
) -> None:
    config = dashboard_config.model_copy(update={"sse_max_connections": 1})
    async with (
        live_server(settings, config, sqlite_store, role_keys) as live,
        httpx.AsyncClient(base_url=live.base, timeout=10) as client,
    ):
        async with aconnect_sse(client, "GET", URL, headers=live.headers) as first:
            # Hold the iterator: a dropped one is finalised later and closes the stream with it.
            events = first.aiter_sse()
            await connected(events)
            assert live.state.streams.open == 1
            # Only the status is read: were the limit not kept, this would be an endless stream.
            async with client.stream("GET", URL, headers=live.headers) as second:
                assert second.status_code == 503
                assert "1 event streams are open" in json.loads(await second.aread())["detail"]
            assert live.state.streams.open == 1
            del events
        await until_closed(live)
        async with aconnect_sse(client, "GET", URL, headers=live.headers) as third:
            assert third.response.status_code == 200, "the slot was given back"
        await until_closed(live)


async def until_closed(live: Live) -> None:
    for _ in range(100):  # the server notices a closed connection at its next keep-alive (0.3 s)
        if live.state.streams.open == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{live.state.streams.open} event streams still open after their clients left")


async def test_a_position_that_left_the_window_starts_with_a_reset(live: Live) -> None:
    old = await live.reading(340.0)
    await live.reading(341.0)
    newest = await live.reading(342.0)
    await live.state.redis.xtrim(live.state.keys.stream, minid=newest, approximate=False)
    async with (
        httpx.AsyncClient(base_url=live.base, timeout=10) as client,
        aconnect_sse(client, "GET", URL, headers={**live.headers, "Last-Event-ID": f"{old},0-0"}) as source,
    ):
        events = source.aiter_sse()
        await connected(events)
        reset = await next_event(events)
        assert reset.event == "reset" and "left the window" in json.loads(reset.data)["reason"]
        assert reset.id == f"{newest},0-0"
        after = await live.reading(343.0)
        assert json.loads((await next_event(events)).data)["result_id"] == after


async def test_a_keepalive_longer_than_the_socket_timeout_keeps_the_stream(
    settings: Settings, dashboard_config: DashboardSettings, sqlite_store: Store, role_keys: RoleKeys
) -> None:
    # redis-py's clients time out a read after `socket_timeout` (5 s by default): an XREAD blocking
    # for the whole keep-alive (15 s by default) would fail and break every idle stream. Here the
    # socket timeout is 1.5 s and the keep-alive 4 s: the stream must live on, idle, and deliver.
    url = f"{settings.redis_url}?socket_timeout=1.5"
    short = settings.model_copy(update={"redis_connection_string": SecretStr(url)})
    config = dashboard_config.model_copy(update={"sse_keepalive_s": 4.0})
    async with (
        live_server(short, config, sqlite_store, role_keys) as server,
        httpx.AsyncClient(base_url=server.base, timeout=10) as client,
        aconnect_sse(client, "GET", URL, headers=server.headers) as source,
    ):
        events = source.aiter_sse()
        await connected(events)
        await asyncio.sleep(3.5)  # idle past the socket timeout twice
        landed = await server.reading(351.0)
        event = await next_event(events)
        assert (event.event, json.loads(event.data)["result_id"]) == ("reading", landed)
