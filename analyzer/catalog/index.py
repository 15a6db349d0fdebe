"""The catalogue as arrays: one position per catalogued sensor, so tiers work on NumPy vectors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemas.catalog import SensorCatalog, SensorSpec


def _limit_array(specs: list[SensorSpec], name: str) -> np.ndarray:
    return np.array([getattr(s, name) if getattr(s, name) is not None else np.nan for s in specs])


@dataclass(frozen=True)
class SensorIndex:
    """Catalogue order, positions and alarm limits as float arrays (NaN = limit absent)."""

    catalog: SensorCatalog
    names: tuple[str, ...]
    position: dict[str, int]
    low_low: np.ndarray
    low: np.ndarray
    high: np.ndarray
    high_high: np.ndarray
    core: np.ndarray
    hourly: np.ndarray

    @classmethod
    def from_catalog(cls, catalog: SensorCatalog) -> SensorIndex:
        specs = list(catalog.sensors)
        return cls(
            catalog=catalog,
            names=tuple(s.name for s in specs),
            position={s.name: i for i, s in enumerate(specs)},
            low_low=_limit_array(specs, "low_low"),
            low=_limit_array(specs, "low"),
            high=_limit_array(specs, "high"),
            high_high=_limit_array(specs, "high_high"),
            core=np.array([s.core for s in specs], dtype=bool),
            hourly=np.array([s.update_interval_s == 3600 for s in specs], dtype=bool),
        )

    def __len__(self) -> int:
        return len(self.names)

    @property
    def core_names(self) -> list[str]:
        return [n for n, c in zip(self.names, self.core, strict=True) if c]

    def spec(self, name: str) -> SensorSpec:
        return self.catalog.sensors[self.position[name]]
