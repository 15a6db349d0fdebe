"""Redis key layout: every key is built here, from the stream key, so two deployments (or two test
runs) on one Redis never see each other's data.

The keys the fold commits in one script call share the hash tag ``{stream}`` (one cluster slot:
Azure Managed Redis's clustering keeps multi-key scripts within a slot).

==================================  ======  ========================================================"""

from __future__ import annotations

from dataclasses import dataclass

CONSUMER_GROUP = "analyzer"
#: Tier 3's consumer group on the alarm events (analyzer/runtime/explainer.py).
EXPLAIN_GROUP = "explainer"
PAYLOAD_FIELD = "payload"


def entry_order(entry_id: str) -> tuple[int, int]:
    """A stream entry id (``"<ms>-<seq>"``) as a sortable pair; ids order entries by arrival.

    >>> sorted(["10-1", "9-5", "10-0"], key=entry_order)
    ['9-5', '10-0', '10-1']
    """
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class RedisKeys:
    """The keys of one deployment, derived from its stream key."""

    stream: str

    @property
    def latest(self) -> str:
        return f"{self.stream}:latest"

    @property
    def dead_letter(self) -> str:
        return f"{self.stream}:dead"

    @property
    def dead_ids(self) -> str:
        return f"{self.stream}:dead:ids"

    @property
    def sweep_lock(self) -> str:
        return f"{self.stream}:sweep:lock"

    @property
    def tag(self) -> str:
        """The hash tag shared by the fold's keys."""
        return "{" + self.stream + "}"

    @property
    def fold(self) -> str:
        return f"{self.tag}:fold"

    def rows(self, bucket: int) -> str:
        return f"{self.tag}:rows:{bucket}"

    @property
    def alarms(self) -> str:
        return f"{self.tag}:alarms"

    @property
    def alarms_dirty(self) -> str:
        return f"{self.tag}:alarms:dirty"

    @property
    def verdicts(self) -> str:
        return f"{self.tag}:verdicts"

    @property
    def alarm_events(self) -> str:
        return f"{self.tag}:alarm-events"

    def model(self, version: str) -> str:
        return f"{self.tag}:model:{version}"

    @property
    def limits_audit(self) -> str:
        """Accepted learned limits and maintenance-window changes, as they were made (never edited)."""
        return f"{self.tag}:limits:audit"

    # ---- Tier 3 (analyzer/tiers/llm): shared guards, cache and usage ---------------------------

    def llm_rate(self, minute: int) -> str:
        """Model calls admitted in one minute (``minute`` = epoch seconds // 60)."""
        return f"{self.stream}:llm:rate:{minute}"

    def llm_tokens(self, day: str) -> str:
        """Tokens reserved and used on one UTC day (``YYYY-MM-DD``): the daily budget."""
        return f"{self.stream}:llm:tokens:{day}"

    @property
    def llm_breaker(self) -> str:
        return f"{self.stream}:llm:breaker"

    def llm_cache(self, fingerprint: str) -> str:
        return f"{self.stream}:llm:cache:{fingerprint}"

    @property
    def llm_retry(self) -> str:
        """Alarm records whose context was deferred, scored by when to ask again (ms, Redis time)."""
        return f"{self.stream}:llm:retry"

    def llm_usage(self, day: str) -> str:
        """Calls, tokens, latency and outcomes of one UTC day (``YYYY-MM-DD``)."""
        return f"{self.stream}:llm:usage:{day}"

    # ---- end of tier 3 -------------------------------------------------------------------------
