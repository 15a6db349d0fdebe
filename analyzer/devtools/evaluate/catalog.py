"""A sensor catalogue derived from the data when none is given (no limits, so tier 1 is silent)."""

from __future__ import annotations

import numpy as np

from schemas.catalog import SensorCatalog, SensorSpec


def derive_catalog(names: list[str], values: np.ndarray, times: np.ndarray) -> SensorCatalog:
    """A catalogue from the data: no limits; core = never absent; hourly = changes about hourly."""
    span_h = max((times[-1] - times[0]) / 3600, 1e-9) if len(times) else 1.0
    sensors = []
    for j, name in enumerate(names):
        column = values[:, j]
        present = column[~np.isnan(column)]
        changes = int((np.diff(present) != 0).sum()) if len(present) > 1 else 0
        hourly = len(present) > 0 and changes <= 2 * span_h and len(present) > 4 * span_h
        sensors.append(
            SensorSpec(
                name=name,
                unit="",
                description=f"column {name}",
                core=bool(len(present) == len(column)) and not hourly,
                update_interval_s=3600 if hourly else 10,
            )
        )
    return SensorCatalog(plant="derived", sensors=sensors)
