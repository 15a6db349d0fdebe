"""The alarm state machine: ``step(alarm, observation, policy) -> (alarm, events)``. No I/O.

Each evaluation of an alarm's condition is an :class:`Observation`:

* ``ALARM``: the condition holds (beyond the limit, |z| past the confirmation level, flatline, ...);
* ``HOLD``: inside the deadband: not beyond the limit, not back past it by the deadband either;
* ``CLEAR``: back to normal past the deadband;
* ``NONE``: not evaluated (sensor absent, a repeated hourly value, no history yet): nothing changes.

Process phases (per alarm, :class:`Phase`)::

    IDLE --ALARM--> PENDING_ON --(on-delay met, or a severe observation)--> ACTIVE
    ACTIVE --CLEAR--> PENDING_OFF --(off-delay met)--> IDLE (record cleared, kept until resolved)
    PENDING_ON --HOLD/CLEAR--> IDLE;   PENDING_OFF --ALARM/HOLD--> ACTIVE

Activation opens a record (:class:`~schemas.alarms.AlarmRecord`) or, when the alarm's record is
still unresolved, re-activates it (``activations`` + 1, unacknowledged again: ISA-18.2 asks for a
new acknowledgement). Observations carry the stream entry id; one at or before the last applied
entry is ignored, so replaying an entry changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import IntEnum

from analyzer.alarms.policy import AlarmPolicy
from analyzer.keys import entry_order
from schemas.alarms import (
    TIER_OF_KIND,
    AlarmEvent,
    AlarmEventKind,
    AlarmKind,
    AlarmRecord,
    AlarmState,
    ProcessState,
    Transition,
)

#: An alarm that activated this many times within ``CHATTER_WINDOW_S`` is chattering (ISA-18.2).
CHATTER_ACTIVATIONS = 3
CHATTER_WINDOW_S = 60.0
#: An activation that clears within this time is fleeting.
FLEETING_S = 60.0
#: Activation times and history entries kept per record (the counters keep the totals).
KEEP_ACTIVATIONS = 100
KEEP_HISTORY = 200


class Level(IntEnum):
    NONE = -1
    CLEAR = 0
    HOLD = 1
    ALARM = 2


class Phase(IntEnum):
    IDLE = 0
    PENDING_ON = 1
    ACTIVE = 2
    PENDING_OFF = 3


@dataclass(frozen=True, slots=True)
class Observation:
    """One evaluation of an alarm's condition in one reading."""

    entry_id: str
    at: float  # reading time, epoch seconds
    level: Level
    value: float | None = None
    #: How far out: distance beyond the limit, |z|, minutes unchanged, the score.
    deviation: float = 0.0
    #: Skips the on-delay (e.g. |z| beyond the immediate level).
    severe: bool = False
    description: str = ""
    evidence: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Alarm:
    """One alarm's live state: the process phase, its pending run and its open record, if any."""

    key: str
    kind: AlarmKind
    sensors: tuple[str, ...]
    group: str
    phase: Phase = Phase.IDLE
    #: Consecutive samples of the pending transition, and the reading time the run began.
    run: int = 0
    run_since: float = 0.0
    #: The last entry applied (replays are ignored).
    last_entry_id: str | None = None
    record: AlarmRecord | None = None

    @property
    def idle(self) -> bool:
        """Nothing worth keeping: no pending run, no record."""
        return self.phase == Phase.IDLE and self.record is None


def _moment(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=UTC)


def isa_state(process: ProcessState, acknowledged: bool) -> AlarmState:
    if process == ProcessState.ACTIVE:
        return AlarmState.ACK_ACTIVE if acknowledged else AlarmState.UNACK_ACTIVE
    return AlarmState.ACK_RTN if acknowledged else AlarmState.UNACK_RTN


def _history(record: AlarmRecord, *entries: Transition) -> list[Transition]:
    return [*record.history, *entries][-KEEP_HISTORY:]


def _event(kind: AlarmEventKind, record: AlarmRecord, at: float, entry_id: str | None) -> AlarmEvent:
    return AlarmEvent(
        kind=kind,
        alarm_id=record.id,
        alarm_key=record.alarm_key,
        severity_level=record.severity_level,
        group=record.group,
        at=_moment(at),
        entry_id=entry_id,
    )


