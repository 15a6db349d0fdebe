"""Every router of the API, gathered once."""

from __future__ import annotations

from fastapi import APIRouter

from dashboard_api.api.routes import anomalies, corrections, events, health, me, resolved, results, sensors, stats

api_router = APIRouter()
for module in (health, me, sensors, events, anomalies, results, corrections, resolved, stats):
    api_router.include_router(module.router)
