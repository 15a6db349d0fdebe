"""The analyzer's FastAPI app: wires routers, error handlers and the lifespan; nothing else."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from analyzer.api.routes import analyze, health, ingest, sweep
from analyzer.runtime.explainer import run_explainer
from analyzer.runtime.services import Services, open_services, settle_heap
from analyzer.settings import Settings, get_settings
from analyzer.store.protocol import InvalidContinuationError, StoreError
from analyzer.telemetry import ANALYZER_SERVICE_NAME, instrument_app, run_process_telemetry

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The app. Pass ``services`` to share already-open ones (``sensor-analyzer run``)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services or await open_services(settings or get_settings())
        if owned:
            settle_heap()  # a served analyzer is a long-running process; `run` settles its own
        stop = asyncio.Event()
        # Tier 3's consumer of the alarm events (EXPLAIN_CONSUMER_ENABLED); `run` runs its own beside the workers.
        explaining = None
        if owned and app.state.services.settings.explain_consumer_enabled:
            explaining = asyncio.create_task(run_explainer(app.state.services, stop), name="tier3-explainer")
        # Telemetry (analyzer/telemetry.py): the exporter when a connection string is set, the lag gauge.
        telemetry = asyncio.create_task(
            run_process_telemetry(
                app.state.services.redis, app.state.services.keys.stream, ANALYZER_SERVICE_NAME, stop
            ),
            name="telemetry",
        )
        try:
            yield
        finally:
            stop.set()
            if explaining is not None:
                await explaining
            await telemetry
            if owned:
                await app.state.services.close()

    app = FastAPI(
        title="Sensor analyzer",
        version="0.1.0",
        summary="Three-tier analysis of industrial sensor payloads",
        lifespan=lifespan,
    )
    for module in (health, ingest, analyze, sweep):
        app.include_router(module.router)
    instrument_app(app)  # request spans (telemetry)

    @app.exception_handler(InvalidContinuationError)
    async def _bad_continuation(_: Request, error: InvalidContinuationError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=status.HTTP_400_BAD_REQUEST)

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def _redis_unavailable(_: Request, error: Exception) -> JSONResponse:
        # One line, no traceback: an outage is expected and the caller retries.
        log.warning("Redis unavailable: %s", error)
        return JSONResponse(
            {"detail": f"Redis unavailable ({type(error).__name__}); try again shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(StoreError)
    async def _store_unavailable(_: Request, error: StoreError) -> JSONResponse:
        log.error("store error: %s", error)
        return JSONResponse({"detail": f"store unavailable: {error}"}, status_code=503)

    return app
