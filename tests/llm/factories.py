"""Alarm views and an hour of plant history for the tier 3 tests (the shipped catalogue)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from analyzer.catalog import load_catalog
from analyzer.tiers.llm.evidence import AlarmView
from schemas.catalog import SensorSpec

CATALOG = load_catalog()
SPECS = CATALOG.by_name()
END = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

#: A shape: value at ``s`` seconds from the start of the hour.
Shape = Callable[[float], float]


def centre(spec: SensorSpec) -> float:
    for low, high in (("low", "high"), ("low_low", "high_high")):
        if getattr(spec, low) is not None and getattr(spec, high) is not None:
            return (getattr(spec, low) + getattr(spec, high)) / 2
    for name in ("high", "low", "high_high", "low_low"):
        if getattr(spec, name) is not None:
            return float(getattr(spec, name)) * 0.9
    return 50.0


def spread(spec: SensorSpec) -> float:
    """Noise of a normal signal: 1.5 % of its normal band."""
    if spec.low is not None and spec.high is not None:
        return (spec.high - spec.low) * 0.015
    return abs(centre(spec)) * 0.005 + 1e-3


def plant_history(
    end: datetime = END,
    *,
    minutes: int = 60,
    step_s: int = 10,
    shapes: Mapping[str, Shape] | None = None,
    only: list[str] | None = None,
    seed: int = 7,
) -> list[tuple[float, dict[str, float]]]:
    """``minutes`` of 10-second readings of every 10-second sensor, normal noise around the centre
    of its band, except the sensors in ``shapes``."""
    rng = np.random.default_rng(seed)
    shapes = shapes or {}
    specs = [s for s in CATALOG.sensors if s.update_interval_s == 10 and (only is None or s.name in only)]
    start = end.timestamp() - minutes * 60
    history = []
    for i in range(minutes * 60 // step_s):
        t = start + (i + 1) * step_s
        values = {}
        for spec in specs:
            shape = shapes.get(spec.name)
            values[spec.name] = shape(t - start) if shape else round(centre(spec) + rng.normal(0, spread(spec)), 4)
        history.append((t, values))
    return history


def ramp(start: float, stop: float, minutes: int = 60) -> Shape:
    return lambda s: start + (stop - start) * s / (minutes * 60)


def step_at(before: float, after: float, at_s: float) -> Shape:
    return lambda s: before if s < at_s else after


def view(
    kind: str = "high",
    sensors: tuple[str, ...] = ("TI-101",),
    *,
    priority: str = "high",
    event: str = "opened",
    minutes_open: float = 14.0,
    count: int = 84,
    peak_value: float | None = 361.2,
    peak_deviation: float | None = 2.8,
    last_value: float | None = 361.0,
    description: str | None = None,
    z_scores: dict[str, float] | None = None,
    contributions: dict[str, float] | None = None,
    end: datetime = END,
    **extra: Any,
) -> AlarmView:
    tier = {"zscore": "statistical", "flatline": "statistical", "forest": "ml", "pca": "ml"}.get(kind, "heuristic")
    key = f"{kind}:{'+'.join(sensors)}" if len(sensors) < 3 else f"{kind}:plant"
    return AlarmView(
        alarm_id=f"{key}@1763892000000-0",
        alarm_key=key,
        kind=kind,  # type: ignore[arg-type]
        tier=tier,  # type: ignore[arg-type]
        priority=priority,  # type: ignore[arg-type]
        event=event,  # type: ignore[arg-type]
        sensors=sensors,
        opened_at=end - timedelta(minutes=minutes_open),
        last_seen=end,
        count=count,
        peak_value=peak_value,
        peak_deviation=peak_deviation,
        last_value=last_value,
        description=description or f"{sensors[0]} {kind} alarm",
        z_scores=z_scores or {},
        contributions=contributions or {},
        **extra,
    )
