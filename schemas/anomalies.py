"""The audit trail of manual value changes (``modified_values``). The anomaly records themselves
(``unresolved_anomalies``, ``resolved_anomalies``) are in :mod:`schemas.alarms`."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class ModifiedValue(BaseModel):
    """One manual change of a stored value, for the audit trail; partitioned by ``modified_by``."""

    model_config = ConfigDict(extra="forbid")

    id: str
    modified_by: str = Field(min_length=1)
    modified_at: AwareDatetime
    #: The analysis whose reading was changed.
    result_id: str
    sensor: str
    old_value: float | None
    new_value: float
    reason: str = Field(min_length=1)
    #: When the corrected reading was taken (the analysis' ``timestamp``).
    reading_time: AwareDatetime | None = None
