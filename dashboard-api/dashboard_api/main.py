"""The dashboard API's FastAPI app: wires routers, middleware, error handlers and the lifespan.

``create_app()`` is the factory (tests pass their own settings, Redis client and store);
``dashboard_api.main:app`` is built on first access, so importing this module builds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import Redis

from analyzer.catalog import load_catalog
from analyzer.keys import RedisKeys
from analyzer.runtime.redis_client import close_redis, connect_redis
from analyzer.settings import Settings
from analyzer.store.protocol import Store, StoreError
from dashboard_api import errors, page
from dashboard_api.api.router import api_router
from dashboard_api.identity.api_keys import ApiKeyRing
from dashboard_api.identity.entra import EntraVerifier, SigningKeys
from dashboard_api.maintenance import run_maintenance
from dashboard_api.settings import DashboardSettings
from dashboard_api.state import DashboardState
from dashboard_api.store_access import StoreAccess

log = logging.getLogger(__name__)

DESCRIPTION = """\
Operators and dashboards of the sensor analyzer: live values from Redis, history from the store,
value corrections with an audit trail.

**Sign in** with `X-API-Key: <key>` (local keys, `sensor-analyzer dashboard-key`) or
`Authorization: Bearer <Entra ID access token>`. Roles: *viewer* reads; *operator* also works the
anomaly queue and corrects values; *admin* may do everything. Errors are JSON `{"detail": "..."}`;
a missing or invalid credential is 401 (with `WWW-Authenticate`), a role that may not is 403,
Redis or the store away is 503 with the reason.

**The anomaly workflow**: `GET /api/v1/anomalies` is the queue; `GET /api/v1/anomalies/{id}` one
anomaly with its evidence, history and `ETag`. Operators `POST .../acknowledge`, `.../shelve`,
`.../unshelve`, `.../resolve` (a note and a root cause) and `.../reopen`. Send the `ETag` back as
`If-Match`: if someone else acted first the answer is 409 with the anomaly as it is now. Sending the
same request again is harmless; an `Idempotency-Key` header replays the first answer.
"""

TAGS = [
    {"name": "live", "description": "Latest values, series of the 24 h window and server-sent events (Redis)."},
    {
        "name": "anomalies",
        "description": "The queue of open anomalies and the workflow: acknowledge, shelve, resolve, reopen.",
    },
    {"name": "results", "description": "Stored analyses by time, sensor, severity and status."},
    {"name": "corrections", "description": "Correcting stored readings; the audit trail (read-only)."},
    {"name": "history", "description": "Resolved anomalies by resolver and time."},
    {
        "name": "statistics",
        "description": "Analyses and anomalies over time, by sensor and severity; response times; the alarm report.",
    },
    {
        "name": "alarm configuration",
        "description": "Maintenance windows (operators) and learned alarm limits (suggested; accepted by admins).",
    },
    {"name": "identity", "description": "Who the API takes the caller for."},
    {"name": "health", "description": "Liveness and readiness (no credentials)."},
]

#: Headers a browser page may send and read (CORS).
_ALLOWED_HEADERS = ["Authorization", "X-API-Key", "Content-Type", "If-Match", "Idempotency-Key", "Last-Event-ID"]


def create_app(
    settings: Settings | None = None,
    *,
    dashboard: DashboardSettings | None = None,
    redis: Redis | None = None,
    store: Store | None = None,
) -> FastAPI:
    """The app. ``redis`` and ``store``, when given, are used as they are and not closed."""
    settings = settings or Settings()  # type: ignore[call-arg]  # every field has a default
    config = dashboard or DashboardSettings()  # type: ignore[call-arg]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            catalog = load_catalog(settings.sensor_catalog)
            client = redis if redis is not None else connect_redis(settings)
            if redis is None:
                stack.push_async_callback(close_redis, client)
            access = StoreAccess(settings, store)
            stack.push_async_callback(access.close)
            with contextlib.suppress(StoreError):
                await access.get()  # open it now if it is there; routes that need it answer 503 until it is
            entra = None
            if config.entra_enabled:
                http = httpx.AsyncClient()
                stack.push_async_callback(http.aclose)
                keys = SigningKeys(
                    config.jwks_url,
                    http,
                    max_age_s=config.entra_jwks_max_age_s,
                    min_refresh_s=config.entra_jwks_min_refresh_s,
                )
                entra = EntraVerifier(
                    keys,
                    audiences=config.entra_audiences,
                    issuers=config.issuers,
                    roles=config.entra_roles,
                    leeway_s=config.entra_leeway_s,
                )
            state = DashboardState(
                settings=settings,
                config=config,
                catalog=catalog,
                keys=RedisKeys(settings.stream_key),
                redis=client,
                store=access,
                api_keys=ApiKeyRing(config.api_keys),
                entra=entra,
            )
            app.state.dashboard = state
            log.info(
                "dashboard API: %d API keys, Entra ID %s, %s store, stream %s",
                len(config.api_keys),
                "on" if entra else "off",
                settings.store_backend,
                settings.stream_key,
            )
            stop = asyncio.Event()
            upkeep = (
                asyncio.create_task(run_maintenance(state, stop), name="dashboard-upkeep")
                if config.maintenance_interval_s > 0
                else None
            )
            try:
                yield
            finally:
                stop.set()
                if upkeep is not None:
                    await upkeep

    app = FastAPI(
        title="Sensor analyzer: operator and dashboard API",
        version="0.1.0",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=_ALLOWED_HEADERS,
            expose_headers=["ETag", "Location"],
            max_age=600,
        )
    errors.install(app)
    app.include_router(api_router)
    page.install(app)
    return app


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    """``dashboard_api.main:app`` for uvicorn, built from the environment on first access."""
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
