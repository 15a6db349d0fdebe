"""Synthetic readings for the statistical tier's tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np

from analyzer.alarms.step import Alarm
from analyzer.analysis.fold import Folder
from analyzer.catalog.index import SensorIndex
from analyzer.reading import Reading
from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier, Tier2State
from schemas.catalog import SensorCatalog, SensorSpec
from schemas.results import AnalysisResult

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


class InMemoryFold:
    """The analysis fold of the given tier 2 settings, in process: what the worker does, without Redis."""

    def __init__(self, idx: SensorIndex, settings: StatisticalSettings, *, window_s: int = 86400) -> None:
        self.tier = StatisticalTier(idx, settings, window_s=window_s)
        self.folder = Folder(idx, self.tier)
        self.state = self.folder.new_state()

    async def feed(
        self, values: np.ndarray, times: Sequence[float], *, batch: int = 64, seq0: int = 0
    ) -> list[AnalysisResult]:
        rows = readings(values, times, seq0=seq0)
        results: list[AnalysisResult] = []
        for start in range(0, len(rows), batch):
            outcome = await self.folder.fold_readings(self.state, rows[start : start + batch])
            self.state = outcome.state
            results += outcome.results
        return results

    @property
    def tier2(self) -> Tier2State:
        assert self.state.tier2 is not None
        return self.state.tier2

    def alarm(self, key: str) -> Alarm | None:
        return self.state.book.alarms.get(key)
