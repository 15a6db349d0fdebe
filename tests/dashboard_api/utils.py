"""Small factories for the dashboard API tests: role keys, the app in-process or served over HTTP,
stream entries."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from analyzer.devtools.local_redis import free_port
from analyzer.keys import PAYLOAD_FIELD, RedisKeys
from analyzer.settings import Settings
from analyzer.store.protocol import Store, StoreError
from dashboard_api.identity.api_keys import issue_key
from dashboard_api.main import create_app
from dashboard_api.settings import ApiKeySpec, DashboardSettings
from schemas.payload import wire_timestamp
from schemas.public import Role

ROLES = (None, Role.VIEWER, Role.OPERATOR, Role.ADMIN)


@dataclass(frozen=True)
class RoleKeys:
    """One API key per role; the key's name is the role's name."""

    keys: dict[Role, str]
    specs: list[ApiKeySpec]

    @classmethod
    def issue(cls) -> RoleKeys:
        issued = {role: issue_key(role.value, role) for role in Role}
        return cls({role: key for role, (key, _) in issued.items()}, [spec for _, spec in issued.values()])

    def headers(self, role: Role | None) -> dict[str, str]:
        return {} if role is None else {"X-API-Key": self.keys[role]}


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    keys: RoleKeys
    store: Store
    redis: Redis
    redis_keys: RedisKeys
    extra: dict[str, Any] = field(default_factory=dict)

    def as_(self, role: Role | None) -> dict[str, str]:
        return self.keys.headers(role)


@contextlib.asynccontextmanager
async def open_api(
    settings: Settings, config: DashboardSettings, store: Store | None, keys: RoleKeys
) -> AsyncIterator[Api]:
    app = create_app(settings, dashboard=config, store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dashboard.test") as client:
            state = app.state.dashboard
            if store is None:
                with contextlib.suppress(StoreError):  # some tests point at a store that is away
                    store = await state.store.get()
            yield Api(app, client, keys, store, state.redis, state.keys)  # type: ignore[arg-type]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner keeps its signals
        yield


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    # A graceful shutdown waits for open responses (event streams) at most this long, then cancels them.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", timeout_graceful_shutdown=2
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started or task.done():
            break
        await asyncio.sleep(0.025)
    if not server.started:
        task.cancel()
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def land(redis: Redis, keys: RedisKeys, moment: datetime, values: dict[str, float], entry_id: str = "*") -> str:
    """One payload on the stream and in the latest-values hash, as the landing writes them."""
    stamp = wire_timestamp(moment)
    document = {"timestamp": stamp, **values}
    added = str(await redis.xadd(keys.stream, {PAYLOAD_FIELD: orjson.dumps(document)}, id=entry_id))
    latest = {name: orjson.dumps({"value": v, "timestamp": stamp, "entry_id": added}) for name, v in values.items()}
    await redis.hset(keys.latest, mapping=latest)  # type: ignore[arg-type]
    return added


def ms_id(moment: datetime, seq: int = 0) -> str:
    return f"{int(moment.timestamp() * 1000)}-{seq}"
