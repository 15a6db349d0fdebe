"""The alarm book: every live alarm of the plant, stepped through a batch of readings in stream order.

The tiers hand over one :class:`KindObservations` per alarm kind: arrays of observation levels
(rows = readings, columns = sensors; one column for plant-wide kinds). The book visits, per
reading, only the alarms that say something (``ALARM``/``HOLD``) or that are live (pending,
active, or with an open record), so a quiet plant costs a few array scans per batch.

Around the per-alarm :func:`~analyzer.alarms.step.step`, the book adds what needs several alarms:

* escalation: a higher-priority alarm of the same group (a sensor's High-High while its High is
  active) announces itself as ``escalated`` (tier 3 is asked again);
* alarm floods (ISA-18.2 / EEMUA 191): more than ``FLOOD_ALARMS`` activations within
  ``FLOOD_WINDOW_S`` of reading time is a flood; every alarm that opens during it records the first
  alarm of the flood in ``flood_id``, so the queue can group them under it;
* maintenance windows: an alarm of a sensor inside an active window is recorded as suppressed
  (still evaluated and recorded, never blocks clearing or resolving);
* shelving expires by reading time.

Everything here is a pure function of the book's state and the batch: any replica folding the same
entries from the same state gets the same alarms.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from analyzer.alarms import operations
from analyzer.alarms.policy import PLANT_KINDS, PolicyTable
from analyzer.alarms.step import Alarm, Level, Observation, Phase, step
from analyzer.catalog.index import SensorIndex
from schemas.alarms import AlarmEvent, AlarmEventKind, AlarmKind, Suppression

FLOOD_ALARMS = 10
FLOOD_WINDOW_S = 600.0
PLANT = "plant"

#: Kinds in the order the book steps them within one reading (fixed: results must not depend on dict order).
KIND_ORDER: tuple[AlarmKind, ...] = tuple(AlarmKind)


def alarm_key(kind: AlarmKind, sensor: str | None) -> str:
    """``high_high:TI-101``; ``forest:plant`` for plant-wide kinds."""
    return f"{kind.value}:{sensor or PLANT}"


class MaintenanceWindow(BaseModel):
    """Planned suppression of some sensors' alarms for a time range, created ahead and audited."""

    model_config = ConfigDict(extra="forbid")

    id: str
    sensors: list[str] = Field(min_length=1)
    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(min_length=1, max_length=500)
    created_by: str
    created_at: AwareDatetime

    def covers(self, sensor: str, at: float) -> bool:
        return sensor in self.sensors and self.start.timestamp() <= at < self.end.timestamp()


@dataclass
class KindObservations:
    """One alarm kind's observations over a batch, from the tiers."""

    kind: AlarmKind
    #: int8 levels (:class:`Level`), shape (rows, sensors) or (rows,) for plant-wide kinds.
    level: np.ndarray
    value: np.ndarray
    deviation: np.ndarray
    #: Observations that skip the on-delay; ``None`` = none do.
    severe: np.ndarray | None = None
    #: ``(row, slot) -> text`` for anomalous observations (built only when needed).
    describe: Callable[[int, int], str] = lambda row, slot: ""
    #: ``(row, slot) -> ((sensor, number), ...)``: z-scores or contributions, evidence for the record.
    evidence: Callable[[int, int], tuple[tuple[str, float], ...]] = lambda row, slot: ()
    #: For plant-wide kinds: ``row -> sensors involved`` (the top contributors).
    sensors: Callable[[int], tuple[str, ...]] = lambda row: ()


@dataclass
class BatchAlarms:
    """What the book decided for a batch."""

    #: Per reading: the records that counted it (ids) and their priorities.
    counted: list[list[tuple[str, AlarmKind, str]]]
    #: Per reading: the (kind, sensor) of every active alarm right after it, when any.
    active_after: list[frozenset[tuple[AlarmKind, str]]] = field(default_factory=list)
    events: list[AlarmEvent] = field(default_factory=list)
    #: Keys of the alarms that changed (to be written back), including those that went idle.
    changed: set[str] = field(default_factory=set)


