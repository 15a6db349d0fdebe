"""Alarms per simulated day on the shipped plant, with and without deadbands and delays.

Run: ``python -m bench.alarm_load [--seed S]``. Simulates two days of the shipped plant (10 s
readings, labelled anomalies at the simulator's default rate), folds them in process exactly as the
worker does, and counts, over the second day (the first one fills tier 2's window): activations
(alarms annunciated: opened + re-activated), records (alarm occurrences an operator would handle)
and the alarm performance report's key figures, once with the catalogue's alarm policy (deadbands
and delays) and once with every deadband 0 and every on/off-delay one sample.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np

from analyzer.alarms.report import build_report
from analyzer.analysis.fold import Folder
from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.simulator import simulate_plant
from analyzer.reading import Reading
from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier
from schemas.alarms import AlarmKind, AlarmRecord
from schemas.catalog import AlarmSettings, SensorCatalog

DAY = 8640


def _raw(catalog: SensorCatalog) -> SensorCatalog:
    """The same plant with no deadband and no delays on any alarm."""
    bare = AlarmSettings(deadband=0.0, on_delay_samples=1, off_delay_samples=1)
    sensors = [s.model_copy(update={"alarms": {}}) for s in catalog.sensors]
    return catalog.model_copy(update={"sensors": sensors, "alarm_defaults": dict.fromkeys(AlarmKind, bare)})


async def measure(catalog: SensorCatalog, seed: int) -> dict[str, object]:
    index = SensorIndex.from_catalog(catalog)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    plant = simulate_plant(catalog, start, 2 * DAY, seed=seed)
    times = plant.timestamps.astype("datetime64[ms]").astype(np.int64)
    readings = [
        Reading(f"{int(t)}-0", datetime.fromtimestamp(int(t) / 1000, UTC), row, {}, ())
        for t, row in zip(times, plant.values, strict=True)
    ]
    folder = Folder(index, StatisticalTier(index, StatisticalSettings(_env_file=None)))  # type: ignore[call-arg]
    state = folder.new_state()
    events: Counter[str] = Counter()
    opened: Counter[str] = Counter()
    records: dict[str, AlarmRecord] = {}
    for first in range(0, len(readings), 64):
        outcome = await folder.fold_readings(state, readings[first : first + 64])
        state = outcome.state
        if first >= DAY:
            for event in outcome.events:
                events[event.kind.value] += 1
                if event.kind.value in ("opened", "escalated"):
                    opened[event.alarm_key.split(":")[0]] += 1
        for alarm in outcome.alarms.values():
            if alarm is not None and alarm.record is not None:
                records[alarm.record.id] = alarm.record
    second_day = start + timedelta(seconds=10 * DAY)
    report = build_report(list(records.values()), second_day, second_day + timedelta(days=1))
    return {
        "activations": report.activations,
        "records_opened": events["opened"] + events["escalated"],
        "reactivations": events["reactivated"],
        "opened_by_kind": dict(sorted(opened.items())),
        "per_10_min": report.per_10_min,
        "peak_per_10_min": report.peak_per_10_min,
        "flood_share": report.flood_share,
        "chattering": len(report.chattering),
        "labelled_anomalies": sum(1 for label in plant.labels if label.start >= second_day),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    catalog = load_catalog()
    shipped = await measure(catalog, args.seed)
    bare = await measure(_raw(catalog), args.seed)
    print(
        f"one simulated day (the second of two, seed {args.seed}): {shipped['labelled_anomalies']} labelled anomalies"
    )
    print("| policy | activations | records opened | re-activations | per 10 min | peak per 10 min | chattering |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, figures in (("no deadband, no delays", bare), ("shipped (deadbands, delays)", shipped)):
        print(
            f"| {name} | {figures['activations']} | {figures['records_opened']} | {figures['reactivations']} | "
            f"{figures['per_10_min']} | {figures['peak_per_10_min']} | {figures['chattering']} |"
        )
    print(json.dumps({"seed": args.seed, "shipped": shipped, "no_deadband_no_delays": bare}))


if __name__ == "__main__":
    asyncio.run(main())
