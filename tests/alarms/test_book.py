"""The alarm book: escalation within a sensor's group, alarm floods, maintenance windows, shelving
that expires, and the catalogue's alarm policy."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from analyzer.alarms import operations
from analyzer.alarms.book import FLOOD_ALARMS, AlarmBook, KindObservations, MaintenanceWindow
from analyzer.alarms.policy import PolicyTable
from analyzer.catalog.index import SensorIndex
from schemas.alarms import AlarmEventKind, AlarmKind
from schemas.catalog import AlarmSettings, SensorCatalog, SensorSpec
from schemas.results import Severity

T0 = 1_800_000_000.0


def _index(n: int = 1, **overrides: object) -> SensorIndex:
    sensors = [
        SensorSpec(name=f"TI-{i}", unit="C", description="t", low=0, high=100, high_high=110, **overrides)  # type: ignore[arg-type]
        for i in range(n)
    ]
    return SensorIndex.from_catalog(SensorCatalog(plant="p", sensors=sensors))


def _limits(values: np.ndarray, index: SensorIndex) -> list[KindObservations]:
    from analyzer.analysis.observations import Observer
    from analyzer.tiers.heuristic import HeuristicTier

    return Observer(index, PolicyTable(index), HeuristicTier(index)).limits(values)


def _ids(n: int, start: int = 0) -> list[str]:
    return [f"{int(T0 * 1000) + (start + k) * 10_000}-0" for k in range(n)]


def test_high_high_after_high_escalates_and_both_are_records_with_fixed_priorities() -> None:
    index = _index()
    book = AlarmBook(index, PolicyTable(index))
    values = np.array([[105.0], [112.0], [112.0]])
    outcome = book.apply(_ids(3), T0 + 10 * np.arange(3), _limits(values, index))
    kinds = [(e.kind, e.alarm_key) for e in outcome.events]
    assert kinds == [(AlarmEventKind.OPENED, "high:TI-0"), (AlarmEventKind.ESCALATED, "high_high:TI-0")]
    high, high_high = book.alarms["high:TI-0"].record, book.alarms["high_high:TI-0"].record
    assert high is not None and high_high is not None
    assert (high.severity_level, high_high.severity_level) == (Severity.MEDIUM, Severity.HIGH)
    assert high.group == high_high.group == "TI-0"
    assert [len(c) for c in outcome.counted] == [1, 2, 2]


def test_a_flood_groups_its_alarms_under_the_first() -> None:
    index = _index(FLOOD_ALARMS + 3)
    book = AlarmBook(index, PolicyTable(index))
    n = len(index)
    values = np.full((n, n), 50.0)
    for k in range(n):  # one more sensor above High every 10 s
        values[k:, k] = 105.0
    outcome = book.apply(_ids(n), T0 + 10 * np.arange(n), _limits(values, index))
    opened = [e for e in outcome.events if e.kind == AlarmEventKind.OPENED]
    assert len(opened) == n
    records = [book.alarms[f"high:TI-{k}"].record for k in range(n)]
    first = records[0]
    assert first is not None
    # the eleventh activation within 10 minutes starts the flood; it and later ones point at the first
    assert all(r is not None and r.flood_id is None for r in records[:FLOOD_ALARMS])
    assert all(r is not None and r.flood_id == first.id for r in records[FLOOD_ALARMS:])


def test_a_maintenance_window_suppresses_without_stopping_evaluation() -> None:
    index = _index(2)
    window = MaintenanceWindow(
        id="mw-1",
        sensors=["TI-1"],
        start=datetime.fromtimestamp(T0, UTC),
        end=datetime.fromtimestamp(T0 + 3600, UTC),
        reason="heat exchanger cleaning",
        created_by="admin",
        created_at=datetime.fromtimestamp(T0 - 86400, UTC),
    )
    book = AlarmBook(index, PolicyTable(index), windows=[window])
    values = np.array([[105.0, 105.0], [50.0, 50.0], [50.0, 50.0], [50.0, 50.0]])
    outcome = book.apply(_ids(4), T0 + 10 * np.arange(4), _limits(values, index))
    suppressed = book.alarms["high:TI-1"].record
    plain = book.alarms["high:TI-0"].record
    assert suppressed is not None and suppressed.suppression is not None and suppressed.suppression.window_id == "mw-1"
    assert plain is not None and plain.suppression is None
    assert suppressed.process == plain.process == "cleared"  # still evaluated, clears like any other
    assert len(outcome.counted[0]) == 2  # both readings counted


def test_shelving_expires_by_reading_time() -> None:
    index = _index()
    book = AlarmBook(index, PolicyTable(index))
    book.apply(_ids(1), np.array([T0]), _limits(np.array([[105.0]]), index))
    alarm = book.alarms["high:TI-0"]
    until = datetime.fromtimestamp(T0 + 60, UTC)
    book.put(operations.shelve(alarm, by="op", at=datetime.fromtimestamp(T0, UTC), until=until, reason="known").alarm)
    outcome = book.apply(_ids(1, 3), np.array([T0 + 30]), _limits(np.array([[105.0]]), index))
    assert book.alarms[alarm.key].record.shelf is not None  # type: ignore[union-attr]
    outcome = book.apply(_ids(1, 7), np.array([T0 + 70]), _limits(np.array([[105.0]]), index))
    assert book.alarms[alarm.key].record.shelf is None  # type: ignore[union-attr]
    assert [e.kind for e in outcome.events] == [AlarmEventKind.UNSHELVED]


def test_the_catalogue_sets_priority_deadband_and_delays_per_alarm() -> None:
    override = {AlarmKind.HIGH: AlarmSettings(priority=Severity.LOW, deadband=3.0, on_delay_samples=2)}
    index = SensorIndex.from_catalog(
        SensorCatalog(
            plant="p",
            sensors=[
                SensorSpec(name="A", unit="C", description="a", low=0, high=100, alarms=override),
                SensorSpec(name="B", unit="C", description="b", low=0, high=100, core=True),
            ],
            alarm_defaults={AlarmKind.HIGH: AlarmSettings(off_delay_samples=5)},
        )
    )
    table = PolicyTable(index)
    a, b = table.of(AlarmKind.HIGH, 0), table.of(AlarmKind.HIGH, 1)
    assert (a.priority, a.deadband, a.on_delay_samples, a.off_delay_samples) == (Severity.LOW, 3.0, 2, 5)
    assert (b.priority, b.deadband, b.on_delay_samples, b.off_delay_samples) == (Severity.HIGH, 2.0, 1, 5)
    assert table.of(AlarmKind.FOREST, None).on_delay_samples == 3


def test_a_hundred_quiet_readings_visit_no_alarm() -> None:
    index = _index(100)
    book = AlarmBook(index, PolicyTable(index))
    values = np.full((100, 100), 50.0)
    outcome = book.apply(_ids(100), T0 + 10 * np.arange(100), _limits(values, index))
    assert outcome.changed == set() and outcome.events == [] and book.alarms == {}
