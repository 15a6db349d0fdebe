"""Learned alarm limits (analyzer/alarms/limits.py): suggestions from normal operation for sensors
the catalogue gives none, and an admin's acceptance (audited, applied by every replica)."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import ValidationError

from analyzer.alarms.limits import AcceptedLimits, Limits, LimitSuggestion, suggest
from analyzer.alarms.operations import TransitionError
from analyzer.alarms.service import AlarmNotFound
from analyzer.runtime.redis_client import close_redis
from analyzer.store.protocol import Store
from dashboard_api.api.params import aware_now, unprocessable
from dashboard_api.deps import AdminDep, AlarmsDep, CatalogDep, StateDep, StoreDep, ViewerDep
from dashboard_api.errors import responses
from dashboard_api.state import DashboardState
from schemas.public import (
    AcceptedLimitsListPublic,
    AcceptedLimitsPublic,
    LimitsAccept,
    LimitsPublic,
    LimitSuggestionPublic,
    LimitSuggestionsPublic,
)

router = APIRouter(prefix="/api/v1/limits", tags=["alarm configuration"], responses=responses(401, 403, 422, 503))

#: Suggestions are learned from the whole 24 h window: computed at most this often.
SUGGESTIONS_TTL_S = 300.0

SensorName = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$", description="a catalogued sensor")
]


def _limits(limits: Limits) -> LimitsPublic:
    return LimitsPublic(low_low=limits.low_low, low=limits.low, high=limits.high, high_high=limits.high_high)


def accepted_public(accepted: AcceptedLimits) -> AcceptedLimitsPublic:
    return AcceptedLimitsPublic(
        sensor=accepted.sensor,
        limits=_limits(accepted.limits),
        accepted_by=accepted.accepted_by,
        accepted_at=accepted.accepted_at,
        note=accepted.note,
    )


@router.get("", response_model=AcceptedLimitsListPublic)
async def list_accepted(_: ViewerDep, alarms: AlarmsDep) -> AcceptedLimitsListPublic:
    """The learned limits an admin accepted, by sensor."""
    accepted = await alarms.accepted_limits()
    data = [accepted_public(accepted[name]) for name in sorted(accepted)]
    return AcceptedLimitsListPublic(data=data, count=len(data))


@router.get("/suggestions", response_model=LimitSuggestionsPublic)
async def list_suggestions(_: ViewerDep, state: StateDep, store: StoreDep) -> LimitSuggestionsPublic:
    """Limits suggested for every sensor without any, learned from the normal readings of the 24 h
    window (median -+ 4 and 6 x 1.4826 MAD, rounded to the sensor's resolution); nothing is applied.
    Recomputed at most every 5 minutes; 503 while tier 2 is off (no baseline to learn from)."""
    found = await _suggestions(state, store)
    data = [
        LimitSuggestionPublic(
            sensor=s.sensor,
            unit=s.unit,
            suggested=_limits(s.suggested),
            centre=s.centre,
            spread=s.spread,
            samples=s.samples,
            method=s.method,
        )
        for s in found
    ]
    return LimitSuggestionsPublic(data=data, count=len(data))


async def _suggestions(state: DashboardState, store: Store) -> list[LimitSuggestion]:
    # Tier 2's window lives in the fold's shared state; reading it needs the statistical tier, which
    # is imported here and only here, so the API starts (and most of it runs) without it.
    async with state.suggestions_lock:
        cached = state.suggestions
        if cached is not None and time.monotonic() - cached[0] < SUGGESTIONS_TTL_S:
            return cached[1]
        from analyzer.runtime.services import open_services

        services = await open_services(state.settings, store=store)
        try:
            folded = await services.pipeline.refresh()
            if folded.tier2 is None:
                raise HTTPException(
                    status.HTTP_503_SERVICE_UNAVAILABLE,
                    "tier 2 is off (TIER2_ENABLED=false): there is no baseline to learn limits from",
                )
            found = suggest(folded.tier2, services.pipeline.base_index)
        finally:
            await services.binary.aclose()
            await close_redis(services.redis)
        state.suggestions = (time.monotonic(), found)
        return found


@router.post("/{sensor}", response_model=AcceptedLimitsPublic, responses=responses(404, 409, 422))
async def accept_limits(
    sensor: SensorName, body: LimitsAccept, admin: AdminDep, alarms: AlarmsDep, catalog: CatalogDep
) -> AcceptedLimitsPublic:
    """Accept alarm limits for a sensor the catalogue gives none (admins only; audited on the
    limits audit stream; every replica folds with them from the same point of the stream on).
    409 if the catalogue gives the sensor limits already."""
    try:
        limits = Limits(low_low=body.low_low, low=body.low, high=body.high, high_high=body.high_high)
    except ValidationError as error:
        raise unprocessable(str(error.errors()[0]["msg"]).removeprefix("Value error, ")) from None
    accepted = AcceptedLimits(
        sensor=sensor, limits=limits, accepted_by=admin.name, accepted_at=aware_now(), note=body.note
    )
    try:
        done = await alarms.accept_limits(catalog, accepted)
    except AlarmNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
    except TransitionError as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return accepted_public(done)
