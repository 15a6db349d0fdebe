"""Small factories of payloads and readings for tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from schemas.catalog import SensorCatalog, SensorSpec
from schemas.payload import wire_timestamp


def plant_index() -> SensorIndex:
    return SensorIndex.from_catalog(load_catalog())


def small_catalog() -> SensorCatalog:
    """Three sensors: one with all four limits (core), one with only High, one without limits."""
    return SensorCatalog(
        plant="test",
        sensors=[
            SensorSpec(name="TI-1", unit="degC", description="t", core=True, low_low=0, low=10, high=90, high_high=100),
            SensorSpec(name="PI-1", unit="bar", description="p", high=5.0),
            SensorSpec(name="FI-1", unit="m3/h", description="f"),
        ],
    )


def normal_payload(index: SensorIndex, moment: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    """A payload with every catalogued sensor in the middle of its alarm band (or 1.0 without limits)."""
    moment = moment or datetime.now(UTC) - timedelta(seconds=1)
    document: dict[str, Any] = {"timestamp": wire_timestamp(moment)}
    for name in index.names:
        spec = index.spec(name)
        low = spec.low if spec.low is not None else spec.low_low
        high = spec.high if spec.high is not None else spec.high_high
        if low is not None and high is not None:
            value = (low + high) / 2
        elif high is not None:
            value = high * 0.5 if high > 0 else high - 10
        elif low is not None:
            value = low * 2 if low > 0 else low + 10
        else:
            value = 1.0
        document[name] = value
    document.update(overrides)
    return document
