"""Operator actions on alarms, as the operator API and tier 3 call them.

Each action reads the live alarm from Redis, applies the pure transition
(:mod:`analyzer.alarms.operations`) and writes it back with one script that succeeds only if the
alarm is still what was read (compare-and-set on its stored form). The same script bumps the fold's
``epoch``, so a fold computed on the alarm as it was before is refused and folded again: an
acknowledgement never loses a reading the worker counted at the same moment, and never waits for
it. Then the record is written to the store.

``if_match`` is the record's ``etag`` as the operator last saw it: if another operator acted since,
the action fails with :class:`AlarmConflict` carrying the current record (HTTP 409). Without it, an
action that asks for the state the record is already in changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import cast

import orjson
from redis.asyncio import Redis

from analyzer.alarms import operations
from analyzer.alarms.book import MaintenanceWindow
from analyzer.alarms.codec import dump_alarm, load_alarm
from analyzer.alarms.limits import AcceptedLimits, AcceptedOperatingPoint
from analyzer.alarms.operations import Outcome, TransitionError
from analyzer.alarms.projection import AlarmProjector
from analyzer.alarms.step import Alarm
from analyzer.keys import RedisKeys
from analyzer.store.protocol import Store
from schemas.alarms import AlarmRecord, ResolvedAlarm, RootCause
from schemas.catalog import SensorCatalog
from schemas.llm import LLMContext

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 20

#: KEYS: alarms hash, fold hash, dirty set, events stream. ARGV: alarm key, expected JSON, new JSON
#: ('' = delete), events maxlen, then event JSONs.
_TRANSITION = """
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
redis.call('HINCRBY', KEYS[2], 'epoch', 1)
redis.call('SADD', KEYS[3], ARGV[1])
for i = 5, #ARGV do redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[4], '*', 'event', ARGV[i]) end
return 1
"""

#: Operator configuration of the fold (maintenance windows, accepted limits): compare-and-set on one
#: field of the fold's hash, bumping its epoch (it changes verdicts from here on) and, when given,
#: appending an audit record. KEYS: fold hash, audit stream. ARGV: field, new JSON, expected JSON
#: ('' = none), audit JSON ('' = none).
_CONFIGURE = """
local current = redis.call('HGET', KEYS[1], ARGV[1]) or ''
if current ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[1], 'epoch', 1)
if ARGV[4] ~= '' then redis.call('XADD', KEYS[2], '*', 'record', ARGV[4]) end
return 1
"""


class AlarmNotFound(LookupError):
    pass


class AlarmConflict(RuntimeError):
    """Another operator changed the record since ``If-Match``'s etag; ``current`` is how it is now."""

    def __init__(self, message: str, current: AlarmRecord | ResolvedAlarm) -> None:
        super().__init__(message)
        self.current = current


def _key_of(alarm_id: str) -> str:
    key, sep, _ = alarm_id.partition("@")
    if not sep or not key:
        raise AlarmNotFound(f"{alarm_id!r} is not an alarm record id (expected '<alarm key>@<entry id>')")
    return key


