"""Stored analyses by time range, with filters and paging."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from analyzer.store import corrections
from analyzer.store.protocol import ResultQuery
from analyzer.store.summaries import summarize
from dashboard_api.api.params import Continuation, End, Limit, Sensor, Start, check_range
from dashboard_api.deps import StoreDep, ViewerDep
from dashboard_api.errors import responses
from dashboard_api.mapping import result_public
from schemas.public import ResultPublic, ResultsPublic
from schemas.results import FinalStatus, Severity

router = APIRouter(prefix="/api/v1/results", tags=["results"], responses=responses(401, 403, 422, 503))

ResultId = Annotated[
    str, Path(max_length=64, description="the analysis id (its stream entry id)", examples=["1763884800000-0"])
]


@router.get("", response_model=ResultsPublic, responses=responses(400, 422))
async def list_results(
    _: ViewerDep,
    store: StoreDep,
    start: Start = None,
    end: End = None,
    sensor: Annotated[Sensor, Query(description="only analyses in which any tier flagged this sensor")] = None,
    severity: Annotated[Severity | None, Query(description="only analyses of this severity")] = None,
    status_: Annotated[FinalStatus | None, Query(alias="status", description="normal or anomaly")] = None,
    limit: Limit = 100,
    continuation: Continuation = None,
) -> ResultsPublic:
    """Analyses by reading time, newest first, one page at a time (`continuation` for the next)."""
    check_range(start, end)
    query = ResultQuery(
        start=start,
        end=end,
        sensor=sensor,
        severity=severity,
        status=status_,
        limit=limit,
        continuation=continuation,
    )
    page = await store.query_result_summaries(query)
    data = [result_public(summary) for summary in page.items]
    return ResultsPublic(data=data, count=len(data), continuation=page.continuation)


@router.get("/{result_id}", response_model=ResultPublic, responses=responses(404))
async def get_result(result_id: ResultId, _: ViewerDep, store: StoreDep, response: Response) -> ResultPublic:
    """One analysis; its `ETag` is the version a correction's `If-Match` names."""
    result = await store.get_result(result_id)
    if result is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no analysis {result_id!r}")
    response.headers["ETag"] = f'"{corrections.version(result)}"'
    return result_public(summarize(result))