def step(alarm: Alarm, observation: Observation, policy: AlarmPolicy) -> tuple[Alarm, list[AlarmEvent]]:
    """Apply one observation; returns the new state and what happened (opened, cleared, ...)."""
    if observation.level == Level.NONE or not policy.enabled:
        return alarm, []
    if alarm.last_entry_id is not None and entry_order(observation.entry_id) <= entry_order(alarm.last_entry_id):
        return alarm, []  # a replay, or an entry older than one already applied
    alarm = replace(alarm, last_entry_id=observation.entry_id)
    level, at = observation.level, observation.at
    if alarm.phase == Phase.IDLE:
        if level != Level.ALARM:
            return alarm, []
        alarm = replace(alarm, phase=Phase.PENDING_ON, run=0, run_since=at)
    if alarm.phase == Phase.PENDING_ON:
        if level != Level.ALARM:
            return replace(alarm, phase=Phase.IDLE, run=0), []
        run = alarm.run + 1
        due = run >= policy.on_delay_samples and at - alarm.run_since >= policy.on_delay_s
        if not (due or observation.severe):
            return replace(alarm, run=run), []
        return _activate(replace(alarm, run=0), observation, policy, samples=run)
    if level == Level.ALARM:
        return _count(replace(alarm, phase=Phase.ACTIVE, run=0), observation), []
    if level == Level.HOLD:
        return replace(alarm, phase=Phase.ACTIVE, run=0), []
    # CLEAR while active or pending off
    if alarm.phase == Phase.ACTIVE:
        alarm = replace(alarm, phase=Phase.PENDING_OFF, run=0, run_since=at)
    run = alarm.run + 1
    if run >= policy.off_delay_samples and at - alarm.run_since >= policy.off_delay_s:
        return _clear(replace(alarm, phase=Phase.IDLE, run=0), observation)
    return replace(alarm, run=run), []


def _activate(
    alarm: Alarm, observation: Observation, policy: AlarmPolicy, *, samples: int
) -> tuple[Alarm, list[AlarmEvent]]:
    """Open a record, or re-activate the unresolved one; the ``samples`` of the on-delay count."""
    at, entry_id = observation.at, observation.entry_id
    record = alarm.record
    if record is None:
        record = AlarmRecord(
            id=f"{alarm.key}@{entry_id}",
            alarm_key=alarm.key,
            kind=alarm.kind,
            tier=TIER_OF_KIND[alarm.kind],
            sensors=list(alarm.sensors),
            group=alarm.group,
            severity_level=policy.priority,
            opened_at=_moment(at),
            last_seen=_moment(at),
            first_entry_id=entry_id,
            last_entry_id=entry_id,
            count=samples,
            activation_times=[at],
            last_value=observation.value,
            peak_value=observation.value,
            peak_deviation=observation.deviation,
            description=observation.description,
            evidence=dict(observation.evidence),
            history=[Transition(at=_moment(at), action="activated", entry_id=entry_id)],
            etag="1",
        )
        return replace(alarm, phase=Phase.ACTIVE, record=record), [_event(AlarmEventKind.OPENED, record, at, entry_id)]
    recent = [t for t in record.activation_times if at - t < CHATTER_WINDOW_S] + [at]
    record = record.model_copy(
        update={
            "process": ProcessState.ACTIVE,
            "state": AlarmState.UNACK_ACTIVE,
            "acknowledged_by": None,
            "acknowledged_at": None,
            "cleared_at": None,
            "activations": record.activations + 1,
            "count": record.count + samples - 1,  # _count adds the activating reading
            "activation_times": [*record.activation_times, at][-KEEP_ACTIVATIONS:],
            "chattering": record.chattering or len(recent) >= CHATTER_ACTIVATIONS,
            "history": _history(record, Transition(at=_moment(at), action="reactivated", entry_id=entry_id)),
        }
    )
    alarm = _count(replace(alarm, phase=Phase.ACTIVE, record=record), observation)
    assert alarm.record is not None
    return alarm, [_event(AlarmEventKind.REACTIVATED, alarm.record, at, entry_id)]


def _count(alarm: Alarm, observation: Observation) -> Alarm:
    """One more anomalous reading in the active record."""
    record = alarm.record
    assert record is not None, "an active alarm has a record"
    update: dict[str, object] = {
        "count": record.count + 1,
        "last_seen": _moment(observation.at),
        "last_entry_id": observation.entry_id,
        "last_value": observation.value,
        "description": observation.description or record.description,
        "evidence": dict(observation.evidence) or record.evidence,
        "revision": record.revision + 1,
    }
    if observation.deviation > record.peak_deviation:
        update["peak_deviation"] = observation.deviation
        update["peak_value"] = observation.value
    return replace(alarm, record=record.model_copy(update=update))


def _clear(alarm: Alarm, observation: Observation) -> tuple[Alarm, list[AlarmEvent]]:
    record = alarm.record
    assert record is not None
    at = observation.at
    last_activation = record.activation_times[-1] if record.activation_times else record.opened_at.timestamp()
    record = record.model_copy(
        update={
            "process": ProcessState.CLEARED,
            "state": isa_state(ProcessState.CLEARED, record.acknowledged_by is not None),
            "cleared_at": _moment(at),
            "fleeting": record.fleeting + (1 if at - last_activation < FLEETING_S else 0),
            "history": _history(record, Transition(at=_moment(at), action="cleared", entry_id=observation.entry_id)),
            "revision": record.revision + 1,
        }
    )
    return replace(alarm, record=record), [_event(AlarmEventKind.CLEARED, record, at, observation.entry_id)]
