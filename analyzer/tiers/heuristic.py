"""Tier 1: every catalogued sensor against its alarm limits (Low-Low, Low, High, High-High).

A value exactly at a limit counts as having reached it (``>= high``, ``<= low``): in a plant a
reading sitting on the trip point is treated as at the trip point. The classification is one NumPy
comparison per limit over the whole batch; only the sensors in alarm get a formatted context.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analyzer.catalog.index import SensorIndex
from analyzer.reading import Reading
from schemas.results import AlarmType, HeuristicBlock

#: Alarm codes: sign is the direction, magnitude 2 is the outer (trip) limit.
OK, HIGH, HIGH_HIGH, LOW, LOW_LOW = 0, 1, 2, -1, -2
ALARM_OF_CODE = {
    OK: AlarmType.OK,
    HIGH: AlarmType.HIGH,
    HIGH_HIGH: AlarmType.HIGH_HIGH,
    LOW: AlarmType.LOW,
    LOW_LOW: AlarmType.LOW_LOW,
}


def classify(values: np.ndarray, index: SensorIndex) -> np.ndarray:
    """Alarm codes (int8) for a ``(..., n_sensors)`` array; NaN (absent) and missing limits give OK.

    >>> from schemas.catalog import SensorCatalog, SensorSpec
    >>> cat = SensorCatalog(plant="p", sensors=[SensorSpec(name="T", unit="C", description="t",
    ...     low_low=0, low=10, high=90, high_high=100)])
    >>> classify(np.array([[-1.0], [10.0], [50.0], [90.0], [100.0], [np.nan]]), SensorIndex.from_catalog(cat)).ravel()
    array([-2, -1,  0,  1,  2,  0], dtype=int8)
    """
    codes = np.zeros(values.shape, dtype=np.int8)
    with np.errstate(invalid="ignore"):
        codes[values >= index.high] = HIGH
        codes[values >= index.high_high] = HIGH_HIGH
        codes[values <= index.low] = LOW
        codes[values <= index.low_low] = LOW_LOW
    return codes


@dataclass(frozen=True, slots=True)
class SensorAlarm:
    """One sensor in alarm: what ``decide`` needs, without building the whole block."""

    value: float
    alarm: AlarmType
    limit: float
    context: str


class HeuristicOutcome:
    """Tier 1's evidence for one reading: alarm codes aligned with the sensor index.

    The stored block (one result per sensor present) is built on first access to ``block``:
    the decision needs only the codes and the sensors in alarm, so the hot path never pays for
    formatting a hundred "within alarm limits" entries.
    """

    __slots__ = ("_block", "codes", "elapsed_ms", "reading", "tier")

    def __init__(self, tier: HeuristicTier, reading: Reading, codes: np.ndarray, elapsed_ms: float) -> None:
        self.tier = tier
        self.reading = reading
        self.codes = codes
        self.elapsed_ms = elapsed_ms
        self._block: HeuristicBlock | None = None

    def describe(self, slot: int) -> SensorAlarm:
        """The alarm of the sensor at ``slot`` (its code must not be OK)."""
        return self.tier.describe(slot, float(self.reading.values[slot]), int(self.codes[slot]))

    @property
    def block(self) -> HeuristicBlock:
        if self._block is None:
            self._block = self.tier.render(self)
        return self._block


class HeuristicTier:
    """Classifies readings against the catalogue's alarm limits."""

    def __init__(self, index: SensorIndex) -> None:
        self.index = index
        limits = {HIGH: index.high, HIGH_HIGH: index.high_high, LOW: index.low, LOW_LOW: index.low_low}
        self._limit_lists = {code: values.tolist() for code, values in limits.items()}
        self._units = tuple(index.spec(n).unit for n in index.names)
        all_limits = np.stack([index.low_low, index.low, index.high, index.high_high])
        self._no_limits: list[bool] = np.isnan(all_limits).all(axis=0).tolist()

    def evaluate(self, readings: Sequence[Reading]) -> list[HeuristicOutcome]:
        if not readings:
            return []
        started = time.perf_counter()
        codes = classify(np.stack([r.values for r in readings]), self.index)
        elapsed_ms = (time.perf_counter() - started) * 1000 / len(readings)
        return [HeuristicOutcome(self, reading, row, elapsed_ms) for reading, row in zip(readings, codes, strict=True)]

    def describe(self, slot: int, value: float, code: int) -> SensorAlarm:
        limit = self._limit_lists[code][slot]
        alarm = ALARM_OF_CODE[code]
        beyond = value - limit if code > 0 else limit - value
        side = "above" if code > 0 else "below"
        unit = self._units[slot]
        context = f"{value:g} {unit} is {beyond:.4g} {unit} {side} the {alarm.value} limit {limit:g}"
        return SensorAlarm(value, alarm, limit, context)

    def render(self, outcome: HeuristicOutcome) -> HeuristicBlock:
        """The stored block: every sensor present, with its alarm and context."""
        # Plain dicts validated once by pydantic-core are ~2.5x faster than a model per sensor.
        started = time.perf_counter()
        names, no_limits = self.index.names, self._no_limits
        codes = outcome.codes.tolist()
        results: dict[str, dict[str, object]] = {}
        for slot, value in enumerate(outcome.reading.values.tolist()):
            if value != value:  # NaN: absent from this payload
                continue
            code = codes[slot]
            if code == OK:
                context = "no alarm limits configured" if no_limits[slot] else "within alarm limits"
                results[names[slot]] = {"value": value, "alarm_type": "OK", "status": "Normal", "context": context}
            else:
                alarm = self.describe(slot, value, code)
                results[names[slot]] = {
                    "value": value,
                    "alarm_type": alarm.alarm.value,
                    "status": "Anomaly",
                    "limit": alarm.limit,
                    "context": alarm.context,
                }
        return HeuristicBlock.model_validate(
            {
                "timestamp": outcome.reading.timestamp,
                "method": "alarm_limits",
                "processing_time_ms": outcome.elapsed_ms + (time.perf_counter() - started) * 1000,
                "results": results,
            }
        )
