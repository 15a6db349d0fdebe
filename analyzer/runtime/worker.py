"""The analysis worker: a member of the ``analyzer`` consumer group on the readings stream.

The consumer-group mechanics (claiming, delivery cap, dead letters, reconnecting, clean stop) are
:class:`~analyzer.runtime.consumer.StreamConsumer`'s; this module hands it the pipeline. An entry is
acknowledged once the pipeline returned it as done: its result is stored, or it was dead-lettered
with the reason. Every worker folds the stream in order through the shared state, so one worker or
four give the same results and alarms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from analyzer.analysis.pipeline import Pipeline
from analyzer.keys import CONSUMER_GROUP, RedisKeys
from analyzer.runtime.consumer import ConsumerConfig, Entry, Handled, StreamConsumer, default_consumer_name

__all__ = ["ConsumerConfig", "analysis_worker", "default_consumer_name"]


@dataclass
class _Analyse:
    pipeline: Pipeline

    async def __call__(self, entries: Sequence[Entry]) -> Handled:
        outcome = await self.pipeline.analyze_entries(entries, want_results=False)
        # Rejected entries were dead-lettered by the pipeline when it folded them.
        return Handled(done=outcome.analysed, dead_lettered=[r.entry_id for r in outcome.rejected])


def analysis_worker(
    redis: Redis,
    keys: RedisKeys,
    pipeline: Pipeline,
    config: ConsumerConfig | None = None,
    consumer: str | None = None,
) -> StreamConsumer:
    return StreamConsumer(redis, keys, keys.stream, CONSUMER_GROUP, _Analyse(pipeline), config, consumer)
