"""The alarm performance report (ISA-18.2 / IEC 62682 section 16, EEMUA 191's key figures).

Built from the alarm records of a period (open and resolved): every activation of every record is
an annunciated alarm (a record's ``activation_times`` keep the most recent ones; the counts use
``activations`` where the times were trimmed).

============================  ========================================================================
figure                        meaning
============================  ========================================================================
per 10 min / per hour         activations in the period divided by its 10-minute / 1-hour intervals
                              (EEMUA 191: about 1 per 10 min is manageable, more than 2 is not)
peak per 10 min               the busiest 10-minute interval
flood share                   share of 10-minute intervals with more than 10 activations
top 10                        the most frequent alarms and their share of all activations
chattering                    records that activated 3 or more times within a minute
standing                      alarms active for more than 24 h at the end of the period
stale shelved                 alarms shelved for more than 24 h at the end of the period
priorities                    activations by priority, against the usual 80 % low, 15 % medium,
                              5 % high (critical counted with high)
acknowledge / resolve times   opened -> acknowledged, opened -> resolved: median, mean, 90th percentile
============================  ========================================================================
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from pydantic import AwareDatetime, BaseModel, Field

from analyzer.store.protocol import AlarmQuery, ResolvedQuery, Store
from schemas.alarms import AlarmRecord, ProcessState, ResolvedAlarm

FLOOD_PER_10_MIN = 10
STANDING_S = 24 * 3600
STALE_SHELF_S = 24 * 3600
PRIORITY_TARGET = {"low": 0.80, "medium": 0.15, "high": 0.05}


class FrequentAlarm(BaseModel):
    alarm_key: str
    activations: int
    share: float


class Durations(BaseModel):
    """Seconds; ``None`` when nothing was measured."""

    count: int
    median_s: float | None = None
    mean_s: float | None = None
    p90_s: float | None = None


class AlarmReport(BaseModel):
    since: AwareDatetime
    until: AwareDatetime
    activations: int
    per_10_min: float
    per_hour: float
    peak_per_10_min: int
    flood_share: float = Field(description="share of 10-minute intervals with more than 10 activations")
    top: list[FrequentAlarm]
    chattering: list[str]
    standing: list[str]
    stale_shelved: list[str]
    priorities: dict[str, float] = Field(description="share of activations by priority (critical counts as high)")
    priority_target: dict[str, float] = Field(default_factory=lambda: dict(PRIORITY_TARGET))
    time_to_acknowledge: Durations
    time_to_resolve: Durations


def _durations(seconds: Sequence[float]) -> Durations:
    if not seconds:
        return Durations(count=0)
    values = np.array(seconds, dtype=float)
    return Durations(
        count=len(values),
        median_s=round(float(np.median(values)), 3),
        mean_s=round(float(values.mean()), 3),
        p90_s=round(float(np.percentile(values, 90)), 3),
    )


def _activation_times(record: AlarmRecord) -> list[float]:
    """Every activation's time: the kept ones, plus the opening time for any trimmed away."""
    times = list(record.activation_times) or [record.opened_at.timestamp()]
    missing = record.activations - len(times)
    return [record.opened_at.timestamp()] * max(missing, 0) + times


