"""Statistics of the stored analyses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter

from dashboard_api.api.params import End, Start, aware_now, check_range
from dashboard_api.deps import ConfigDep, StoreDep, ViewerDep
from dashboard_api.errors import responses
from schemas.public import HourlyCountPublic, ResultsPerHourPublic

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"], responses=responses(401, 403, 422, 503))


def utc_hour(moment: datetime) -> datetime:
    """The start of the UTC hour of ``moment``.

    >>> utc_hour(datetime(2026, 11, 23, 8, 59, 59, tzinfo=UTC)).isoformat()
    '2026-11-23T08:00:00+00:00'
    """
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@router.get("/results-per-hour", response_model=ResultsPerHourPublic, responses=responses(422))
async def results_per_hour(
    _: ViewerDep, store: StoreDep, config: ConfigDep, start: Start = None, end: End = None
) -> ResultsPerHourPublic:
    """Analyses and anomalous analyses per UTC hour of reading time (default: the last 24 h),
    every hour of the range listed, oldest first."""
    end = end or aware_now()
    start = start or end - timedelta(hours=24)
    check_range(start, end, longest=timedelta(days=config.stats_max_span_days))
    counted = {count.hour: count for count in await store.count_results_per_hour(start, end)}
    data = []
    hour = utc_hour(start)
    while hour < end:
        count = counted.get(hour)
        data.append(
            HourlyCountPublic(
                hour=hour, analyses=count.analyses if count else 0, anomalies=count.anomalies if count else 0
            )
        )
        hour += timedelta(hours=1)
    return ResultsPerHourPublic(start=start, end=end, data=data, count=len(data))
