from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from analyzer.api.deps import ApiKeyDep, ServicesDep
from analyzer.runtime.sweep import sweep
from schemas.api import SweepResponse

router = APIRouter(prefix="/api/v1", tags=["sweep"], dependencies=[ApiKeyDep])


@router.post("/sweep", response_model=SweepResponse)
async def run_sweep(
    services: ServicesDep,
    grace_s: Annotated[float, Query(ge=0, le=3600, description="leave entries younger than this to the trigger")] = 60,
) -> SweepResponse:
    """Analyse entries of the 24 h window that have no stored result (the trigger delivers at most once)."""
    return await sweep(services.redis, services.keys, services.store, services.pipeline, grace_s=grace_s)
