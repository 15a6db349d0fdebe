"""Resolved anomalies (history), by resolver and time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from analyzer.store.protocol import ResolvedQuery
from dashboard_api.api.params import Continuation, End, Limit, Sensor, Start, check_range
from dashboard_api.deps import StoreDep, ViewerDep
from dashboard_api.errors import responses
from dashboard_api.mapping import resolved_public
from schemas.public import ResolvedAnomaliesPublic
from schemas.results import Severity

router = APIRouter(prefix="/api/v1/resolved-anomalies", tags=["history"], responses=responses(401, 403, 422, 503))


@router.get("", response_model=ResolvedAnomaliesPublic, responses=responses(400, 422))
async def list_resolved(
    _: ViewerDep,
    store: StoreDep,
    resolved_by: Annotated[
        str | None, Query(min_length=1, max_length=200, description="only anomalies this person resolved")
    ] = None,
    sensor: Sensor = None,
    severity: Annotated[Severity | None, Query(description="only anomalies of this (last) severity")] = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 100,
    continuation: Continuation = None,
) -> ResolvedAnomaliesPublic:
    """Resolved anomalies by time of resolution (newest first), by resolver, sensor and severity."""
    check_range(start, end)
    query = ResolvedQuery(
        resolved_by=resolved_by,
        sensor=sensor,
        severity=severity,
        start=start,
        end=end,
        limit=limit,
        continuation=continuation,
    )
    page = await store.query_resolved(query)
    data = [resolved_public(anomaly) for anomaly in page.items]
    return ResolvedAnomaliesPublic(data=data, count=len(data), continuation=page.continuation)
