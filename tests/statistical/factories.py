"""Synthetic readings for the statistical tier's tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from analyzer.analysis.decision import Assessment, decide
from analyzer.catalog.index import SensorIndex
from analyzer.reading import Reading
from analyzer.tiers.heuristic import HeuristicTier
from schemas.catalog import SensorCatalog, SensorSpec

START = 1_700_000_000.0  # epoch seconds, a bucket boundary for 300 s and 60 s buckets? (1.7e9 % 300 == 200)


def catalog(n_process: int = 6, n_hourly: int = 1) -> SensorCatalog:
    sensors = [
        SensorSpec(name=f"TI-{i}", unit="degC", description="t", core=i == 0, low=0, high=1000)
        for i in range(n_process)
    ]
    sensors += [
        SensorSpec(name=f"LAB-{i}", unit="%", description="lab", update_interval_s=3600) for i in range(n_hourly)
    ]
    return SensorCatalog(plant="test", sensors=sensors)


def index(n_process: int = 6, n_hourly: int = 1) -> SensorIndex:
    return SensorIndex.from_catalog(catalog(n_process, n_hourly))


def readings(values: np.ndarray, times: Sequence[float], *, seq0: int = 0) -> list[Reading]:
    """One reading per row; entry ids ``{ms}-{seq}`` increase with the row."""
    out = []
    for k, (row, t) in enumerate(zip(values, times, strict=True)):
        out.append(
            Reading(
                entry_id=f"{int(t * 1000)}-{seq0 + k}",
                timestamp=datetime.fromtimestamp(t, tz=UTC),
                values=np.asarray(row, dtype=float),
                raw={},
                unknown=(),
            )
        )
    return out


def normal_rows(n_rows: int, n_sensors: int, *, seed: int = 0, centre: float = 500.0, scale: float = 5.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return centre + scale * rng.standard_normal((n_rows, n_sensors))


def assess(batch: Sequence[Reading], idx: SensorIndex, outcomes: Sequence[object] | None = None) -> list[Assessment]:
    heuristic = HeuristicTier(idx).evaluate(batch)
    if outcomes is None:
        return [decide(r, h, idx) for r, h in zip(batch, heuristic, strict=True)]
    return [decide(r, h, idx, o) for r, h, o in zip(batch, heuristic, outcomes, strict=True)]  # type: ignore[arg-type]