def build_report(records: Sequence[AlarmRecord | ResolvedAlarm], since: datetime, until: datetime) -> AlarmReport:
    """The report for ``[since, until)`` from the records (open and resolved) that touch it.

    >>> from datetime import UTC
    >>> build_report([], datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 1, tzinfo=UTC)).per_hour
    0.0
    """
    start, end = since.timestamp(), until.timestamp()
    span = max(end - start, 1.0)
    intervals = max(int(np.ceil(span / 600)), 1)
    per_interval = np.zeros(intervals, dtype=int)
    by_key: Counter[str] = Counter()
    by_priority: Counter[str] = Counter()
    for record in records:
        for moment in _activation_times(record):
            if start <= moment < end:
                per_interval[int((moment - start) // 600)] += 1
                by_key[record.alarm_key] += 1
                priority = record.severity_level.value
                by_priority["high" if priority == "critical" else priority] += 1
    total = int(per_interval.sum())
    acknowledged = [
        (r.acknowledged_at - r.opened_at).total_seconds()
        for r in records
        if r.acknowledged_at is not None and start <= r.opened_at.timestamp() < end
    ]
    resolved = [
        (r.resolved_at - r.opened_at).total_seconds()
        for r in records
        if isinstance(r, ResolvedAlarm) and start <= r.opened_at.timestamp() < end
    ]
    open_now = [r for r in records if not isinstance(r, ResolvedAlarm)]
    return AlarmReport(
        since=since,
        until=until,
        activations=total,
        per_10_min=round(total / intervals, 4),
        per_hour=round(total / (span / 3600), 4),
        peak_per_10_min=int(per_interval.max()),
        flood_share=round(float((per_interval > FLOOD_PER_10_MIN).mean()), 4),
        top=[
            FrequentAlarm(alarm_key=key, activations=n, share=round(n / total, 4))
            for key, n in sorted(by_key.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
        ],
        chattering=sorted({r.alarm_key for r in records if r.chattering}),
        standing=sorted(
            r.alarm_key
            for r in open_now
            if r.process == ProcessState.ACTIVE and end - r.opened_at.timestamp() > STANDING_S
        ),
        stale_shelved=sorted(
            r.alarm_key for r in open_now if r.shelf is not None and end - r.shelf.at.timestamp() > STALE_SHELF_S
        ),
        priorities={p: round(by_priority[p] / total, 4) if total else 0.0 for p in ("low", "medium", "high")},
        time_to_acknowledge=_durations(acknowledged),
        time_to_resolve=_durations(resolved),
    )


def format_report(report: AlarmReport) -> str:
    """A readable table of the report, for the command line and the README."""
    hours = (report.until - report.since) / timedelta(hours=1)
    lines = [
        f"Alarm performance {report.since:%Y-%m-%d %H:%M} .. {report.until:%Y-%m-%d %H:%M} UTC ({hours:g} h)",
        "",
        "| figure | value | guidance |",
        "| --- | --- | --- |",
        f"| activations | {report.activations} | |",
        f"| average per 10 min | {report.per_10_min:.2f} | about 1 manageable, over 2 not (EEMUA 191) |",
        f"| average per hour | {report.per_hour:.2f} | 6 or fewer |",
        f"| peak per 10 min | {report.peak_per_10_min} | 10 or fewer |",
        f"| 10-minute intervals in flood | {report.flood_share:.1%} | under 1 % |",
        f"| chattering alarms | {len(report.chattering)} | 0 |",
        f"| standing alarms (> 24 h) | {len(report.standing)} | 0 |",
        f"| stale shelved alarms (> 24 h) | {len(report.stale_shelved)} | 0 |",
    ]
    for name in ("low", "medium", "high"):
        target = PRIORITY_TARGET[name]
        lines.append(f"| priority {name} | {report.priorities[name]:.1%} | about {target:.0%} |")
    for label, durations in (("acknowledge", report.time_to_acknowledge), ("resolve", report.time_to_resolve)):
        if durations.count:
            lines.append(
                f"| time to {label} (median / p90) | {durations.median_s:.0f} s / {durations.p90_s:.0f} s "
                f"({durations.count}) | |"
            )
        else:
            lines.append(f"| time to {label} | none in the period | |")
    if report.top:
        lines += ["", "| most frequent alarms | activations | share |", "| --- | --- | --- |"]
        lines += [f"| {t.alarm_key} | {t.activations} | {t.share:.1%} |" for t in report.top]
    return "\n".join(lines)


async def collect_records(store: Store, since: datetime) -> list[AlarmRecord | ResolvedAlarm]:
    """The records that may have activations after ``since``: every open one, and those resolved since."""
    records: list[AlarmRecord | ResolvedAlarm] = []
    continuation = None
    while True:
        page = await store.query_alarms(AlarmQuery(limit=1000, continuation=continuation))
        records += page.items
        if (continuation := page.continuation) is None:
            break
    while True:
        resolved = await store.query_resolved(ResolvedQuery(start=since, limit=1000, continuation=continuation))
        records += resolved.items
        if (continuation := resolved.continuation) is None:
            break
    return records
