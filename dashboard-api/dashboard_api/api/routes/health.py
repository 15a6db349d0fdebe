"""Liveness and readiness, without credentials (App Service and load balancers call them)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response, status

from dashboard_api.deps import StateDep
from schemas.public import HealthPublic

router = APIRouter(tags=["health"])

#: A dependency that does not answer within this long counts as away.
CHECK_TIMEOUT_S = 3.0


@router.get("/healthz", response_model=HealthPublic)
async def healthz() -> HealthPublic:
    """The process is up (liveness); checks nothing else."""
    return HealthPublic(status="ok")


@router.get(
    "/readyz",
    response_model=HealthPublic,
    responses={503: {"model": HealthPublic, "description": "Redis or the store is unavailable"}},
)
async def readyz(state: StateDep, response: Response) -> HealthPublic:
    """Redis and the store answer (readiness); 503 names the one that does not, and why."""

    async def store_ping() -> None:
        await (await state.store.get()).ping()

    checks: dict[str, str] = {}
    for name, probe in (("redis", state.redis.ping), ("store", store_ping)):
        try:
            await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
            checks[name] = "ok"
        except TimeoutError:
            checks[name] = f"no answer within {CHECK_TIMEOUT_S:g} s"
        except Exception as error:  # any failure of a dependency is a reason, not a crash
            checks[name] = f"{type(error).__name__}: {str(error)[:200]}"
    if any(value != "ok" for value in checks.values()):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthPublic(status="unavailable", checks=checks)
    return HealthPublic(status="ok", checks=checks)
