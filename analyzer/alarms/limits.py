"""Learned alarm limits: suggested from a sensor's own normal operation, applied only once an admin
accepts them (ISA-18.2 rationalisation: every alarm limit is a decision someone owns).

Method, for a sensor whose catalogue entry has no limits: over the baseline period (the readings of
the 24 h window that no alarm held back, i.e. normal operation), the centre is the median and the
spread ``1.4826 x MAD`` (the standard deviation a normal distribution with that median absolute
deviation would have); the suggested limits are centre -+ 4 spreads (Low, High) and -+ 6 spreads
(Low-Low, High-High), each rounded to the sensor's own resolution. A normal variable passes 4
spreads on about 6 readings in 100,000. At least ``MIN_SAMPLES`` readings are needed.

Accepted limits are an overlay on the catalogue kept in the shared state (``limits`` in the fold's
hash, with who accepted what and when): accepting bumps the fold's epoch, so every replica folds
with the new limits from the same point of the stream on, and the acceptance is on
``{stream}:limits:audit`` (never edited).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from analyzer.catalog.index import SensorIndex
from schemas.catalog import LIMIT_ORDER, SensorCatalog

if TYPE_CHECKING:
    # Only :func:`suggest` needs tier 2; the models here are imported by the operator API, which
    # must not load the tiers (nor scikit-learn with them).
    from analyzer.tiers.statistical.state import Tier2State

MIN_SAMPLES = 60
INNER, OUTER = 4.0, 6.0


class Limits(BaseModel):
    """A set of alarm limits (any may be absent; present ones in order)."""

    model_config = ConfigDict(extra="forbid")

    low_low: float | None = None
    low: float | None = None
    high: float | None = None
    high_high: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Limits:
        present = [(n, getattr(self, n)) for n in LIMIT_ORDER if getattr(self, n) is not None]
        if not present:
            raise ValueError("at least one limit is needed")
        for (a, x), (b, y) in itertools.pairwise(present):
            if not (math.isfinite(x) and math.isfinite(y) and x < y):
                raise ValueError(f"limits out of order: {a}={x:g} must be below {b}={y:g}")
        return self


class LimitSuggestion(BaseModel):
    sensor: str
    unit: str
    suggested: Limits
    centre: float
    spread: float
    samples: int
    method: str = f"median -+ {INNER:g} and {OUTER:g} x 1.4826 MAD of the window's normal readings"


class AcceptedLimits(BaseModel):
    sensor: str
    limits: Limits
    accepted_by: str = Field(min_length=1)
    accepted_at: AwareDatetime
    note: str = ""


class AcceptedOperatingPoint(BaseModel):
    """An operator's statement that a sensor's current level is its new normal (a new operating point,
    not a fault): tier 2 restarts the sensor's baseline from the next folded entry instead of holding
    its pre-condition baseline frozen. Audited on ``{stream}:limits:audit``."""

    model_config = ConfigDict(extra="forbid")

    sensor: str = Field(min_length=1)
    accepted_by: str = Field(min_length=1)
    accepted_at: AwareDatetime
    note: str = ""


def _resolution(values: np.ndarray) -> float:
    steps = np.abs(np.diff(np.unique(values)))
    steps = steps[steps > 0]
    return float(steps.min()) if steps.size else 0.0


def _round(value: float, step: float) -> float:
    if step <= 0 or not math.isfinite(step):
        return float(f"{value:.6g}")
    return float(round(round(value / step) * step, 10))


def suggest(state: Tier2State, index: SensorIndex) -> list[LimitSuggestion]:
    """Suggestions for every catalogued sensor without limits that has enough normal readings."""
    from analyzer.tiers.statistical.window import robust_centre_spread

    newest = state.newest
    if newest is None:
        return []
    rows = state.window_rows(newest + 1)
    unlimited = np.isnan(np.stack([index.low_low, index.low, index.high, index.high_high])).all(axis=0)
    found = []
    for slot in np.flatnonzero(unlimited):
        column = rows[:, slot].astype(float)
        column = column[~np.isnan(column)]
        if len(column) < MIN_SAMPLES:
            continue
        centre, spread = (float(x[0]) for x in robust_centre_spread(column[:, None]))
        if not spread > 0:
            continue
        step = _resolution(column)
        limits = Limits(
            low_low=_round(centre - OUTER * spread, step),
            low=_round(centre - INNER * spread, step),
            high=_round(centre + INNER * spread, step),
            high_high=_round(centre + OUTER * spread, step),
        )
        spec = index.spec(index.names[slot])
        found.append(
            LimitSuggestion(
                sensor=spec.name, unit=spec.unit, suggested=limits, centre=centre, spread=spread, samples=len(column)
            )
        )
    return found


def with_accepted(catalog: SensorCatalog, accepted: Mapping[str, AcceptedLimits]) -> SensorCatalog:
    """The catalogue with the accepted limits in place of the sensors' own (none)."""
    if not accepted:
        return catalog
    sensors = [
        spec.model_copy(update=accepted[spec.name].limits.model_dump()) if spec.name in accepted else spec
        for spec in catalog.sensors
    ]
    return SensorCatalog.model_validate({**catalog.model_dump(), "sensors": [s.model_dump() for s in sensors]})
