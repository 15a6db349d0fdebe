"""Tier 3's consumer of the alarm events, end to end: payloads landed on a real Redis, folded by the real
pipeline (``open_services``, SQLite), explained through the real ``openai`` SDK against the local
model server; what the server received and what the records hold are asserted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from analyzer.alarms.service import AlarmService
from analyzer.runtime.explainer import AlarmExplainer
from analyzer.runtime.services import Services, open_services
from analyzer.settings import Settings
from analyzer.tiers.llm.explain import ContextService
from schemas.alarms import AlarmEvent, AlarmRecord, RootCause
from tests.llm.conftest import llm_settings
from tests.llm.explain_helpers import (
    ABOVE_HIGH,
    ABOVE_HIGH_HIGH,
    HIGH_HIGH_KEY,
    HIGH_KEY,
    SENSOR,
    events,
    explain_pending,
    land_and_analyse,
    readings,
    record_id,
)
from tests.llm.model_server import Answer, Hang, ModelServer, Status

pytestmark = pytest.mark.redis

Stack = tuple[Services, AlarmExplainer]
OpenStack = Callable[..., Awaitable[Stack]]


@pytest.fixture
async def open_stack(settings: Settings, model_server: ModelServer) -> AsyncIterator[OpenStack]:
    """Opens the analyzer's services and an explainer on the model server, with settings overrides."""
    opened: list[tuple[Services, ContextService]] = []

    async def open_(**overrides: Any) -> Stack:
        values = {"explain_retry_min_s": 0.2, "explain_retry_poll_s": 0.05} | overrides
        configured = llm_settings(settings, model_server, **values)
        services = await open_services(configured, statistical=False)
        context = ContextService.from_settings(configured, services.redis, catalog=services.index.catalog)
        opened.append((services, context))
        explainer = AlarmExplainer.from_settings(configured, services.redis, services.keys, services.alarms, context)
        return services, explainer

    yield open_
    for services, context in opened:
        await context.aclose()
        await services.close()


async def _record(alarms: AlarmService, alarm_id: str) -> AlarmRecord:
    record = await alarms.get(alarm_id)
    assert type(record) is AlarmRecord
    return record


async def test_one_model_call_per_alarm_record_over_360_anomalous_readings(
    open_stack: OpenStack, model_server: ModelServer
) -> None:
    services, explainer = await open_stack()
    documents = readings([ABOVE_HIGH] * 360)
    for first in range(0, 360, 36):  # the explainer runs between the worker's batches, as it would live
        await land_and_analyse(services, documents[first : first + 36])
        await explain_pending(services, explainer)

    assert len(model_server.requests()) == 1
    alarm_id = await record_id(services, HIGH_KEY)
    record = await _record(services.alarms, alarm_id)
    assert record.count == 360
    assert record.llm is not None and record.llm.status == "ok" and record.llm.provider == "openai-compatible"
    assert record.llm.for_event == "opened" and not record.llm.offline
    assert record.llm.summary.startswith("Heater H-101 outlet temperature")  # the server's answer
    kinds = [(e["kind"], e["alarm_key"]) for e in await events(services)]
    assert kinds == [("opened", HIGH_KEY), ("explained", HIGH_KEY)]  # one opening, one context
    [request] = model_server.requests()
    assert request.body["model"] == "plant-llm"
    assert SENSOR in request.messages[-1]["content"] and HIGH_KEY in request.messages[-1]["content"]
    assert explainer.outcomes["ok"] == 1 and explainer.outcomes["ignored"] == 1  # its own "explained" event


