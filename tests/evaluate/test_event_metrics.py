"""Event-level metrics: alarms (intervals) against labelled windows, within the evaluated span."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzer.devtools.evaluate import alarm_episodes, event_metrics
from analyzer.devtools.evaluate.metrics import NO_EVENTS
from analyzer.devtools.evaluate.windows import LabelledWindow, label_rows, windows_from_labels

DAY = 86_400.0


def test_one_alarm_over_two_windows_detects_both_and_is_no_false_alarm() -> None:
    m = event_metrics([(90.0, 310.0)], [(100.0, 200.0), (300.0, 400.0)], span=(0.0, 2 * DAY))
    assert (m.detected, m.false_alarms, m.alarms) == (2, 0, 1)
    assert m.delays_s == (0.0, 0.0) and m.false_alarms_per_day == 0.0


def test_delay_is_from_the_window_start_to_the_first_overlapping_alarm() -> None:
    m = event_metrics([(500.0, 520.0), (150.0, 160.0), (130.0, 131.0)], [(100.0, 600.0)], span=(0.0, DAY))
    assert m.detected == 1 and m.delays_s == (30.0,) and m.median_delay_s == 30.0


def test_nothing_to_find_and_nothing_raised() -> None:
    m = event_metrics([], [], span=(0.0, DAY))
    assert (m.windows, m.detected, m.alarms, m.false_alarms, m.median_delay_s) == (0, 0, 0, 0, None)
    quiet = event_metrics([], [(10.0, 20.0)], span=(0.0, DAY))
    assert quiet.windows == 1 and quiet.detected == 0 and quiet.detected_windows == (False,)


def test_probation_cuts_alarms_and_windows_at_the_span_start() -> None:
    alarms = [(0.0, 50.0), (80.0, 120.0), (900.0, 950.0)]
    windows = [(10.0, 40.0), (90.0, 200.0)]
    m = event_metrics(alarms, windows, span=(100.0, 100.0 + DAY))
    # the first alarm and window ended in probation; the second alarm is cut to start at 100
    assert (m.windows, m.alarms, m.detected, m.false_alarms) == (1, 2, 1, 1)
    assert m.delays_s == (10.0,)


def test_pooling_adds_counts_and_days() -> None:
    a = event_metrics([(0.0, 1.0)], [], span=(0.0, DAY))
    b = event_metrics([(5.0, 6.0)], [(5.0, 9.0)], span=(0.0, 3 * DAY))
    pooled = NO_EVENTS + a + b
    assert (pooled.windows, pooled.detected, pooled.false_alarms, pooled.days) == (1, 1, 1, 4.0)
    assert pooled.false_alarms_per_day == pytest.approx(0.25)


def test_alarm_episodes_are_runs_of_flagged_rows() -> None:
    times = np.arange(10.0)
    flags = np.array([1, 1, 0, 1, 0, 0, 1, 1, 1, 1], bool)
    assert alarm_episodes(times, flags) == [(0.0, 1.0), (3.0, 3.0), (6.0, 9.0)]
    assert alarm_episodes(times, np.zeros(10, bool)) == []


@given(st.lists(st.booleans(), min_size=1, max_size=60), st.lists(st.booleans(), min_size=1, max_size=60))
def test_row_flags_and_row_labels_agree_with_the_point_view(flags: list[bool], labels: list[bool]) -> None:
    """Whatever the rows: a window is detected exactly when one of its rows is flagged, and a false
    alarm is exactly a run of flagged rows that touches no labelled row."""
    n = min(len(flags), len(labels))
    times = np.arange(n, dtype=float) * 60
    flagged, labelled = np.array(flags[:n]), np.array(labels[:n])
    windows = windows_from_labels(times, labelled, np.where(labelled, "anomaly", "normal"))
    assert label_rows(times, windows).tolist() == labelled.tolist()
    alarms = alarm_episodes(times, flagged)
    m = event_metrics(alarms, [w.interval for w in windows], span=(0.0, float(times[-1])))
    for window, detected in zip(windows, m.detected_windows, strict=True):
        inside = (times >= window.start) & (times <= window.end)
        assert detected == bool(flagged[inside].any())
    false = sum(not labelled[(times >= a) & (times <= b)].any() for a, b in alarms)
    assert m.false_alarms == false and m.windows == len(windows)


def test_windows_from_labels_split_on_kind_changes() -> None:
    times = np.arange(5.0)
    kinds = np.array(["spike", "spike", "drift", "normal", "stuck"])
    labels = kinds != "normal"
    assert windows_from_labels(times, labels, kinds) == [
        LabelledWindow(0.0, 1.0, "spike"),
        LabelledWindow(2.0, 2.0, "drift"),
        LabelledWindow(4.0, 4.0, "stuck"),
    ]