class AlarmService:
    def __init__(self, redis: Redis, keys: RedisKeys, store: Store, projector: AlarmProjector) -> None:
        self.redis = redis
        self.keys = keys
        self.store = store
        self.projector = projector
        self._transition = redis.register_script(_TRANSITION)
        self._configure = redis.register_script(_CONFIGURE)

    # ------------------------------------------------------------------ reading

    async def _live(self, alarm_id: str) -> tuple[Alarm | None, bytes | str | None]:
        raw = cast(bytes | str | None, await self.redis.hget(self.keys.alarms, _key_of(alarm_id)))
        return (load_alarm(raw) if raw is not None else None), raw

    async def get(self, alarm_id: str) -> AlarmRecord | ResolvedAlarm:
        """The record as it is now: live if open, else from the resolved store."""
        alarm, _ = await self._live(alarm_id)
        if alarm is not None and alarm.record is not None and alarm.record.id == alarm_id:
            return alarm.record
        resolved = await self.store.get_resolved(alarm_id)
        if resolved is not None:
            return resolved
        stored = await self.store.get_alarm(alarm_id)
        if stored is not None:
            return stored
        raise AlarmNotFound(f"no anomaly {alarm_id!r}")

    # ------------------------------------------------------------------ operator actions

    async def acknowledge(
        self, alarm_id: str, *, by: str, note: str | None = None, if_match: str | None = None
    ) -> AlarmRecord:
        outcome = await self._apply(
            alarm_id, if_match, lambda a, now: operations.acknowledge(a, by=by, at=now, note=note)
        )
        assert outcome.alarm.record is not None
        return outcome.alarm.record

    async def shelve(
        self, alarm_id: str, *, by: str, until: datetime, reason: str, if_match: str | None = None
    ) -> AlarmRecord:
        outcome = await self._apply(
            alarm_id, if_match, lambda a, now: operations.shelve(a, by=by, at=now, until=until, reason=reason)
        )
        assert outcome.alarm.record is not None
        return outcome.alarm.record

    async def unshelve(
        self, alarm_id: str, *, by: str, note: str | None = None, if_match: str | None = None
    ) -> AlarmRecord:
        outcome = await self._apply(alarm_id, if_match, lambda a, now: operations.unshelve(a, by=by, at=now, note=note))
        assert outcome.alarm.record is not None
        return outcome.alarm.record

    async def resolve(
        self, alarm_id: str, *, by: str, note: str, root_cause: RootCause, if_match: str | None = None
    ) -> ResolvedAlarm:
        try:
            outcome = await self._apply(
                alarm_id,
                if_match,
                lambda a, now: operations.resolve(a, by=by, at=now, note=note, root_cause=root_cause),
            )
        except AlarmNotFound:
            resolved = await self.store.get_resolved(alarm_id)
            if resolved is None:
                raise
            same = (resolved.resolved_by, resolved.resolution_note, resolved.root_cause) == (by, note, root_cause)
            if if_match is not None and not same:
                raise AlarmConflict(
                    f"anomaly {alarm_id} was resolved by {resolved.resolved_by} at {resolved.resolved_at.isoformat()}",
                    resolved,
                ) from None
            await self.store.close_alarm(resolved)  # complete an interrupted resolve; harmless otherwise
            return resolved
        assert outcome.resolved is not None
        return outcome.resolved

    async def reopen(self, alarm_id: str, *, by: str, note: str) -> AlarmRecord:
        for _ in range(MAX_ATTEMPTS):
            resolved = await self.store.get_resolved(alarm_id)
            alarm, raw = await self._live(alarm_id)
            if resolved is None:
                if alarm is not None and alarm.record is not None and alarm.record.id == alarm_id:
                    return alarm.record  # open already: nothing to do
                raise AlarmNotFound(f"no resolved anomaly {alarm_id!r}")
            live = alarm or _idle_alarm(resolved)
            outcome = operations.reopen(live, resolved, by=by, at=datetime.now(UTC), note=note)
            if await self._commit(live.key, raw, outcome):
                assert outcome.alarm.record is not None
                await self.store.reopen_alarm(outcome.alarm.record, resolved.resolved_by)
                await self.redis.srem(self.keys.alarms_dirty, live.key)
                return outcome.alarm.record
        raise TransitionError(f"anomaly {alarm_id} kept changing; try again")

    async def explain(self, alarm_id: str, context: LLMContext) -> AlarmRecord | None:
        """Tier 3's context for the record; ``None`` if the record was resolved meanwhile."""
        try:
            outcome = await self._apply(alarm_id, None, lambda a, now: operations.explain(a, context, at=now))
        except AlarmNotFound:
            return None
        return outcome.alarm.record

    async def _apply(
        self, alarm_id: str, if_match: str | None, action: Callable[[Alarm, datetime], Outcome]
    ) -> Outcome:
        for _ in range(MAX_ATTEMPTS):
            alarm, raw = await self._live(alarm_id)
            if alarm is None or alarm.record is None or alarm.record.id != alarm_id:
                raise AlarmNotFound(f"no open anomaly {alarm_id!r}")
            if if_match is not None and if_match.strip('"') != alarm.record.etag:
                raise AlarmConflict(
                    f"anomaly {alarm_id} was changed by someone else (etag {alarm.record.etag}, "
                    f"you sent {if_match}); reload it and decide again",
                    alarm.record,
                )
            outcome = action(alarm, datetime.now(UTC))
            if not outcome.changed:
                return outcome
            if await self._commit(alarm.key, raw, outcome):
                if outcome.resolved is not None:
                    await self.store.close_alarm(outcome.resolved)
                elif outcome.alarm.record is not None:
                    await self.store.put_alarms([outcome.alarm.record])
                await self.redis.srem(self.keys.alarms_dirty, alarm.key)
                return outcome
            log.debug("alarm %s changed while %s acted on it; reading it again", alarm.key, alarm_id)
        raise TransitionError(f"anomaly {alarm_id} kept changing; try again")

    async def _commit(self, key: str, expected: bytes | str | None, outcome: Outcome) -> bool:
        new = b"" if outcome.alarm.idle else dump_alarm(outcome.alarm)
        events = [e.model_dump_json() for e in outcome.events]
        done = await self._transition(
            keys=[self.keys.alarms, self.keys.fold, self.keys.alarms_dirty, self.keys.alarm_events],
            args=[key, expected if expected is not None else "", new, 10_000, *events],
        )
        return bool(int(done))

    # ------------------------------------------------------------------ maintenance windows

    async def windows(self) -> list[MaintenanceWindow]:
        raw = await self.redis.hget(self.keys.fold, "windows")
        return [MaintenanceWindow.model_validate(w) for w in orjson.loads(raw)] if raw else []

    async def set_windows(
        self, change: Callable[[list[MaintenanceWindow]], list[MaintenanceWindow]]
    ) -> list[MaintenanceWindow]:
        """Change the maintenance windows atomically (bumps the fold's epoch: they change verdicts)."""
        for _ in range(MAX_ATTEMPTS):
            raw = cast(bytes | str | None, await self.redis.hget(self.keys.fold, "windows"))
            current = [MaintenanceWindow.model_validate(w) for w in orjson.loads(raw)] if raw else []
            updated = change(current)
            payload = orjson.dumps([w.model_dump(mode="json") for w in updated])
            if await self._configure(
                keys=[self.keys.fold, self.keys.limits_audit], args=["windows", payload, raw or "", ""]
            ):
                return updated
        raise TransitionError("maintenance windows kept changing; try again")

    # ------------------------------------------------------------------ learned limits

    async def accepted_limits(self) -> dict[str, AcceptedLimits]:
        raw = await self.redis.hget(self.keys.fold, "limits")
        return {k: AcceptedLimits.model_validate(v) for k, v in orjson.loads(raw).items()} if raw else {}

    async def accept_limits(self, catalog: SensorCatalog, accepted: AcceptedLimits) -> AcceptedLimits:
        """An admin accepts learned limits for a sensor the catalogue gives none; audited, and applied by
        every replica from the same point of the stream on (the fold's epoch moves)."""
        spec = catalog.by_name().get(accepted.sensor)
        if spec is None:
            raise AlarmNotFound(f"no sensor {accepted.sensor!r} in the catalogue")
        if any(getattr(spec, name) is not None for name in ("low_low", "low", "high", "high_high")):
            raise TransitionError(
                f"{accepted.sensor} has alarm limits in the catalogue; change them there (learned limits are "
                "for sensors without any)"
            )
        for _ in range(MAX_ATTEMPTS):
            raw = cast(bytes | str | None, await self.redis.hget(self.keys.fold, "limits"))
            current = orjson.loads(raw) if raw else {}
            current[accepted.sensor] = accepted.model_dump(mode="json")
            audit = orjson.dumps({"action": "accepted", **accepted.model_dump(mode="json")})
            args: list[bytes | str] = ["limits", orjson.dumps(current), raw or "", audit]
            if await self._configure(keys=[self.keys.fold, self.keys.limits_audit], args=args):
                return accepted
        raise TransitionError("accepted limits kept changing; try again")

    async def accept_operating_point(self, catalog: SensorCatalog, accepted: AcceptedOperatingPoint) -> None:
        """Accept a sensor's current level as its new normal: audited, and every replica restarts that
        sensor's tier 2 baseline at the first entry folded after it (the fold's epoch moves)."""
        if accepted.sensor not in catalog.by_name():
            raise AlarmNotFound(f"no sensor {accepted.sensor!r} in the catalogue")
        for _ in range(MAX_ATTEMPTS):
            raw = cast(bytes | str | None, await self.redis.hget(self.keys.fold, "accept"))
            pending = [p for p in (orjson.loads(raw) if raw else []) if p["sensor"] != accepted.sensor]
            pending.append(accepted.model_dump(mode="json"))
            audit = orjson.dumps({"action": "operating_point_accepted", **accepted.model_dump(mode="json")})
            args: list[bytes | str] = ["accept", orjson.dumps(pending), raw or "", audit]
            if await self._configure(keys=[self.keys.fold, self.keys.limits_audit], args=args):
                return
        raise TransitionError("accepted operating points kept changing; try again")


def _idle_alarm(resolved: ResolvedAlarm) -> Alarm:
    return Alarm(key=resolved.alarm_key, kind=resolved.kind, sensors=tuple(resolved.sensors), group=resolved.group)