async def test_an_escalation_to_high_high_asks_a_second_time(open_stack: OpenStack, model_server: ModelServer) -> None:
    services, explainer = await open_stack()
    await land_and_analyse(services, readings([ABOVE_HIGH] * 30 + [ABOVE_HIGH_HIGH] * 30))
    await explain_pending(services, explainer)
    await land_and_analyse(services, readings([ABOVE_HIGH_HIGH] * 30))  # more readings: no more calls
    await explain_pending(services, explainer)

    requests = model_server.requests()
    assert len(requests) == 2
    assert HIGH_KEY in requests[0].messages[-1]["content"]
    assert HIGH_HIGH_KEY in requests[1].messages[-1]["content"] and "escalated" in requests[1].messages[-1]["content"]
    high = await _record(services.alarms, await record_id(services, HIGH_KEY))
    high_high = await _record(services.alarms, await record_id(services, HIGH_HIGH_KEY))
    assert high.llm is not None and high.llm.for_event == "opened" and high.llm.for_priority == high.severity_level
    assert high_high.llm is not None and high_high.llm.for_event == "escalated"
    assert high_high.llm.for_priority == high_high.severity_level.value
    assert high_high.severity_level.rank > high.severity_level.rank  # the rule's priority, not the model's advice


async def test_the_context_is_stored_live_and_in_the_store_while_the_worker_keeps_counting(
    open_stack: OpenStack, model_server: ModelServer
) -> None:
    """The worker folds more readings of the same alarm while the context is written: no reading is
    lost and the context stays (the write is a compare-and-set transition of the live alarm)."""
    services, explainer = await open_stack()
    ids = await services.lander.land_documents(readings([ABOVE_HIGH] * 200))
    entries = await services.redis.xrange(services.keys.stream)
    await services.pipeline.analyze_entries(entries[:2])
    alarm_id = await record_id(services, HIGH_KEY)
    model_server.script(Hang(0.15))  # the answer comes while the worker is folding
    folded_batches = 0
    batches_when_written: list[int] = []

    async def worker() -> None:
        nonlocal folded_batches
        for first in range(2, len(entries), 3):
            await services.pipeline.analyze_entries(entries[first : first + 3])
            folded_batches += 1
            await asyncio.sleep(0.005)

    async def tier3() -> None:
        await explain_pending(services, explainer)
        batches_when_written.append(folded_batches)

    await asyncio.gather(worker(), tier3())
    total_batches = len(range(2, len(entries), 3))
    assert 0 < batches_when_written[0] < total_batches, "the context was not written while the worker folded"
    live = await _record(services.alarms, alarm_id)
    stored = await services.store.get_alarm(alarm_id)
    assert live.count == len(ids) == 200
    assert stored is not None and stored.count == 200
    for record in (live, stored):
        assert record.llm is not None and record.llm.status == "ok" and record.llm.provider == "openai-compatible"
        assert "explained" in [t.action for t in record.history]
    assert len(model_server.requests()) == 1


@pytest.mark.parametrize(
    ("failure", "reason"),
    [(Status(500), "500"), (Status(429, headers={"Retry-After": "0.3"}), "429")],
    ids=["server-error", "rate-limited"],
)
async def test_a_deferred_context_is_the_offline_text_until_the_model_answers(
    open_stack: OpenStack, model_server: ModelServer, failure: Status, reason: str
) -> None:
    services, explainer = await open_stack()
    model_server.script(failure, failure, failure)  # every attempt of the first call fails
    await land_and_analyse(services, readings([ABOVE_HIGH] * 12))
    await explain_pending(services, explainer)
    alarm_id = await record_id(services, HIGH_KEY)

    deferred = await _record(services.alarms, alarm_id)
    assert deferred.llm is not None and deferred.llm.status == "deferred"
    assert deferred.llm.offline and deferred.llm.provider == "offline"
    assert deferred.llm.failure is not None and reason in deferred.llm.failure
    assert SENSOR in deferred.llm.summary  # the offline text, written from the evidence
    assert list(await explainer.retries.waiting()) == [alarm_id]
    assert len(model_server.requests()) == 3

    assert await explainer.retry_due() == 0  # not due yet (EXPLAIN_RETRY_MIN_S, or Retry-After)
    await asyncio.sleep(0.5)
    assert await explainer.retry_due() == 1
    filled = await _record(services.alarms, alarm_id)
    assert filled.llm is not None and filled.llm.status == "ok" and not filled.llm.offline
    assert filled.llm.provider == "openai-compatible" and filled.llm.failure is None
    assert (await services.store.get_alarm(alarm_id)) == filled
    assert await explainer.retries.waiting() == {}
    assert len(model_server.requests()) == 4


