"""Every router of the API, gathered once."""

from __future__ import annotations

from fastapi import APIRouter

from dashboard_api.api.routes import (
    anomalies,
    corrections,
    events,
    health,
    limits,
    me,
    report,
    resolved,
    results,
    sensors,
    stats,
    windows,
)

api_router = APIRouter()
for module in (health, me, sensors, events, anomalies, results, corrections, resolved, stats, report, windows, limits):
    api_router.include_router(module.router)
