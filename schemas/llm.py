"""Tier 3's contract: the answer a language model (or the offline writer) gives about an alarm,
and the context stored on the alarm record.

``ContextAnswer`` is what is asked for. It is sent to the model as a strict JSON schema
(structured outputs), and every answer is validated against it, so its bounds are hard limits:
an answer beyond them is invalid. ``LLMContext`` is that answer plus who wrote it, how, and for
which state of the alarm.

``confidence`` is a word (``low`` | ``medium`` | ``high``), not a number: a language model has no
calibrated probability to give, and a three-step scale is what an operator reads anyway.
``suggested_severity`` is advice shown to the operator; the alarm's priority stays the rule's.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

Priority = Literal["critical", "high", "medium", "low"]
Confidence = Literal["low", "medium", "high"]
AlarmEvent = Literal["opened", "escalated"]
ProviderName = Literal["offline", "azure-openai", "openai-compatible"]

#: ``ok``: the provider answered (the offline provider always does); ``cached``: an answer for the
#: same situation, reused; ``fallback``: the model's answer was invalid twice or the service refused
#: the request, so the offline text stands for good; ``deferred``: a guard (budget, rate limit,
#: circuit breaker) or a transient failure (timeout, 429, 5xx) stopped the call, the offline text
#: stands for now and the model may be asked again later.
ContextStatus = Literal["ok", "fallback", "deferred", "cached"]

#: Hard bounds of the answer (also stated to the model in the schema's descriptions).
SUMMARY_MAX = 800
ITEM_MAX = 300
CAUSES_MAX = 6
EQUIPMENT_MAX = 8
CHECKS_MAX = 8

Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=ITEM_MAX)]


class ContextAnswer(BaseModel):
    """What tier 3 says about one alarm: the structured answer, validated."""

    model_config = ConfigDict(extra="forbid")

    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=SUMMARY_MAX)] = Field(
        description=f"What is probably happening, for the control-room operator; at most {SUMMARY_MAX} characters."
    )
    likely_causes: list[Line] = Field(
        min_length=1,
        max_length=CAUSES_MAX,
        description=f"Most likely causes first; 1 to {CAUSES_MAX} items of at most {ITEM_MAX} characters.",
    )
    affected_equipment: list[Line] = Field(
        max_length=EQUIPMENT_MAX,
        description=(
            f"Equipment tags or units that may be affected (from the catalogue's descriptions); 0 to {EQUIPMENT_MAX} "
            f"items of at most {ITEM_MAX} characters."
        ),
    )
    recommended_checks: list[Line] = Field(
        min_length=1,
        max_length=CHECKS_MAX,
        description=f"What the operator should check first, in order; 1 to {CHECKS_MAX} items of at most {ITEM_MAX} "
        "characters.",
    )
    suggested_severity: Priority = Field(
        description="Advice only: how urgent this looks; the alarm's own priority is not changed by it."
    )
    confidence: Confidence = Field(description="How well the evidence supports this explanation.")


class LLMContext(ContextAnswer):
    """Operator-facing context written by tier 3 for one alarm event, stored on the alarm record."""

    provider: ProviderName
    #: The deployment (Azure), the model name (OpenAI-compatible) or the offline writer's version.
    model: str = Field(min_length=1)
    status: ContextStatus
    #: Why the model's answer is not the one shown (``fallback``/``deferred``), else ``None``.
    failure: str | None = None
    #: For ``deferred``: seconds after ``generated_at`` before asking again is worthwhile.
    retry_after_s: float | None = Field(None, ge=0)
    #: The alarm's priority and the event this context was written for (asked again on escalation).
    for_priority: Priority
    for_event: AlarmEvent
    generated_at: AwareDatetime
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    #: Time spent in the provider for this context (all attempts), milliseconds.
    latency_ms: float = Field(0.0, ge=0)
    #: True when the text shown was written by the offline provider from tier 1/2 evidence.
    offline: bool


class LLMDailyUsage(BaseModel):
    """Tier 3's use of the model on one UTC day, for reports and the operator API's statistics."""

    model_config = ConfigDict(extra="forbid")

    day: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    #: Contexts written (every status, every provider).
    contexts: int = Field(0, ge=0)
    #: Model calls made (a call may take several HTTP requests: retries, a re-asked invalid answer).
    calls: int = Field(0, ge=0)
    requests: int = Field(0, ge=0)
    prompt_tokens: int = Field(0, ge=0)
    completion_tokens: int = Field(0, ge=0)
    #: Mean time of a model call, all its requests included, milliseconds.
    mean_latency_ms: float = Field(0.0, ge=0)
    #: Contexts by outcome: ok, cached, fallback, deferred, offline.
    outcomes: dict[str, int] = Field(default_factory=dict)
    #: Deferred contexts by what stopped them: budget, rate, circuit, service.
    deferred: dict[str, int] = Field(default_factory=dict)
    #: At the configured prices per 1000 input and output tokens.
    estimated_cost: float = Field(0.0, ge=0)
    currency: str = "USD"
