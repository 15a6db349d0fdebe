"""Data-quality alarms through the fold: a value outside the instrument's range, a change faster than
the sensor can credibly move, and a sensor that stopped reporting."""

from __future__ import annotations

import numpy as np

from analyzer.catalog.index import SensorIndex
from analyzer.tiers.statistical import StatisticalSettings
from schemas.catalog import SensorCatalog, SensorSpec
from tests.statistical import factories as f

SETTINGS = StatisticalSettings(_env_file=None, min_history=20, bucket_s=60)  # type: ignore[call-arg]


def _index() -> SensorIndex:
    return SensorIndex.from_catalog(
        SensorCatalog(
            plant="p",
            sensors=[
                SensorSpec(
                    name="FI-1",
                    unit="m3/h",
                    description="feed flow",
                    core=True,
                    low=100,
                    high=900,
                    range_min=0,
                    range_max=1000,
                    max_rate_per_min=120,
                ),
                SensorSpec(name="TI-2", unit="degC", description="t", low=0, high=1000),
            ],
        )
    )


async def test_out_of_range_rate_of_change_and_stale_are_alarms() -> None:
    fold = f.InMemoryFold(_index(), SETTINGS)
    n = 60
    times = f.START + 10.0 * np.arange(n)
    values = np.column_stack([500 + np.sin(np.arange(n)), 500 + np.cos(np.arange(n))])
    values[30, 0] = 1200.0  # outside the transmitter's 0..1000 range (and a jump of 700 in 10 s)
    values[40:, 1] = np.nan  # TI-2 stops reporting
    results = await fold.feed(values, times)
    keys = {r.id: set(r.alarm_ids) for r in results}
    out_of_range = fold.alarm("out_of_range:FI-1")
    assert out_of_range is not None and out_of_range.record is not None
    assert out_of_range.record.count == 1 and out_of_range.record.severity_level.value == "high"  # core
    assert "outside the instrument's range 0..1000" in out_of_range.record.description
    roc = fold.alarm("rate_of_change:FI-1")
    assert roc is not None and roc.record is not None and roc.record.count >= 1
    assert any(a.startswith("rate_of_change:FI-1@") for a in keys[results[30].id])
    # stale: absent for more than 6 of its 10 s intervals
    stale = fold.alarm("stale:TI-2")
    assert stale is not None and stale.record is not None and stale.record.process == "active"
    first_stale = next(r for r in results if any(a.startswith("stale:TI-2@") for a in r.alarm_ids))
    assert first_stale.timestamp.timestamp() - times[39] > 60
    # the out-of-range reading was kept out of the window
    window = fold.tier2.window_totals(int(times[-1] // 60) + 1)
    assert window[1][0] < 600
