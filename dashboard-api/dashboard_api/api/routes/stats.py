"""Statistics of the stored analyses and of the anomalies: per hour, per sensor, per severity, and
how fast operators acknowledge and resolve."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from analyzer.alarms.report import build_report
from dashboard_api.alarm_stats import durations_public, opened_in, records_since, resolved_in
from dashboard_api.api.params import End, Start, aware_now, check_range
from dashboard_api.deps import ConfigDep, StoreDep, ViewerDep
from dashboard_api.errors import responses
from schemas.alarms import ResolvedAlarm
from schemas.public import (
    AnomaliesBySensorPublic,
    AnomaliesBySeverityPublic,
    AnomaliesPerHourPublic,
    HourlyAnomaliesPublic,
    HourlyCountPublic,
    ResponseTimesPublic,
    ResultsPerHourPublic,
    SensorAnomaliesPublic,
    SeverityAnomaliesPublic,
)
from schemas.results import Severity

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
    start, end = _range(start, end, config.stats_max_span_days)
    counted = {count.hour: count for count in await store.count_results_per_hour(start, end)}
    data = []
    for hour in _hours(start, end):
        count = counted.get(hour)
        data.append(
            HourlyCountPublic(
                hour=hour, analyses=count.analyses if count else 0, anomalies=count.anomalies if count else 0
            )
        )
    return ResultsPerHourPublic(start=start, end=end, data=data, count=len(data))


@router.get("/anomalies-per-hour", response_model=AnomaliesPerHourPublic, responses=responses(422))
async def anomalies_per_hour(
    _: ViewerDep, store: StoreDep, config: ConfigDep, start: Start = None, end: End = None
) -> AnomaliesPerHourPublic:
    """Anomalies opened and anomalies resolved per UTC hour (default: the last 24 h), every hour of
    the range listed, oldest first."""
    start, end = _range(start, end, config.stats_max_span_days)
    records = await records_since(store, start, config.anomalies_max_scan)
    opened = Counter(utc_hour(r.opened_at) for r in opened_in(records, start, end))
    resolved = Counter(utc_hour(r.resolved_at) for r in resolved_in(records, start, end))
    data = [
        HourlyAnomaliesPublic(hour=hour, opened=opened[hour], resolved=resolved[hour]) for hour in _hours(start, end)
    ]
    return AnomaliesPerHourPublic(start=start, end=end, data=data, count=len(data))


@router.get("/anomalies-by-sensor", response_model=AnomaliesBySensorPublic, responses=responses(422))
async def anomalies_by_sensor(
    _: ViewerDep,
    store: StoreDep,
    config: ConfigDep,
    start: Start = None,
    end: End = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="most sensors listed")] = 100,
) -> AnomaliesBySensorPublic:
    """Sensors by the anomalies opened in the range that involve them (default: the last 24 h), most
    first; plant-wide anomalies count for each sensor they name."""
    start, end = _range(start, end, config.stats_max_span_days)
    records = await records_since(store, start, config.anomalies_max_scan)
    counted = Counter(sensor for r in opened_in(records, start, end) for sensor in dict.fromkeys(r.sensors))
    ranked = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    data = [SensorAnomaliesPublic(sensor=sensor, anomalies=n) for sensor, n in ranked]
    return AnomaliesBySensorPublic(start=start, end=end, data=data, count=len(data))


@router.get("/anomalies-by-severity", response_model=AnomaliesBySeverityPublic, responses=responses(422))
async def anomalies_by_severity(
    _: ViewerDep, store: StoreDep, config: ConfigDep, start: Start = None, end: End = None
) -> AnomaliesBySeverityPublic:
    """Anomalies opened in the range by severity (default: the last 24 h), most severe first."""
    start, end = _range(start, end, config.stats_max_span_days)
    records = await records_since(store, start, config.anomalies_max_scan)
    counted = Counter(r.severity_level for r in opened_in(records, start, end))
    data = [SeverityAnomaliesPublic(severity=severity, anomalies=counted[severity]) for severity in Severity]
    return AnomaliesBySeverityPublic(start=start, end=end, data=data, total=sum(counted.values()))


@router.get("/response-times", response_model=ResponseTimesPublic, responses=responses(422))
async def response_times(
    _: ViewerDep, store: StoreDep, config: ConfigDep, start: Start = None, end: End = None
) -> ResponseTimesPublic:
    """Mean (and median, 90th percentile) time to acknowledge and to resolve the anomalies opened in
    the range (default: the last 24 h): opened -> acknowledged over those acknowledged, opened ->
    resolved over those resolved."""
    start, end = _range(start, end, config.stats_max_span_days)
    records = opened_in(await records_since(store, start, config.anomalies_max_scan), start, end)
    report = build_report(records, start, end)
    return ResponseTimesPublic(
        start=start,
        end=end,
        opened=len(records),
        time_to_acknowledge=durations_public(report.time_to_acknowledge),
        time_to_resolve=durations_public(report.time_to_resolve),
        unacknowledged=sum(1 for r in records if not isinstance(r, ResolvedAlarm) and r.acknowledged_by is None),
    )


def _range(start: datetime | None, end: datetime | None, max_days: int) -> tuple[datetime, datetime]:
    end = end or aware_now()
    start = start or end - timedelta(hours=24)
    check_range(start, end, longest=timedelta(days=max_days))
    return start, end


def _hours(start: datetime, end: datetime) -> list[datetime]:
    hours = []
    hour = utc_hour(start)
    while hour < end:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours
