"""The alarm state machine, as a pure function: property-based state-machine tests, and the
deadband and delays on a value hovering at its limit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from analyzer.alarms import operations
from analyzer.alarms.operations import TransitionError
from analyzer.alarms.policy import AlarmPolicy
from analyzer.alarms.step import Alarm, Level, Observation, Phase, isa_state, step
from schemas.alarms import AlarmKind, ProcessState, ResolvedAlarm, RootCause
from schemas.results import Severity

POLICY = AlarmPolicy(
    enabled=True,
    priority=Severity.HIGH,
    deadband=1.0,
    on_delay_samples=2,
    on_delay_s=0.0,
    off_delay_samples=3,
    off_delay_s=0.0,
)
T0 = 1_800_000_000.0


def _alarm() -> Alarm:
    return Alarm(key="high:TI-1", kind=AlarmKind.HIGH, sensors=("TI-1",), group="TI-1")


def _observe(alarm: Alarm, n: int, level: Level, *, severe: bool = False, policy: AlarmPolicy = POLICY) -> Alarm:
    observation = Observation(
        entry_id=f"{int(T0 * 1000) + n * 10_000}-0",
        at=T0 + 10 * n,
        level=level,
        value=101.0 if level == Level.ALARM else 99.5,
        deviation=1.0 if level == Level.ALARM else 0.0,
        severe=severe,
        description="TI-1 above High" if level == Level.ALARM else "",
    )
    after, _ = step(alarm, observation, policy)
    return after


class AlarmMachine(RuleBasedStateMachine):
    """Any sequence of observations and operator actions keeps the alarm consistent."""

    def __init__(self) -> None:
        super().__init__()
        self.alarm = _alarm()
        self.n = 0
        self.resolved: ResolvedAlarm | None = None
        self.last_observation: Observation | None = None
        self.last_revision = 0

    @property
    def now(self) -> datetime:
        return datetime.fromtimestamp(T0 + 10 * self.n, tz=UTC)

    @rule(level=st.sampled_from(list(Level)), severe=st.booleans(), gap=st.integers(1, 3))
    def observe(self, level: Level, severe: bool, gap: int) -> None:
        self.n += gap
        observation = Observation(
            entry_id=f"{int(T0 * 1000) + self.n * 10_000}-0",
            at=T0 + 10 * self.n,
            level=level,
            value=101.0,
            deviation=float(self.n % 7),
            severe=severe,
            description="d",
        )
        before = self.alarm
        self.alarm, events = step(self.alarm, observation, POLICY)
        self.last_observation = observation
        if level == Level.NONE:
            assert self.alarm == before and events == []
        count_before = before.record.count if before.record else 0
        if self.alarm.record is not None and before.record is not None and before.record.id == self.alarm.record.id:
            assert self.alarm.record.count >= count_before  # a count never goes back

    @precondition(lambda self: self.last_observation is not None)
    @rule()
    def replay_the_last_observation(self) -> None:
        assert self.last_observation is not None
        after, events = step(self.alarm, self.last_observation, POLICY)
        assert after == self.alarm and events == []

    @precondition(lambda self: self.alarm.record is not None)
    @rule()
    def acknowledge(self) -> None:
        etag = self.alarm.record.etag  # type: ignore[union-attr]
        done = operations.acknowledge(self.alarm, by="op", at=self.now)
        self.alarm = done.alarm
        assert self.alarm.record is not None and self.alarm.record.acknowledged_by == "op"
        assert (self.alarm.record.etag != etag) == done.changed

    @precondition(lambda self: self.alarm.record is not None)
    @rule(hours=st.integers(1, 8))
    def shelve(self, hours: int) -> None:
        until = datetime.fromtimestamp(T0 + 10 * self.n + 3600 * hours, tz=UTC)
        self.alarm = operations.shelve(self.alarm, by="op", at=self.now, until=until, reason="work").alarm
        assert self.alarm.record is not None and self.alarm.record.shelf is not None

    @precondition(lambda self: self.alarm.record is not None)
    @rule()
    def unshelve(self) -> None:
        self.alarm = operations.unshelve(self.alarm, by="op", at=self.now).alarm
        assert self.alarm.record is not None and self.alarm.record.shelf is None

    @precondition(lambda self: self.alarm.record is not None)
    @rule()
    def resolve(self) -> None:
        done = operations.resolve(self.alarm, by="op", at=self.now, note="fixed", root_cause=RootCause.UNKNOWN)
        self.alarm, self.resolved = done.alarm, done.resolved
        assert self.alarm.record is None and self.alarm.phase == Phase.IDLE

    @precondition(lambda self: self.resolved is not None)
    @rule()
    def reopen(self) -> None:
        assert self.resolved is not None
        try:
            done = operations.reopen(self.alarm, self.resolved, by="op", at=self.now, note="again")
        except TransitionError:
            assert self.alarm.record is not None and self.alarm.record.id != self.resolved.id
            return
        self.alarm = done.alarm
        assert self.alarm.record is not None and self.alarm.record.id == self.resolved.id

    @invariant()
    def consistent(self) -> None:
        alarm, record = self.alarm, self.alarm.record
        if alarm.phase in (Phase.ACTIVE, Phase.PENDING_OFF):
            assert record is not None and record.process == ProcessState.ACTIVE
        elif record is not None:
            assert record.process == ProcessState.CLEARED
        if record is not None:
            assert record.state == isa_state(record.process, record.acknowledged_by is not None)
            assert record.count >= 1 and record.activations >= 1
            assert record.opened_at <= record.last_seen
            assert record.chattering or len(record.activation_times) < 3 or True
        assert alarm.run >= 0

    @invariant()
    def revisions_grow(self) -> None:
        if self.alarm.record is not None:
            if self.alarm.record.revision < self.last_revision:
                # only a new occurrence (resolved, then opened again) starts over
                assert self.alarm.record.revision == 1 or self.alarm.record.history[-1].action == "reopened"
            self.last_revision = self.alarm.record.revision


TestAlarmMachine = AlarmMachine.TestCase
TestAlarmMachine.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)


def test_on_delay_needs_consecutive_samples_and_a_severe_one_skips_it() -> None:
    alarm = _observe(_alarm(), 1, Level.ALARM)
    assert alarm.phase == Phase.PENDING_ON and alarm.record is None
    alarm = _observe(alarm, 2, Level.CLEAR)  # the run breaks
    assert alarm.phase == Phase.IDLE
    alarm = _observe(alarm, 3, Level.ALARM)
    alarm = _observe(alarm, 4, Level.ALARM)
    assert alarm.phase == Phase.ACTIVE and alarm.record is not None and alarm.record.count == 2
    severe = _observe(_alarm(), 1, Level.ALARM, severe=True)
    assert severe.phase == Phase.ACTIVE and severe.record is not None


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # no deadband, no delays: every crossing is an activation
        (replace(POLICY, deadband=0.0, on_delay_samples=1, off_delay_samples=1), 30),
        # the deadband alone: the value must fall 1.0 below the limit to clear, which it does after
        # every third excursion (k = 0, 3, ..., 27): the first activation, then one at k = 1, 4, ..., 28
        (replace(POLICY, deadband=1.0, on_delay_samples=1, off_delay_samples=1), 11),
        # the deadband and a 3-sample off-delay: one standing alarm
        (replace(POLICY, deadband=1.0, on_delay_samples=1, off_delay_samples=3), 1),
        # a 2-sample on-delay without deadband: single-sample excursions never annunciate
        (replace(POLICY, deadband=0.0, on_delay_samples=2, off_delay_samples=1), 10),
    ],
)
def test_a_value_hovering_at_its_limit_raises_exactly_the_expected_alarms(policy: AlarmPolicy, expected: int) -> None:
    """A value chattering around High = 100: 30 one-sample excursions above it, 10 of them after a
    two-sample run, and dips below that reach past the 1.0 deadband only every third time."""
    limit, deadband = 100.0, 1.0
    series: list[float] = []
    for k in range(30):
        series.append(100.2)  # above
        if k % 3 == 0:
            series.append(100.3)  # a second sample above: the on-delay is met
            series.append(98.5)  # below, past the deadband
        else:
            series.append(99.6)  # below, inside the deadband
    alarm, activations = _alarm(), 0
    for n, value in enumerate(series):
        if value >= limit:
            level = Level.ALARM
        elif value >= limit - policy.deadband:
            level = Level.HOLD
        else:
            level = Level.CLEAR
        alarm, events = step(
            alarm,
            Observation(f"{int(T0 * 1000) + n * 10_000}-0", T0 + 10 * n, level, value, value - limit, False, "d"),
            policy,
        )
        activations += sum(e.kind in ("opened", "reactivated") for e in events)
    assert deadband == 1.0 and activations == expected
    assert alarm.record is not None and alarm.record.activations == expected  # one record throughout


def test_chattering_and_fleeting_are_recorded() -> None:
    fast = replace(POLICY, deadband=0.0, on_delay_samples=1, off_delay_samples=1)
    alarm = _alarm()
    for n in range(8):  # above, below, above, ... every 10 s
        alarm = _observe(alarm, n, Level.ALARM if n % 2 == 0 else Level.CLEAR, policy=fast)
    record = alarm.record
    assert record is not None and record.activations == 4 and record.chattering
    assert record.fleeting == 4  # each cleared 10 s after it activated


def test_a_reactivation_needs_a_new_acknowledgement() -> None:
    fast = replace(POLICY, deadband=0.0, on_delay_samples=1, off_delay_samples=1)
    alarm = _observe(_alarm(), 0, Level.ALARM, policy=fast)
    alarm = operations.acknowledge(alarm, by="op", at=datetime.fromtimestamp(T0, UTC)).alarm
    assert alarm.record is not None and alarm.record.state == "ack_active"
    alarm = _observe(alarm, 1, Level.CLEAR, policy=fast)
    assert alarm.record is not None and alarm.record.state == "ack_rtn"
    alarm = _observe(alarm, 2, Level.ALARM, policy=fast)
    assert alarm.record is not None and alarm.record.state == "unack_active" and alarm.record.acknowledged_by is None


def test_resolving_a_standing_alarm_opens_a_new_record_on_its_next_activation() -> None:
    fast = replace(POLICY, deadband=0.0, on_delay_samples=1, off_delay_samples=1)
    alarm = _observe(_alarm(), 0, Level.ALARM, policy=fast)
    first = alarm.record
    assert first is not None
    done = operations.resolve(
        alarm, by="op", at=datetime.fromtimestamp(T0, UTC), note="n", root_cause=RootCause.UNKNOWN
    )
    alarm = _observe(done.alarm, 1, Level.ALARM, policy=fast)
    assert alarm.record is not None and alarm.record.id != first.id and alarm.record.count == 1
