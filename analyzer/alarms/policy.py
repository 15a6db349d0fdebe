"""Alarm policy: how each alarm behaves (priority, deadband, on/off delays), from the catalogue.

Built-in defaults (overridden per kind by the catalogue's ``alarm_defaults`` and per sensor by its
``alarms``), following ISA-18.2 rationalisation practice: a deadband and an off-delay keep a value
hovering at a limit from chattering, an on-delay keeps a momentary excursion from annunciating.

================  ========  ==============  =========  =========  ==========================
kind              priority  core priority   deadband   on-delay   off-delay (samples)
================  ========  ==============  =========  =========  ==========================
high, low         medium    high            2 % span   1          3
high_high, low_low high     critical        2 % span   1          1
zscore            low       low             0.5 sigma  3 (or |z| >= immediate at once)   3
flatline          low       medium          -          1          1
rate_of_change    medium    medium          -          1          3
stale             low       medium          -          1          1
out_of_range      medium    high            -          1          1
forest, pca       low       low             -          3          3
================  ========  ==============  =========  =========  ==========================

"span" is the sensor's Low..High span (Low-Low..High-High without Low/High). Delays in seconds
(``on_delay_s``, ``off_delay_s``) default to 0; when set, a transition needs both the samples and
the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analyzer.catalog.index import SensorIndex
from schemas.alarms import AlarmKind
from schemas.catalog import AlarmSettings
from schemas.results import Severity

#: Plant-wide alarms (no sensor of their own).
PLANT_KINDS = (AlarmKind.FOREST, AlarmKind.PCA)
SENSOR_KINDS = tuple(k for k in AlarmKind if k not in PLANT_KINDS)
LIMIT_KINDS = (AlarmKind.HIGH, AlarmKind.HIGH_HIGH, AlarmKind.LOW, AlarmKind.LOW_LOW)


@dataclass(frozen=True, slots=True)
class _Default:
    priority: Severity
    core_priority: Severity
    deadband_fraction: float
    deadband: float
    on_samples: int
    off_samples: int


_S = Severity
BUILT_IN: dict[AlarmKind, _Default] = {
    AlarmKind.HIGH: _Default(_S.MEDIUM, _S.HIGH, 0.02, 0.0, 1, 3),
    AlarmKind.LOW: _Default(_S.MEDIUM, _S.HIGH, 0.02, 0.0, 1, 3),
    AlarmKind.HIGH_HIGH: _Default(_S.HIGH, _S.CRITICAL, 0.02, 0.0, 1, 1),
    AlarmKind.LOW_LOW: _Default(_S.HIGH, _S.CRITICAL, 0.02, 0.0, 1, 1),
    AlarmKind.ZSCORE: _Default(_S.LOW, _S.LOW, 0.0, 0.5, 3, 3),
    AlarmKind.FLATLINE: _Default(_S.LOW, _S.MEDIUM, 0.0, 0.0, 1, 1),
    AlarmKind.RATE_OF_CHANGE: _Default(_S.MEDIUM, _S.MEDIUM, 0.0, 0.0, 1, 3),
    AlarmKind.STALE: _Default(_S.LOW, _S.MEDIUM, 0.0, 0.0, 1, 1),
    AlarmKind.OUT_OF_RANGE: _Default(_S.MEDIUM, _S.HIGH, 0.0, 0.0, 1, 1),
    AlarmKind.FOREST: _Default(_S.LOW, _S.LOW, 0.0, 0.0, 3, 3),
    AlarmKind.PCA: _Default(_S.LOW, _S.LOW, 0.0, 0.0, 3, 3),
}


@dataclass(frozen=True, slots=True)
class AlarmPolicy:
    """The resolved behaviour of one alarm."""

    enabled: bool
    priority: Severity
    #: Absolute, in the sensor's unit (limits) or in sigma (z-score); 0 = none.
    deadband: float
    on_delay_samples: int
    on_delay_s: float
    off_delay_samples: int
    off_delay_s: float


@dataclass(frozen=True)
class KindPolicy:
    """One alarm kind's policy for every sensor of the index, as arrays (vectorised observation)."""

    kind: AlarmKind
    enabled: np.ndarray  # bool (n,)
    deadband: np.ndarray  # float (n,)
    policies: tuple[AlarmPolicy, ...]


class PolicyTable:
    """Every alarm's policy, built once from the catalogue.

    >>> from schemas.catalog import SensorCatalog, SensorSpec
    >>> cat = SensorCatalog(plant="p", sensors=[SensorSpec(name="T", unit="C", description="t", low=10, high=90,
    ...     core=True)])
    >>> table = PolicyTable(SensorIndex.from_catalog(cat))
    >>> p = table.of(AlarmKind.HIGH, 0)
    >>> p.priority.value, p.deadband, p.off_delay_samples
    ('high', 1.6, 3)
    """

    def __init__(self, index: SensorIndex) -> None:
        self.index = index
        catalog = index.catalog
        span = np.where(np.isnan(index.high - index.low), index.high_high - index.low_low, index.high - index.low)
        self._by_kind: dict[AlarmKind, KindPolicy] = {}
        for kind in SENSOR_KINDS:
            policies = tuple(
                _resolve(kind, catalog.alarm_defaults.get(kind), spec.alarms.get(kind), bool(spec.core), float(s))
                for spec, s in zip(catalog.sensors, span, strict=True)
            )
            self._by_kind[kind] = KindPolicy(
                kind,
                np.array([p.enabled for p in policies], dtype=bool),
                np.array([p.deadband for p in policies], dtype=float),
                policies,
            )
        self._plant = {
            kind: _resolve(kind, catalog.alarm_defaults.get(kind), None, False, np.nan) for kind in PLANT_KINDS
        }

    def kind(self, kind: AlarmKind) -> KindPolicy:
        return self._by_kind[kind]

    def of(self, kind: AlarmKind, slot: int | None) -> AlarmPolicy:
        """The policy of ``kind`` for the sensor at ``slot`` (``None`` for plant-wide kinds)."""
        if slot is None:
            return self._plant[kind]
        return self._by_kind[kind].policies[slot]


def _resolve(
    kind: AlarmKind, defaults: AlarmSettings | None, override: AlarmSettings | None, core: bool, span: float
) -> AlarmPolicy:
    built_in = BUILT_IN[kind]
    layers = [layer for layer in (override, defaults) if layer is not None]

    def pick(name: str) -> Any:
        return next((getattr(layer, name) for layer in layers if getattr(layer, name) is not None), None)

    priority = pick("priority") or (built_in.core_priority if core else built_in.priority)
    deadband = pick("deadband")
    if deadband is None:
        fraction = pick("deadband_fraction")
        fraction = built_in.deadband_fraction if fraction is None else fraction
        deadband = fraction * span if kind in LIMIT_KINDS and np.isfinite(span) else built_in.deadband
    enabled = pick("enabled")
    return AlarmPolicy(
        enabled=True if enabled is None else bool(enabled),
        priority=Severity(priority),
        deadband=round(float(deadband), 12),
        on_delay_samples=int(pick("on_delay_samples") or built_in.on_samples),
        on_delay_s=float(pick("on_delay_s") or 0.0),
        off_delay_samples=int(pick("off_delay_samples") or built_in.off_samples),
        off_delay_s=float(pick("off_delay_s") or 0.0),
    )
