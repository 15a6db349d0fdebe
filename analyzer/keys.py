"""Redis key layout. Every key derives from the stream key, so two deployments (or two
test runs) on one Redis never see each other's data.

=============================  ======  ====================================================
key                            type    holds
=============================  ======  ====================================================
``{stream}``                   stream  one entry per payload, field ``payload`` = JSON;
                                       trimmed to 24 h by entry time (XADD MINID); no TTL
``{stream}:latest``            hash    sensor -> JSON ``{"value", "timestamp", "entry_id"}``
``{stream}:dead``              stream  dead letters: ``entry_id``, ``reason``, original fields
``{stream}:dead:ids``          zset    dead-lettered entry ids (the sweep skips them)
``{stream}:episodes:open``     hash    condition key -> id of its open anomaly episode
``{stream}:episodes:counted:*``  zset  entry ids each episode counted, trimmed to the window
``{stream}:episode-events``    stream  episodes opened or escalated, for tier 3
``{stream}:sweep:lock``        string  one sweep at a time
``{stream}:stats:*``           ...     tier 2 rolling-window statistics
``{stream}:model:*``           ...     tier 2 IsolationForest model and its metadata
=============================  ======  ====================================================
"""

from __future__ import annotations

from dataclasses import dataclass

CONSUMER_GROUP = "analyzer"
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
    def alarm_events(self) -> str:
        """Alarm changes (today: episodes opened or escalated), read by tier 3 and the dashboard's events."""
        return f"{self.stream}:episode-events"

    @property
    def open_episodes(self) -> str:
        return f"{self.stream}:episodes:open"

    def stats(self, suffix: str) -> str:
        return f"{self.stream}:stats:{suffix}"

    def model(self, suffix: str) -> str:
        return f"{self.stream}:model:{suffix}"
