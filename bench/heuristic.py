"""Tier 1: the vectorised classification against a Python loop per sensor, on the same payloads.

Run: ``python -m bench.heuristic``. Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import numpy as np

from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from analyzer.devtools.simulator import iter_payloads, simulate_plant
from analyzer.reading import to_reading
from analyzer.tiers.heuristic import HeuristicTier, classify


def loop_classify(values: np.ndarray, index: SensorIndex) -> np.ndarray:
    """The reference: one Python comparison chain per sensor."""
    codes = np.zeros(len(values), dtype=np.int8)
    for slot, value in enumerate(values.tolist()):
        if value != value:
            continue
        spec = index.spec(index.names[slot])
        if spec.high_high is not None and value >= spec.high_high:
            codes[slot] = 2
        elif spec.high is not None and value >= spec.high:
            codes[slot] = 1
        elif spec.low_low is not None and value <= spec.low_low:
            codes[slot] = -2
        elif spec.low is not None and value <= spec.low:
            codes[slot] = -1
    return codes


def evaluate_all(tier: HeuristicTier, readings: list, render: bool) -> None:  # type: ignore[type-arg]
    # Outcomes are dropped as the worker drops them once stored; keeping 8,640 alive makes the
    # garbage collector, not tier 1, the thing measured.
    for first in range(0, len(readings), 64):
        outcomes = tier.evaluate(readings[first : first + 64])
        if render:
            for outcome in outcomes:
                _ = outcome.block


def timed(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    catalog = load_catalog()
    index = SensorIndex.from_catalog(catalog)
    plant = simulate_plant(catalog, datetime(2026, 11, 23, tzinfo=UTC), 8640, seed=1, anomaly_rate=0.1)
    readings = [to_reading(doc, f"{i}-0", index) for i, doc in enumerate(iter_payloads(plant))]
    matrix = np.stack([r.values for r in readings])
    assert all(np.array_equal(classify(row, index), loop_classify(row, index)) for row in matrix[:500]), (
        "vectorised and loop classifications differ"
    )
    n = len(readings)
    tier = HeuristicTier(index)
    rows = {
        "loop per sensor (codes only)": timed(lambda: [loop_classify(row, index) for row in matrix]),
        "vectorised, one payload at a time (codes)": timed(lambda: [classify(row, index) for row in matrix]),
        "vectorised, whole batch (codes)": timed(lambda: classify(matrix, index)),
        "HeuristicTier.evaluate, batches of 64 (evidence)": timed(lambda: evaluate_all(tier, readings, False)),
        "... and rendering the stored blocks": timed(lambda: evaluate_all(tier, readings, True)),
    }
    title = f"tier 1 on {n} payloads x {len(index)} sensors"
    print(f"{title:<58} {'payloads/s':>12} {'us/payload':>11}")
    for name, seconds in rows.items():
        print(f"{name:<58} {n / seconds:>12,.0f} {seconds / n * 1e6:>11.1f}")
    loop_s, single_s, batch_s, tier_s, render_s = rows.values()
    print(
        json.dumps(
            {
                "payloads": n,
                "loop_payloads_per_s": round(n / loop_s),
                "vectorised_single_payloads_per_s": round(n / single_s),
                "vectorised_batch_payloads_per_s": round(n / batch_s),
                "tier1_payloads_per_s": round(n / tier_s),
                "tier1_with_blocks_payloads_per_s": round(n / render_s),
                "speedup_single_vs_loop": round(loop_s / single_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
