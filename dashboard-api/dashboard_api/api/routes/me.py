from __future__ import annotations

from fastapi import APIRouter

from dashboard_api.deps import ViewerDep
from dashboard_api.errors import responses
from schemas.public import PrincipalPublic

router = APIRouter(prefix="/api/v1/me", tags=["identity"], responses=responses(401, 403, 422, 503))


@router.get("", response_model=PrincipalPublic)
async def me(principal: ViewerDep) -> PrincipalPublic:
    """Who the API takes the caller for, and the caller's role."""
    return principal.public()
