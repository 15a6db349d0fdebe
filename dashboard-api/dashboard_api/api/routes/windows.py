"""Maintenance windows: planned suppression of some sensors' alarms (ISA-18.2 "suppressed by
design"). Changed through :meth:`AlarmService.set_windows`, which bumps the fold's epoch so every
replica applies a window from the same point of the stream on."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from analyzer.alarms.book import MaintenanceWindow
from dashboard_api.api.params import aware_now, unprocessable
from dashboard_api.deps import AlarmsDep, CatalogDep, OperatorDep, ViewerDep
from dashboard_api.errors import responses
from schemas.public import MaintenanceWindowCreate, MaintenanceWindowPublic, MaintenanceWindowsPublic

router = APIRouter(
    prefix="/api/v1/maintenance-windows", tags=["alarm configuration"], responses=responses(401, 403, 422, 503)
)

#: Longest window one request may plan.
MAX_WINDOW = timedelta(days=31)
#: Windows that ended longer ago than this are dropped when the list changes (it stays short).
KEEP_ENDED = timedelta(days=7)


def window_public(window: MaintenanceWindow, now: datetime) -> MaintenanceWindowPublic:
    return MaintenanceWindowPublic(
        id=window.id,
        sensors=window.sensors,
        start=window.start,
        end=window.end,
        reason=window.reason,
        created_by=window.created_by,
        created_at=window.created_at,
        active=window.start <= now < window.end,
    )


@router.get("", response_model=MaintenanceWindowsPublic)
async def list_windows(_: ViewerDep, alarms: AlarmsDep) -> MaintenanceWindowsPublic:
    """The maintenance windows, by start (windows that ended over 7 days ago are dropped on change)."""
    now = aware_now()
    data = [window_public(w, now) for w in sorted(await alarms.windows(), key=lambda w: (w.start, w.id))]
    return MaintenanceWindowsPublic(data=data, count=len(data))


@router.post(
    "",
    response_model=MaintenanceWindowPublic,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"model": MaintenanceWindowPublic, "description": "a repeated request: no change"}},
)
async def create_window(
    body: MaintenanceWindowCreate,
    operator: OperatorDep,
    alarms: AlarmsDep,
    catalog: CatalogDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(min_length=8, max_length=200, description="a client-chosen key: the same request again changes nothing"),
    ] = None,
) -> MaintenanceWindowPublic:
    """Plan a maintenance window: alarms of these sensors that activate inside it are recorded as
    suppressed (still evaluated and counted; they never block clearing or resolving)."""
    now = aware_now()
    known = {spec.name for spec in catalog.sensors}
    unknown = sorted(set(body.sensors) - known)
    if unknown:
        raise unprocessable(f"not in the catalogue: {', '.join(unknown[:10])}")
    if body.end <= body.start:
        raise unprocessable("end must be after start")
    if body.end <= now:
        raise unprocessable("the window has ended already; it would suppress nothing")
    if body.end - body.start > MAX_WINDOW:
        raise unprocessable(f"a window may last at most {MAX_WINDOW.days} days")
    window_id = (
        hashlib.sha256(f"{operator.name}\x00{idempotency_key}".encode()).hexdigest()[:16]
        if idempotency_key
        else uuid.uuid4().hex[:16]
    )
    window = MaintenanceWindow(
        id=window_id,
        sensors=list(dict.fromkeys(body.sensors)),
        start=body.start,
        end=body.end,
        reason=body.reason,
        created_by=operator.name,
        created_at=now,
    )
    existing: list[MaintenanceWindow] = []

    def add(current: list[MaintenanceWindow]) -> list[MaintenanceWindow]:
        existing[:] = [w for w in current if w.id == window_id]
        if existing:
            return current
        return [w for w in current if now - w.end < KEEP_ENDED] + [window]

    await alarms.set_windows(add)
    if existing:
        response.status_code = status.HTTP_200_OK
        return window_public(existing[0], now)
    return window_public(window, now)
