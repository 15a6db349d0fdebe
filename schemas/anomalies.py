"""Anomaly episodes (``unresolved_anomalies``), resolved ones (``resolved_anomalies``) and the audit
trail of manual value changes (``modified_values``).

An episode is one alarm condition over time (ISA-18.2's alarm, not one row per reading): it is
keyed by its condition, updated by later readings, marked cleared when the condition returns to
normal, and moved to ``resolved_anomalies`` when an operator resolves it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from schemas.results import LLMContext, Severity

Tier = Literal["heuristic", "statistical", "ml"]
EpisodeState = Literal["active", "cleared"]


class Episode(BaseModel):
    """An open anomaly. ``id`` is ``{condition_key}@{first_entry_id}``; the condition key names
    the tier, the sensor(s) and the kind of alarm, e.g. ``heuristic:TI-101:high``."""

    model_config = ConfigDict(extra="forbid")

    id: str
    condition_key: str
    tier: Tier
    sensors: list[str] = Field(min_length=1)
    #: The current alarm, e.g. ``High-High`` or ``zscore`` or ``isolation_forest``.
    alarm_type: str
    #: Partition key in Cosmos DB: the current severity.
    severity_level: Severity
    peak_severity: Severity
    state: EpisodeState = "active"
    opened_at: AwareDatetime
    last_seen: AwareDatetime
    cleared_at: AwareDatetime | None = None
    first_entry_id: str
    last_entry_id: str
    #: Anomalous readings counted into this episode.
    count: int = Field(ge=1)
    #: Times the condition came back after it had cleared, while still unresolved.
    recurrences: int = Field(0, ge=0)
    last_value: float | None = None
    peak_value: float | None = None
    #: The largest deviation seen: distance beyond the limit, |z| or calibrated score.
    peak_deviation: float = 0.0
    description: str
    #: Recently counted entry ids, so a replayed entry is not counted twice.
    recent_entry_ids: list[str] = Field(default_factory=list)
    acknowledged_by: str | None = None
    acknowledged_at: AwareDatetime | None = None
    llm: LLMContext | None = None


class ResolvedAnomaly(Episode):
    """An episode an operator resolved; partitioned by ``resolved_by``."""

    resolved_by: str = Field(min_length=1)
    resolved_at: AwareDatetime
    resolution_note: str = ""


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
