"""Redis key layout: every key is built here, from the stream key, so two deployments (or two test
runs) on one Redis never see each other's data.

The keys the fold commits in one script call share the hash tag ``{stream}`` (one cluster slot:
Azure Managed Redis's clustering keeps multi-key scripts within a slot).

==================================  ======  ===============================================================
key                                 type    holds
==================================  ======  ===============================================================
``{stream}``                        stream  one entry per payload, field ``payload`` = JSON; trimmed to the
                                            window by entry time (XADD MINID); no TTL (groups live in it)
``{stream}:latest``                 hash    sensor -> JSON ``{"value", "timestamp", "entry_id"}``
``{stream}:dead``                   stream  dead letters (see ``runtime/dead_letter.py``)
``{stream}:dead:ids``               zset    dead-lettered entry ids (the sweep skips them)
``{stream}:sweep:lock``             string  one sweep at a time
``{{stream}}:fold``                 hash    the fold: ``cursor`` (last folded entry id), ``epoch`` (bumped
                                            by operator actions), tier 2's state, ``b:{bucket}`` window
                                            statistics, floods, maintenance windows
``{{stream}}:rows:{bucket}``        list    tier 2's protected rows of a bucket (training, robust baseline)
``{{stream}}:alarms``               hash    alarm key -> the live alarm (phase, pending run, open record)
``{{stream}}:alarms:dirty``         set     alarm keys changed in Redis and not yet written to the store
``{{stream}}:verdicts``             hash    entry id -> its result (or rejection), until stored
``{{stream}}:alarm-events``         stream  alarm changes (opened, escalated, cleared, acknowledged, ...)
``{{stream}}:model:{version}``      string  a trained IsolationForest (.npz arrays + JSON metadata)
==================================  ======  ===============================================================
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
