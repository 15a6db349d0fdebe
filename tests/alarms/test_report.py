"""The alarm performance report on a constructed alarm log, against figures computed by hand; and
the command on a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from analyzer.alarms.report import build_report, format_report
from analyzer.cli import app
from analyzer.store.sqlite import SqliteStore
from schemas.alarms import AlarmKind, AlarmRecord, AlarmState, ProcessState, ResolvedAlarm, RootCause, Shelf
from schemas.results import Severity

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)


def _record(
    key: str,
    activations: list[float],
    *,
    severity: Severity = Severity.LOW,
    process: ProcessState = ProcessState.CLEARED,
    ack_after_s: float | None = None,
    chattering: bool = False,
    shelved_at: float | None = None,
) -> AlarmRecord:
    opened = T0 + timedelta(seconds=activations[0])
    sensor = key.split(":")[1]
    return AlarmRecord(
        id=f"{key}@{int(opened.timestamp() * 1000)}-0",
        alarm_key=key,
        kind=AlarmKind(key.split(":")[0]),
        tier="heuristic",
        sensors=[sensor],
        group=sensor,
        severity_level=severity,
        process=process,
        state=AlarmState.UNACK_ACTIVE if process == ProcessState.ACTIVE else AlarmState.UNACK_RTN,
        opened_at=opened,
        last_seen=T0 + timedelta(seconds=activations[-1]),
        first_entry_id="1-0",
        last_entry_id="1-0",
        count=len(activations),
        activations=len(activations),
        activation_times=[(T0 + timedelta(seconds=a)).timestamp() for a in activations],
        chattering=chattering,
        description="d",
        acknowledged_by="op" if ack_after_s is not None else None,
        acknowledged_at=opened + timedelta(seconds=ack_after_s) if ack_after_s is not None else None,
        shelf=Shelf(by="op", at=T0 + timedelta(seconds=shelved_at), until=T0 + timedelta(days=3), reason="r")
        if shelved_at is not None
        else None,
        etag="1",
    )


def _resolved(record: AlarmRecord, after_s: float) -> ResolvedAlarm:
    return ResolvedAlarm(
        **record.model_dump(),
        resolved_by="op",
        resolved_at=record.opened_at + timedelta(seconds=after_s),
        resolution_note="n",
        root_cause=RootCause.UNKNOWN,
    )


def _log() -> list[AlarmRecord | ResolvedAlarm]:
    """A two-hour log (12 intervals of 10 minutes), starting at T0:

    * high:A   low      12 activations in the first interval (a flood on its own: 12 > 10), chattering
    * high:B   medium   1 activation at 00:15, acknowledged after 60 s, resolved after 600 s
    * high_high:C high  1 activation at 00:25, acknowledged after 120 s, resolved after 1,800 s
    * zscore:D critical 2 activations (00:45, 01:05), acknowledged after 30 s, still open, active
    * flatline:E low    opened 30 h before T0, active since: standing; shelved 27 h before the end
    * high:F   low      activations before the period only (not counted)
    """
    a = _record("high:A", [10.0 * k for k in range(12)], chattering=True)
    b = _resolved(_record("high:B", [900.0], severity=Severity.MEDIUM, ack_after_s=60), 600)
    c = _resolved(_record("high_high:C", [1500.0], severity=Severity.HIGH, ack_after_s=120), 1800)
    d = _record("zscore:D", [2700.0, 3900.0], severity=Severity.CRITICAL, process=ProcessState.ACTIVE, ack_after_s=30)
    e = _record("flatline:E", [-30 * 3600.0], process=ProcessState.ACTIVE, shelved_at=-25 * 3600.0)
    f = _record("high:F", [-7200.0, -3600.0])
    return [a, b, c, d, e, f]


def test_the_report_equals_figures_computed_by_hand() -> None:
    report = build_report(_log(), T0, T0 + timedelta(hours=2))
    # activations in the period: A 12 + B 1 + C 1 + D 2 = 16 (E and F are before it)
    assert report.activations == 16
    assert report.per_10_min == round(16 / 12, 4)  # 12 intervals of 10 minutes
    assert report.per_hour == 8.0
    assert report.peak_per_10_min == 12  # A's burst in 00:00-00:10
    assert report.flood_share == round(1 / 12, 4)  # one interval of twelve over 10
    assert [(t.alarm_key, t.activations, t.share) for t in report.top] == [
        ("high:A", 12, 0.75),
        ("zscore:D", 2, 0.125),
        ("high:B", 1, 0.0625),
        ("high_high:C", 1, 0.0625),
    ]
    assert report.chattering == ["high:A"]
    assert report.standing == ["flatline:E"]  # active for 32 h at the end
    assert report.stale_shelved == ["flatline:E"]  # shelved 27 h before the end of the period
    # priorities: low 12 (A), medium 1 (B), high 1 (C) + critical 2 (D) = 3
    assert report.priorities == {"low": 0.75, "medium": 0.0625, "high": 0.1875}
    # acknowledged: B 60 s, C 120 s, D 30 s (opened in the period); resolved: B 600 s, C 1,800 s
    ack = report.time_to_acknowledge
    assert (ack.count, ack.median_s, ack.mean_s) == (3, 60.0, 70.0)
    assert ack.p90_s == pytest.approx(108.0)  # numpy's linear percentile of 30, 60, 120
    done = report.time_to_resolve
    assert (done.count, done.median_s, done.mean_s) == (2, 1200.0, 1200.0)
    table = format_report(report)
    assert "| peak per 10 min | 12 |" in table and "| high:A | 12 | 75.0% |" in table


def test_the_report_command_reads_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    async def seed() -> None:
        store = await SqliteStore.open(tmp_path / "a.db")
        log = _log()
        await store.put_alarms([r for r in log if not isinstance(r, ResolvedAlarm)])
        for record in log:
            if isinstance(record, ResolvedAlarm):
                await store.close_alarm(record)
        await store.close()

    asyncio.run(seed())
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "a.db"))
    monkeypatch.setenv("STORE_BACKEND", "sqlite")
    since, until = T0.isoformat(), (T0 + timedelta(hours=2)).isoformat()
    result = CliRunner().invoke(app, ["report", "--since", since, "--until", until, "--json"])
    assert result.exit_code == 0, result.output
    assert '"activations": 16' in result.output and '"peak_per_10_min": 12' in result.output
    bad = CliRunner().invoke(app, ["report", "--since", "yesterday"])
    assert bad.exit_code == 2 and "neither a duration" in bad.output
