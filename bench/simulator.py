"""How long the simulator takes to produce a day (8,640 payloads x 100 sensors), a payload stream
and a CSV. Run: ``python -m bench.simulator``; the last line is one JSON object."""

from __future__ import annotations

import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from analyzer.catalog import load_catalog
from analyzer.devtools.simulator import iter_payloads, simulate_plant, write_csv

DAY = 8640


def best_of(repeat: int, action):  # type: ignore[no-untyped-def]
    best, value = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        value = action()
        best = min(best, time.perf_counter() - started)
    return best, value


def main() -> None:
    catalog = load_catalog()
    start = datetime(2026, 11, 23, tzinfo=UTC)
    generate_s, plant = best_of(5, lambda: simulate_plant(catalog, start, DAY, seed=1))
    payloads_s, _ = best_of(3, lambda: sum(1 for _ in iter_payloads(plant)))
    with tempfile.TemporaryDirectory() as folder:
        csv_s, _ = best_of(3, lambda: write_csv(plant, Path(folder) / "day.csv"))
    print(f"simulate a day ({DAY} payloads x {len(catalog.sensors)} sensors): {generate_s * 1000:.0f} ms")
    print(f"as payload dicts: {payloads_s * 1000:.0f} ms; as CSV with labels: {csv_s * 1000:.0f} ms")
    print(
        json.dumps(
            {"generate_day_s": round(generate_s, 4), "payloads_s": round(payloads_s, 4), "csv_s": round(csv_s, 4)}
        )
    )


if __name__ == "__main__":
    main()
