"""Tier 3: operator-facing context for new and escalated alarms, from a language model
(Azure OpenAI or any OpenAI-compatible server) or written offline from the tier 1 and 2 evidence.

Modules: ``evidence`` (the alarm, the catalogue and the last hour, bounded), ``prompt`` (the
messages; payload text stays data), ``answer`` (the strict answer schema and its validation),
``offline`` (the offline writer), ``providers`` (the OpenAI SDK clients), ``retry``, ``breaker``,
``quota`` and ``guard`` (timeouts, retries, circuit breaker, rate limit, daily token budget),
``cache`` (identical situations), ``usage`` (tokens, latency, cost per day) and ``explain``
(:class:`ContextService`, the one entry point).
"""

from analyzer.tiers.llm.evidence import AlarmEvidence, AlarmView, build_evidence, read_recent
from analyzer.tiers.llm.explain import ContextService
from analyzer.tiers.llm.providers import Explainer, OpenAIExplainer, build_explainer
from analyzer.tiers.llm.usage import Prices, daily_usage

__all__ = [
    "AlarmEvidence",
    "AlarmView",
    "ContextService",
    "Explainer",
    "OpenAIExplainer",
    "Prices",
    "build_evidence",
    "build_explainer",
    "daily_usage",
    "read_recent",
]
