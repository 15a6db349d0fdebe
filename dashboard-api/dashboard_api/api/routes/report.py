"""The alarm performance report (analyzer/alarms/report.py) as a route."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from analyzer.alarms.report import AlarmReport, build_report, collect_records, format_report
from dashboard_api.alarm_stats import durations_public
from dashboard_api.api.params import End, Start, aware_now, check_range
from dashboard_api.deps import ConfigDep, StoreDep, ViewerDep
from dashboard_api.errors import responses
from schemas.public import AlarmReportPublic, FrequentAlarmPublic

router = APIRouter(prefix="/api/v1/report", tags=["statistics"], responses=responses(401, 403, 422, 503))


@router.get("", response_model=AlarmReportPublic, responses=responses(422))
async def alarm_report(
    _: ViewerDep, store: StoreDep, config: ConfigDep, since: Start = None, until: End = None
) -> AlarmReportPublic:
    """The alarm performance report over `[since, until)` (default: the last 24 h): activations per
    10 minutes and per hour, the peak, floods, the most frequent, chattering, standing and stale
    shelved alarms, priorities against the usual 80/15/5 %, and times to acknowledge and resolve
    (ISA-18.2 / IEC 62682, EEMUA 191). `text` is the same as a Markdown table."""
    until = until or aware_now()
    since = since or until - timedelta(hours=24)
    check_range(since, until, longest=timedelta(days=config.stats_max_span_days))
    report = build_report(await collect_records(store, since), since, until)
    return report_public(report)


def report_public(report: AlarmReport) -> AlarmReportPublic:
    return AlarmReportPublic(
        since=report.since,
        until=report.until,
        activations=report.activations,
        per_10_min=report.per_10_min,
        per_hour=report.per_hour,
        peak_per_10_min=report.peak_per_10_min,
        flood_share=report.flood_share,
        top=[FrequentAlarmPublic(alarm=t.alarm_key, activations=t.activations, share=t.share) for t in report.top],
        chattering=report.chattering,
        standing=report.standing,
        stale_shelved=report.stale_shelved,
        priorities=report.priorities,
        priority_target=report.priority_target,
        time_to_acknowledge=durations_public(report.time_to_acknowledge),
        time_to_resolve=durations_public(report.time_to_resolve),
        text=format_report(report),
    )
