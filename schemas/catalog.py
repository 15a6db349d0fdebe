"""One sensor's catalogue entry: what it measures and where its alarm limits are."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

UpdateInterval = Literal[10, 3600]
LIMIT_ORDER = ("low_low", "low", "high", "high_high")


class SensorSpec(BaseModel):
    """A catalogued sensor. Limits are optional; present ones must satisfy
    ``low_low < low < high < high_high``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    unit: str
    description: str
    core: bool = False
    update_interval_s: UpdateInterval = 10
    low_low: float | None = None
    low: float | None = None
    high: float | None = None
    high_high: float | None = None

    @model_validator(mode="after")
    def _limits_in_order(self) -> Self:
        present = [(n, getattr(self, n)) for n in LIMIT_ORDER if getattr(self, n) is not None]
        for (lower_name, lower), (upper_name, upper) in pairwise(present):
            if not lower < upper:
                shown = ", ".join(f"{n}={v:g}" for n, v in present)
                raise ValueError(
                    f"sensor {self.name}: alarm limits out of order: {lower_name}={lower:g} must be below "
                    f"{upper_name}={upper:g} (limits: {shown}; expected low_low < low < high < high_high)"
                )
        return self


class SensorCatalog(BaseModel):
    """The plant's sensors. Names are unique; core sensors appear in every payload."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    plant: str
    sensors: list[SensorSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        counts = Counter(s.name for s in self.sensors)
        duplicates = sorted(name for name, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"duplicate sensor names in catalogue: {', '.join(duplicates)}")
        return self

    @property
    def core_names(self) -> list[str]:
        return [s.name for s in self.sensors if s.core]

    def by_name(self) -> dict[str, SensorSpec]:
        return {s.name: s for s in self.sensors}
