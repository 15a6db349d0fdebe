"""The sensor payload: one JSON object every 10 s, a timestamp and about 100 readings."""

from __future__ import annotations

import math
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator


class SensorPayload(BaseModel):
    """A validated payload. On the wire it is flat: ``{"timestamp": "...Z", "TI-101": 351.2, ...}``;
    :meth:`from_wire` turns that into this model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timestamp: AwareDatetime
    readings: dict[str, float] = Field(min_length=1)

    @field_validator("readings")
    @classmethod
    def _finite(cls, readings: dict[str, float]) -> dict[str, float]:
        bad = sorted(name for name, value in readings.items() if not math.isfinite(value))
        if bad:
            raise ValueError(f"non-finite values (NaN or infinity) for: {', '.join(bad)}")
        return readings

    def to_wire(self) -> dict[str, object]:
        return {"timestamp": wire_timestamp(self.timestamp), **self.readings}


def wire_timestamp(moment: datetime) -> str:
    """ISO-8601 UTC with millisecond precision and a ``Z``: ``2026-11-23T10:00:00.000Z``."""
    from datetime import UTC

    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
