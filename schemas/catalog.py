"""One sensor's catalogue entry: what it measures and where its alarm limits are."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.alarms import AlarmKind
from schemas.results import Severity

UpdateInterval = Literal[10, 3600]
LIMIT_ORDER = ("low_low", "low", "high", "high_high")


class AlarmSettings(BaseModel):
    """How one alarm behaves (ISA-18.2 rationalisation); every field optional, unset = the default.

    Delays count the sensor's own samples *and* reading time: an alarm activates once its condition
    held for ``on_delay_samples`` consecutive samples spanning at least ``on_delay_s`` seconds, and
    clears once the value was back past the limit by the deadband for ``off_delay_samples``
    samples spanning ``off_delay_s``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool | None = None
    priority: Severity | None = None
    #: In the sensor's unit for limit alarms, in sigma for z-score alarms.
    deadband: float | None = Field(None, ge=0)
    #: For limit alarms without an absolute deadband: this share of the sensor's Low..High span.
    deadband_fraction: float | None = Field(None, ge=0, le=0.5)
    on_delay_samples: int | None = Field(None, ge=1, le=10_000)
    on_delay_s: float | None = Field(None, ge=0)
    off_delay_samples: int | None = Field(None, ge=1, le=10_000)
    off_delay_s: float | None = Field(None, ge=0)


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
    #: The instrument's measuring range: a value outside it is a data-quality alarm (``out_of_range``).
    range_min: float | None = None
    range_max: float | None = None
    #: Largest credible change per minute: a faster change is a ``rate_of_change`` alarm.
    max_rate_per_min: float | None = Field(None, gt=0)
    #: Per-alarm overrides of the catalogue's ``alarm_defaults``.
    alarms: dict[AlarmKind, AlarmSettings] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _range_in_order(self) -> Self:
        if self.range_min is not None and self.range_max is not None and not self.range_min < self.range_max:
            raise ValueError(
                f"sensor {self.name}: range_min={self.range_min:g} must be below range_max={self.range_max:g}"
            )
        return self

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
    #: Per alarm kind, how alarms behave unless a sensor overrides it (built-in defaults otherwise).
    alarm_defaults: dict[AlarmKind, AlarmSettings] = Field(default_factory=dict)

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