async def test_an_open_breaker_defers_without_calling_and_the_retry_fills_in_after_the_cool_down(
    open_stack: OpenStack, model_server: ModelServer
) -> None:
    # One failed call opens the breaker; retries one at a time, so the trial call closes it for the next.
    services, explainer = await open_stack(llm_breaker_failures=1, llm_breaker_cooldown_s=1.0, explain_concurrency=1)
    model_server.script(Status(503), Status(503), Status(503))
    await land_and_analyse(services, readings([ABOVE_HIGH] * 5))
    await explain_pending(services, explainer)
    assert len(model_server.requests()) == 3
    # A second alarm while the breaker is open: deferred at once, no request.
    await land_and_analyse(services, readings([ABOVE_HIGH_HIGH] * 5))
    await explain_pending(services, explainer)
    assert len(model_server.requests()) == 3
    escalated = await _record(services.alarms, await record_id(services, HIGH_HIGH_KEY))
    assert escalated.llm is not None and escalated.llm.status == "deferred"
    assert escalated.llm.failure is not None and escalated.llm.failure.startswith("circuit open")
    assert len(await explainer.retries.waiting()) == 2

    deadline = asyncio.get_running_loop().time() + 10
    while await explainer.retries.waiting() and asyncio.get_running_loop().time() < deadline:
        await explainer.retry_due()
        await asyncio.sleep(0.05)
    for key in (HIGH_KEY, HIGH_HIGH_KEY):
        record = await _record(services.alarms, await record_id(services, key))
        assert record.llm is not None and record.llm.status == "ok" and record.llm.provider == "openai-compatible"
    assert len(model_server.requests()) == 5  # the trial, then the other one


async def test_the_consumer_task_retries_deferred_contexts_by_itself(
    open_stack: OpenStack, model_server: ModelServer
) -> None:
    """``run_retries`` polls the queue: the model's answer arrives with nobody calling retry_due."""
    services, explainer = await open_stack()
    model_server.script(Status(500), Status(500), Status(500))
    await land_and_analyse(services, readings([ABOVE_HIGH] * 3))
    await explain_pending(services, explainer)
    alarm_id = await record_id(services, HIGH_KEY)
    stop = asyncio.Event()
    polling = asyncio.create_task(explainer.run_retries(stop, every_s=0.05))
    try:
        for _ in range(200):
            record = await _record(services.alarms, alarm_id)
            if record.llm is not None and record.llm.status == "ok":
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await polling
    assert record.llm is not None and record.llm.status == "ok"


async def test_a_redelivered_event_or_a_resolved_record_costs_no_call(
    open_stack: OpenStack, model_server: ModelServer
) -> None:
    services, explainer = await open_stack()
    await land_and_analyse(services, readings([ABOVE_HIGH] * 3))
    [opened] = [e for e in await events(services) if e["kind"] == "opened"]
    event = AlarmEvent.model_validate(opened)
    assert await explainer.explain_event(event) == "ok"
    assert await explainer.explain_event(event) == "already"  # delivered again (a crash before the ack)
    assert len(model_server.requests()) == 1

    await services.alarms.resolve(event.alarm_id, by="alice", note="fixed", root_cause=RootCause.PROCESS_UPSET)
    await land_and_analyse(services, readings([ABOVE_HIGH] * 3))  # a new record of the same alarm
    [_, reopened] = [e for e in await events(services) if e["kind"] == "opened"]
    await services.alarms.resolve(reopened["alarm_id"], by="alice", note="again", root_cause=RootCause.UNKNOWN)
    assert await explainer.explain_event(AlarmEvent.model_validate(reopened)) == "gone"
    assert len(model_server.requests()) == 1


