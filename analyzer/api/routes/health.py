from __future__ import annotations

from fastapi import APIRouter, Response, status

from analyzer.api.deps import ServicesDep
from schemas.api import HealthResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse)
async def healthz() -> HealthResponse:
    """The process is up (liveness)."""
    return HealthResponse(status="ok")


@router.get("/readyz", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
async def readyz(services: ServicesDep, response: Response) -> HealthResponse:
    """Redis and the store answer (readiness)."""
    checks: dict[str, str] = {}
    try:
        await services.redis.ping()
        checks["redis"] = "ok"
    except Exception as error:
        checks["redis"] = f"error: {type(error).__name__}"
    try:
        await services.store.ping()
        checks["store"] = "ok"
    except Exception as error:
        checks["store"] = f"error: {type(error).__name__}"
    healthy = all(v == "ok" for v in checks.values())
    if not healthy:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return HealthResponse(status="ok" if healthy else "degraded", checks=checks)
