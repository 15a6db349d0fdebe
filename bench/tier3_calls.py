"""Tier 3 calls per simulated day on the shipped plant: ``python -m bench.tier3_calls``.

Simulates ``--days`` days of the shipped catalogue's plant (``analyzer.devtools.simulator``, one
payload every 10 s) per seed and folds them exactly as the worker does (tiers 1 and 2, the alarm
book, retraining on the fold's schedule; in process, entry ids from the reading times, like
``sensor-analyzer evaluate``). Tier 3 is asked once per ``opened`` and once per ``escalated`` alarm
event, so their count on the last simulated day (the first one includes tier 2's warm-up) is the
number of model calls before the cache (the cache can only lower it).

No operator acts during the simulation, so an alarm that clears and comes back re-activates its
unresolved record (``reactivated``, no call). If operators resolved every record as soon as it
cleared, each re-activation would open a new record instead: ``upper`` adds them (an upper bound).
Prints one line per seed and anomaly rate, then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from analyzer.analysis.fold import Folder
from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.simulator import simulate_plant
from analyzer.reading import Reading
from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier

DAY = 8640
ASKED = ("opened", "escalated")


async def count_events(seed: int, anomaly_rate: float, days: int, batch: int = 64) -> dict[str, Any]:
    catalog = load_catalog()
    index = SensorIndex.from_catalog(catalog)
    start = datetime(2026, 11, 23, tzinfo=UTC) - timedelta(days=days)
    plant = simulate_plant(catalog, start, DAY * days, seed=seed, anomaly_rate=anomaly_rate)
    columns = np.array([index.position[name] for name in plant.sensor_names])
    folder = Folder(index, StatisticalTier(index, StatisticalSettings()))
    state = folder.new_state()
    last_day_from = (start + timedelta(days=days - 1)).timestamp()
    counted: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    moments = plant.timestamps.astype("datetime64[ms]").astype(np.int64)
    for first in range(0, len(moments), batch):
        chunk = []
        for k in range(first, min(first + batch, len(moments))):
            values = np.full(len(index), np.nan)
            values[columns] = plant.values[k]
            moment = datetime.fromtimestamp(moments[k] / 1000, UTC)
            chunk.append(Reading(f"{moments[k]}-0", moment, values, {}, ()))
        outcome = await folder.fold_readings(state, chunk)
        state = outcome.state
        for event in outcome.events:
            if event.at.timestamp() >= last_day_from:
                counted[event.kind.value] += 1
                if event.kind.value in ASKED:
                    by_kind[event.alarm_key.split(":")[0]] += 1
    calls = sum(counted[k] for k in ASKED)
    return {
        "seed": seed,
        "anomaly_rate": anomaly_rate,
        "calls": calls,
        "opened": counted["opened"],
        "escalated": counted["escalated"],
        "reactivated": counted["reactivated"],
        "upper": calls + counted["reactivated"],
        "calls_by_alarm_kind": dict(by_kind.most_common()),
        "labelled_anomalies_last_day": sum(1 for label in plant.labels if label.start.timestamp() >= last_day_from),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.02, 0.05])
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    rows = [asyncio.run(count_events(seed, rate, args.days)) for rate in args.rates for seed in args.seeds]
    print(f"tier 3 calls on the last of {args.days} simulated days (shipped catalogue; opened + escalated):")
    for row in rows:
        print(
            f"  anomaly rate {row['anomaly_rate']:.2f}, seed {row['seed']}: {row['calls']} calls "
            f"({row['opened']} opened, {row['escalated']} escalated; {row['reactivated']} re-activations, "
            f"upper bound {row['upper']}); labelled anomalies that day {row['labelled_anomalies_last_day']}; "
            f"by kind {row['calls_by_alarm_kind']}"
        )
    for rate in args.rates:
        calls = [r["calls"] for r in rows if r["anomaly_rate"] == rate]
        spread = f"{min(calls)}..{max(calls)}"
        print(f"  anomaly rate {rate:.2f}: median {statistics.median(calls):g} calls per day ({spread})")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