async def test_other_events_are_acknowledged_and_bad_ones_dead_lettered_apart(
    open_stack: OpenStack, model_server: ModelServer
) -> None:
    services, explainer = await open_stack()
    await land_and_analyse(services, readings([ABOVE_HIGH] * 3 + [None] * 6))  # opened, then cleared
    alarm_id = await record_id(services, HIGH_KEY)
    await services.alarms.acknowledge(alarm_id, by="alice")
    await services.redis.xadd(services.keys.alarm_events, {"event": '{"kind": "opened"}'})
    await services.redis.xadd(services.keys.alarm_events, {"something": "else"})
    await explain_pending(services, explainer)

    kinds = [e["kind"] for e in await events(services) if "kind" in e and "alarm_id" in e]
    assert kinds[:3] == ["opened", "cleared", "acknowledged"]
    assert len(model_server.requests()) == 1
    assert explainer.outcomes["ignored"] >= 2
    dead = await services.redis.xrange(f"{services.keys.alarm_events}:dead")
    assert len(dead) == 2 and all(d["source"] == "analyzer" for _, d in dead)
    assert "not an alarm event" in dead[0][1]["reason"] and "no 'event' field" in dead[1][1]["reason"]
    assert await services.redis.xlen(services.keys.dead_letter) == 0  # the readings' dead letters are untouched
    groups = {g["name"]: g for g in await services.redis.xinfo_groups(services.keys.alarm_events)}
    assert groups["explainer"]["pending"] == 0 and groups["explainer"]["lag"] == 0


async def test_the_worker_keeps_its_pace_while_the_model_hangs(
    open_stack: OpenStack, model_server: ModelServer
) -> None:
    """The worker and the explainer run together; the model hangs past the timeout on every request.
    Every reading is still analysed and stored; the alarms get the offline text, deferred.
    (The rates with and without the hang are measured by ``bench/explain_isolation.py``.)"""
    from analyzer.runtime.explainer import run_explainer
    from analyzer.runtime.worker import ConsumerConfig, analysis_worker
    from tests.integration.helpers import all_results, group_is_done

    services, _ = await open_stack(llm_timeout_s=0.3, llm_max_attempts=1)
    model_server.default = Hang(5.0)
    stop = asyncio.Event()
    worker = analysis_worker(
        services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=16, block_ms=50), "w"
    )
    tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(run_explainer(services, stop, consumer="x"))]
    try:
        values: list[float | None] = [ABOVE_HIGH if (i // 20) % 2 == 0 else None for i in range(240)]
        ids = await services.lander.land_documents(readings(values))
        for _ in range(600):
            if await group_is_done(services.redis, services.keys.stream):
                break
            await asyncio.sleep(0.05)
        assert await group_is_done(services.redis, services.keys.stream)
        assert len(await all_results(services.store)) == len(ids)
        opened = [e["alarm_id"] for e in await events(services) if e["kind"] == "opened"]
        assert opened
        for _ in range(200):  # each call times out after 0.3 s; then the offline text is written
            contexts = [(await _record(services.alarms, a)).llm for a in opened]
            if all(c is not None for c in contexts):
                break
            await asyncio.sleep(0.05)
        assert all(c is not None and c.status == "deferred" and c.offline for c in contexts)
        assert all(c is not None and c.failure and "did not answer within" in c.failure for c in contexts), contexts
        assert model_server.requests()  # the model was asked, and hung
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks)
    model_server.default = Answer()


async def test_the_same_situation_again_within_the_cache_window_reuses_the_answer(
    open_stack: OpenStack, model_server: ModelServer
) -> None:
    """A resolved alarm that comes back in the same state is a new record: it gets the cached answer,
    marked ``cached``, with no model call."""
    services, explainer = await open_stack()
    await land_and_analyse(services, readings([ABOVE_HIGH] * 3))
    await explain_pending(services, explainer)
    first = await record_id(services, HIGH_KEY)
    await services.alarms.resolve(first, by="alice", note="reset", root_cause=RootCause.PROCESS_UPSET)
    await land_and_analyse(services, readings([ABOVE_HIGH] * 3))
    await explain_pending(services, explainer)
    second = await record_id(services, HIGH_KEY)
    assert second != first
    record = await _record(services.alarms, second)
    assert record.llm is not None and record.llm.status == "cached" and record.llm.provider == "openai-compatible"
    assert record.llm.summary == (await services.alarms.get(first)).llm.summary  # type: ignore[union-attr]
    assert len(model_server.requests()) == 1
