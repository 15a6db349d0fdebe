"""Operator transitions of an alarm: acknowledge, shelve, unshelve, resolve, reopen; and tier 3's
context. Pure functions of the live :class:`~analyzer.alarms.step.Alarm`, like :func:`step`.

Each operator action gives the record a new ``etag`` (what operators send back in ``If-Match``)
and a history entry; tier 3's context changes neither the etag nor the ISA state. Asking for the
state the record is already in is a no-op (``changed`` False), so a repeated request is harmless.

Resolving closes the occurrence: the live alarm goes back to idle with no record, so the next
activation opens a new record, even while the condition still holds (the operator sees it come
back; shelving is the tool for hiding a standing alarm for a while).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from analyzer.alarms.step import Alarm, Phase, _event, isa_state
from schemas.alarms import (
    AlarmEvent,
    AlarmEventKind,
    AlarmRecord,
    ProcessState,
    ResolvedAlarm,
    RootCause,
    Shelf,
    Transition,
)
from schemas.llm import LLMContext

#: Longest shelving an operator may ask for (ISA-18.2 wants shelving time-limited).
MAX_SHELVE_S = 7 * 24 * 3600


class TransitionError(ValueError):
    """The action is not possible in the alarm's current state; the message says why."""


@dataclass(frozen=True, slots=True)
class Outcome:
    alarm: Alarm
    events: list[AlarmEvent]
    changed: bool
    resolved: ResolvedAlarm | None = None


def _record(alarm: Alarm) -> AlarmRecord:
    if alarm.record is None:
        raise TransitionError(f"alarm {alarm.key} has no open anomaly")
    return alarm.record


def _operator_change(record: AlarmRecord, transition: Transition, **update: object) -> AlarmRecord:
    history = [*record.history, transition][-200:]
    return record.model_copy(
        update={**update, "history": history, "revision": record.revision + 1, "etag": str(int(record.etag) + 1)}
    )


def acknowledge(alarm: Alarm, *, by: str, at: datetime, note: str | None = None) -> Outcome:
    record = _record(alarm)
    if record.acknowledged_by is not None:
        return Outcome(alarm, [], changed=False)
    record = _operator_change(
        record,
        Transition(at=at, action="acknowledged", by=by, note=note),
        acknowledged_by=by,
        acknowledged_at=at,
        state=isa_state(record.process, acknowledged=True),
    )
    return Outcome(
        replace(alarm, record=record), [_event(AlarmEventKind.ACKNOWLEDGED, record, at.timestamp(), None)], True
    )


def shelve(alarm: Alarm, *, by: str, at: datetime, until: datetime, reason: str) -> Outcome:
    record = _record(alarm)
    seconds = (until - at).total_seconds()
    if seconds <= 0:
        raise TransitionError(f"shelve until {until.isoformat()} is not in the future")
    if seconds > MAX_SHELVE_S:
        raise TransitionError(f"shelving is limited to {MAX_SHELVE_S // 3600} h; asked for {seconds / 3600:.1f} h")
    shelf = Shelf(by=by, at=at, until=until, reason=reason)
    if record.shelf is not None and record.shelf.until == until and record.shelf.reason == reason:
        return Outcome(alarm, [], changed=False)
    record = _operator_change(
        record, Transition(at=at, action="shelved", by=by, note=f"until {until.isoformat()}: {reason}"), shelf=shelf
    )
    return Outcome(replace(alarm, record=record), [_event(AlarmEventKind.SHELVED, record, at.timestamp(), None)], True)


def unshelve(alarm: Alarm, *, by: str, at: datetime, note: str | None = None) -> Outcome:
    record = _record(alarm)
    if record.shelf is None:
        return Outcome(alarm, [], changed=False)
    record = _operator_change(record, Transition(at=at, action="unshelved", by=by, note=note), shelf=None)
    return Outcome(
        replace(alarm, record=record), [_event(AlarmEventKind.UNSHELVED, record, at.timestamp(), None)], True
    )


def expire_shelf(alarm: Alarm, *, at: datetime) -> Outcome:
    """Unshelve automatically once the shelving time is over."""
    record = alarm.record
    if record is None or record.shelf is None or record.shelf.until > at:
        return Outcome(alarm, [], changed=False)
    return unshelve(alarm, by="system", at=at, note="shelving time expired")


def resolve(alarm: Alarm, *, by: str, at: datetime, note: str, root_cause: RootCause) -> Outcome:
    record = _record(alarm)
    closed = _operator_change(record, Transition(at=at, action="resolved", by=by, note=note))
    resolved = ResolvedAlarm(
        **closed.model_dump(), resolved_by=by, resolved_at=at, resolution_note=note, root_cause=root_cause
    )
    idle = replace(alarm, record=None, phase=Phase.IDLE, run=0)
    return Outcome(idle, [_event(AlarmEventKind.RESOLVED, resolved, at.timestamp(), None)], True, resolved)


def reopen(alarm: Alarm, resolved: ResolvedAlarm, *, by: str, at: datetime, note: str) -> Outcome:
    """Put a resolved occurrence back in the queue, keeping its history."""
    if alarm.record is not None:
        if alarm.record.id == resolved.id:
            return Outcome(alarm, [], changed=False)
        raise TransitionError(
            f"alarm {alarm.key} already has a newer open anomaly {alarm.record.id}; act on that one instead"
        )
    fields = resolved.model_dump(exclude={"resolved_by", "resolved_at", "resolution_note", "root_cause"})
    record = _operator_change(
        AlarmRecord(**fields),
        Transition(at=at, action="reopened", by=by, note=note),
        process=ProcessState.CLEARED,
        state=isa_state(ProcessState.CLEARED, acknowledged=False),
        acknowledged_by=None,
        acknowledged_at=None,
    )
    return Outcome(
        replace(alarm, record=record, phase=Phase.IDLE, run=0),
        [_event(AlarmEventKind.REOPENED, record, at.timestamp(), None)],
        True,
    )


def explain(alarm: Alarm, context: LLMContext, *, at: datetime) -> Outcome:
    """Attach tier 3's context; the etag stays (it is not an operator action)."""
    record = _record(alarm)
    history = [*record.history, Transition(at=at, action="explained", by=context.provider)][-200:]
    record = record.model_copy(update={"llm": context, "history": history, "revision": record.revision + 1})
    return Outcome(
        replace(alarm, record=record), [_event(AlarmEventKind.EXPLAINED, record, at.timestamp(), None)], True
    )
