"""Helpers for the explainer tests: payloads of TI-101 above its High (or High-High) limit, landing and
analysing them with the real pipeline, and draining the explainer's consumer group."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from analyzer.keys import EXPLAIN_GROUP
from analyzer.runtime.consumer import ConsumerConfig, ensure_group
from analyzer.runtime.explainer import AlarmExplainer, explanation_consumer
from analyzer.runtime.services import Services
from tests.utils.payloads import normal_payload, plant_index

INDEX = plant_index()
SENSOR = "TI-101"
SPEC = INDEX.spec(SENSOR)
assert SPEC.high is not None and SPEC.high_high is not None
#: Between High and High-High: alarm ``high:TI-101`` only.
ABOVE_HIGH = (SPEC.high + SPEC.high_high) / 2
#: Past High-High (and so High): ``high_high:TI-101`` as well.
ABOVE_HIGH_HIGH = SPEC.high_high + (SPEC.high_high - SPEC.high) / 2
HIGH_KEY = f"high:{SENSOR}"
HIGH_HIGH_KEY = f"high_high:{SENSOR}"


def readings(values: Sequence[float | None], *, end: datetime | None = None) -> list[dict[str, Any]]:
    """One payload per value, 10 s apart, ending ``end`` (default a second ago); ``None`` = normal TI-101."""
    end = end or datetime.now(UTC) - timedelta(seconds=1)
    start = end - timedelta(seconds=10 * (len(values) - 1))
    return [
        normal_payload(INDEX, start + timedelta(seconds=10 * i), **({SENSOR: v} if v is not None else {}))
        for i, v in enumerate(values)
    ]


async def land_and_analyse(services: Services, documents: Sequence[dict[str, Any]], *, batch: int = 36) -> list[str]:
    """Land ``documents`` and fold them with the pipeline in batches of ``batch``; returns the entry ids."""
    ids: list[str] = []
    for first in range(0, len(documents), 500):
        ids += await services.lander.land_documents(documents[first : first + 500])
    entries = await services.redis.xrange(services.keys.stream, min=ids[0], max=ids[-1])
    for first in range(0, len(entries), batch):
        await services.pipeline.analyze_entries(entries[first : first + batch])
    return ids


async def explain_pending(services: Services, explainer: AlarmExplainer, consumer: str = "test") -> int:
    """Read every alarm event not yet read by the ``explainer`` group and explain it; returns how many."""
    await ensure_group(services.redis, services.keys.alarm_events, EXPLAIN_GROUP)
    member = explanation_consumer(
        services.redis, services.keys, explainer, ConsumerConfig(batch_size=4, block_ms=0), consumer
    )
    total = 0
    while read := await member.read_once():
        total += read
    return total


async def events(services: Services) -> list[dict[str, Any]]:
    """The alarm events published so far (entries without an ``event`` field left out)."""
    entries = await services.redis.xrange(services.keys.alarm_events)
    return [orjson.loads(fields["event"]) for _, fields in entries if "event" in fields]


async def record_id(services: Services, key: str) -> str:
    raw = await services.redis.hget(services.keys.alarms, key)
    assert raw is not None, f"no live alarm {key}"
    return str(orjson.loads(raw)["record"]["id"])