class AlarmBook:
    """The live alarms (non-idle) of one plant, keyed by alarm key."""

    def __init__(
        self,
        index: SensorIndex,
        policy: PolicyTable,
        alarms: dict[str, Alarm] | None = None,
        *,
        recent_activations: Iterable[tuple[float, str]] = (),
        flood_first: str | None = None,
        windows: Sequence[MaintenanceWindow] = (),
    ) -> None:
        self.index = index
        self.policy = policy
        self.alarms: dict[str, Alarm] = dict(alarms or {})
        self.recent_activations: deque[tuple[float, str]] = deque(recent_activations)
        self.flood_first = flood_first
        self.windows = list(windows)
        # Indexes kept in step with ``alarms`` by ``_store``: which alarms can change on a quiet reading.
        self._live: dict[AlarmKind, set[int]] = {kind: set() for kind in AlarmKind}
        self._active: dict[str, frozenset[tuple[AlarmKind, str]]] = {}
        self._shelved: set[str] = set()
        for alarm in self.alarms.values():
            self._index(alarm)

    # ------------------------------------------------------------------ the batch

    def apply(self, entry_ids: Sequence[str], times: np.ndarray, kinds: Sequence[KindObservations]) -> BatchAlarms:
        outcome = BatchAlarms(counted=[[] for _ in entry_ids])
        by_kind = {k.kind: k for k in kinds}
        # Per kind, the readings where some alarm's condition holds or sits in its deadband: a quiet
        # plant visits no alarm at all unless one is live.
        busy = {
            kind: set(
                np.flatnonzero(
                    o.level >= Level.HOLD if o.level.ndim == 1 else (o.level >= Level.HOLD).any(axis=1)
                ).tolist()
            )
            for kind, o in by_kind.items()
        }
        for row, entry_id in enumerate(entry_ids):
            at = float(times[row])
            if self._shelved:
                self._expire_shelves(at, outcome)
            for kind in KIND_ORDER:
                observed = by_kind.get(kind)
                if observed is None:
                    continue
                live = self._live[kind]
                if row not in busy[kind] and not live:
                    continue
                if kind in PLANT_KINDS:
                    self._visit(kind, None, row, entry_id, at, observed, outcome)
                    continue
                wanted = np.flatnonzero(observed.level[row] >= Level.HOLD).tolist() if row in busy[kind] else []
                for slot in sorted(set(wanted) | live):
                    self._visit(kind, int(slot), row, entry_id, at, observed, outcome)
            outcome.active_after.append(frozenset().union(*self._active.values()) if self._active else frozenset())
        return outcome

    def _index(self, alarm: Alarm) -> None:
        """Keep the per-kind live slots, the active set and the shelved keys in step with ``alarm``."""
        key, kind = alarm.key, alarm.kind
        slot = -1 if kind in PLANT_KINDS else self.index.position.get(alarm.group, -2)
        live = alarm.key in self.alarms and alarm.phase != Phase.IDLE
        if live and slot != -2:
            self._live[kind].add(slot)
        else:
            self._live[kind].discard(slot)
        if live and alarm.phase in (Phase.ACTIVE, Phase.PENDING_OFF):
            self._active[key] = frozenset((kind, sensor) for sensor in alarm.sensors)
        else:
            self._active.pop(key, None)
        if alarm.key in self.alarms and alarm.record is not None and alarm.record.shelf is not None:
            self._shelved.add(key)
        else:
            self._shelved.discard(key)

    def _visit(
        self,
        kind: AlarmKind,
        slot: int | None,
        row: int,
        entry_id: str,
        at: float,
        observed: KindObservations,
        outcome: BatchAlarms,
    ) -> None:
        level = Level(int(observed.level[row] if slot is None else observed.level[row, slot]))
        sensor = None if slot is None else self.index.names[slot]
        key = alarm_key(kind, sensor)
        alarm = self.alarms.get(key)
        if level == Level.NONE or (alarm is None and level != Level.ALARM):
            return
        cell = (row,) if slot is None else (row, slot)
        anomalous = level == Level.ALARM
        observation = Observation(
            entry_id=entry_id,
            at=at,
            level=level,
            value=_finite(observed.value[cell]) if anomalous else None,
            deviation=float(np.nan_to_num(observed.deviation[cell])) if anomalous else 0.0,
            severe=bool(observed.severe[cell]) if (observed.severe is not None and anomalous) else False,
            description=observed.describe(row, -1 if slot is None else slot) if anomalous else "",
            evidence=observed.evidence(row, -1 if slot is None else slot) if anomalous else (),
        )
        if alarm is None:
            sensors = (sensor,) if sensor is not None else (observed.sensors(row) or (PLANT,))
            alarm = Alarm(key=key, kind=kind, sensors=sensors, group=sensor or PLANT)
        elif slot is None and anomalous and alarm.record is None:
            alarm = replace(alarm, sensors=observed.sensors(row) or alarm.sensors)
        before = alarm
        after, events = step(alarm, observation, self.policy.of(kind, slot))
        if after is before:
            return
        after, events = self._decorate(after, events, at)
        self.put(after)
        outcome.changed.add(key)
        outcome.events.extend(events)
        if anomalous and after.phase == Phase.ACTIVE and after.record is not None:
            outcome.counted[row].append((after.record.id, kind, after.record.severity_level.value))

    def _decorate(self, alarm: Alarm, events: list[AlarmEvent], at: float) -> tuple[Alarm, list[AlarmEvent]]:
        """Escalation, floods and maintenance windows, which look beyond one alarm."""
        record = alarm.record
        if record is None or not events:
            return alarm, events
        decorated: list[AlarmEvent] = []
        for event in events:
            if event.kind in (AlarmEventKind.OPENED, AlarmEventKind.REACTIVATED):
                self._count_activation(at, record.id)
                if self.flood_first is not None and record.flood_id is None:
                    record = record.model_copy(update={"flood_id": self.flood_first})
                window = next((w for w in self.windows if any(w.covers(s, at) for s in record.sensors)), None)
                if window is not None:
                    suppression = Suppression(
                        window_id=window.id, by=window.created_by, reason=window.reason, until=window.end
                    )
                    record = record.model_copy(update={"suppression": suppression})
                if event.kind == AlarmEventKind.OPENED and self._escalates(alarm):
                    event = event.model_copy(update={"kind": AlarmEventKind.ESCALATED})
            decorated.append(event)
        return replace(alarm, record=record), decorated

    def _escalates(self, alarm: Alarm) -> bool:
        record = alarm.record
        assert record is not None
        return any(
            other.record is not None
            and other.key != alarm.key
            and other.group == alarm.group
            and other.phase in (Phase.ACTIVE, Phase.PENDING_OFF)
            and other.record.severity_level.rank < record.severity_level.rank
            for other in self.alarms.values()
        )

    def _count_activation(self, at: float, alarm_id: str) -> None:
        recent = self.recent_activations
        recent.append((at, alarm_id))
        while recent and recent[0][0] <= at - FLOOD_WINDOW_S:
            recent.popleft()
        if len(recent) > FLOOD_ALARMS:
            if self.flood_first is None:
                self.flood_first = recent[0][1]
        else:
            self.flood_first = None

    def _expire_shelves(self, at: float, outcome: BatchAlarms) -> None:
        moment = datetime.fromtimestamp(at, tz=UTC)
        for key in sorted(self._shelved):
            alarm = self.alarms[key]
            record = alarm.record
            if record is not None and record.shelf is not None and record.shelf.until <= moment:
                done = operations.expire_shelf(alarm, at=moment)
                self.put(done.alarm)
                outcome.changed.add(key)
                outcome.events.extend(done.events)

    def put(self, alarm: Alarm) -> None:
        """Keep ``alarm`` (or forget it when idle), with the book's indexes."""
        if alarm.idle:
            self.alarms.pop(alarm.key, None)
        else:
            self.alarms[alarm.key] = alarm
        self._index(alarm)

    # ------------------------------------------------------------------ views

    def active_sensors(self, kinds: Iterable[AlarmKind]) -> set[str]:
        """Sensors with a pending or active alarm of these kinds (kept out of the baseline)."""
        wanted = set(kinds)
        return {
            s
            for a in self.alarms.values()
            if a.kind in wanted and a.phase != Phase.IDLE and a.group != PLANT
            for s in a.sensors
        }

    def any_active(self) -> bool:
        return any(a.phase in (Phase.ACTIVE, Phase.PENDING_OFF) for a in self.alarms.values())


def _finite(value: float) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None
