"""Event-level metrics count alarm activations as an operator sees them, not runs of flagged rows."""

from __future__ import annotations

import numpy as np

from analyzer.catalog.index import SensorIndex
from analyzer.devtools.evaluate import alarm_episodes
from analyzer.devtools.evaluate.csv_input import LabelledData
from analyzer.devtools.evaluate.driver import run_stream
from analyzer.devtools.evaluate.run import score
from analyzer.devtools.evaluate.windows import LabelledWindow
from analyzer.tiers.statistical import StatisticalSettings
from schemas.catalog import SensorCatalog, SensorSpec

START = 1_767_225_600.0  # 2026-01-01


def _hovering_at_the_high_limit() -> tuple[SensorIndex, LabelledData, LabelledWindow]:
    """T at 50, then 60 readings alternating just above and just below its High limit (90): one
    standing alarm (its off-delay needs three normal readings in a row), 30 separate flagged runs."""
    catalog = SensorCatalog(
        plant="test",
        sensors=[
            SensorSpec(name="T", unit="C", description="t", core=True, low=10, high=90, high_high=200),
            SensorSpec(name="P", unit="bar", description="p", core=True),
        ],
    )
    n = 300
    rng = np.random.default_rng(1)
    t = 50 + rng.normal(0, 0.5, n)
    t[100:160] = np.where(np.arange(60) % 2 == 0, 90.5, 89.9)
    values = np.column_stack([t, 5 + rng.normal(0, 0.1, n)])
    times = START + np.arange(n) * 10.0
    labels = np.zeros(n, bool)
    labels[100:160] = True
    kinds = np.where(labels, "limit_breach", "normal")
    window = LabelledWindow(float(times[100]), float(times[159]), "limit_breach")
    return SensorIndex.from_catalog(catalog), LabelledData(["T", "P"], times, values, labels, kinds), window


async def test_a_standing_alarm_is_one_detection_not_many_false_alarms() -> None:
    index, data, window = _hovering_at_the_high_limit()
    predictions = await run_stream(index, data, StatisticalSettings())

    runs = alarm_episodes(data.times, predictions.status)
    assert len(runs) >= 10  # what the row view counts: a new "alarm" at every return above the limit
    activations = predictions.activations
    assert activations is not None and 1 <= len(activations) <= 3  # the High alarm (and tier 2's)
    # The High alarm stands through the whole hovering period and clears after it (off-delay).
    assert any(a <= window.start and b >= window.end for a, b in activations), activations
    evaluation = score(data, predictions, [window], probation=0)
    assert evaluation.alarms == activations
    assert evaluation.events.detected == 1 and evaluation.events.false_alarms == 0
