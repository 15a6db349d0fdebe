"""ContextService end to end: the local model server, the real Redis, the real SDK. What is
stored (the context) and what the server received, for a valid answer, the cache, the budget,
the breaker, a hang, invalid answers, the offline provider and usage per day."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from redis.asyncio import Redis

from analyzer.keys import PAYLOAD_FIELD, RedisKeys
from analyzer.settings import Settings
from analyzer.tiers.llm.evidence import build_evidence
from analyzer.tiers.llm.explain import ContextService
from analyzer.tiers.llm.offline import OFFLINE_MODEL, offline_answer
from analyzer.tiers.llm.prompt import build_messages, estimate_prompt_tokens
from analyzer.tiers.llm.usage import Prices, daily_usage
from schemas.llm import LLMContext
from tests.llm.conftest import llm_settings
from tests.llm.factories import CATALOG, END, plant_history, ramp, view
from tests.llm.model_server import VALID_ANSWER, Answer, Hang, ModelServer, Status

pytestmark = pytest.mark.redis

HISTORY = plant_history(shapes={"TI-101": ramp(350.0, 362.0)})


def offline_fields(alarm=None) -> dict:  # type: ignore[no-untyped-def]
    answer = offline_answer(build_evidence(alarm or view(), CATALOG, HISTORY, HISTORY))
    return answer.model_dump()


def answer_of(context: LLMContext) -> dict:  # type: ignore[type-arg]
    return {name: getattr(context, name) for name in VALID_ANSWER}


async def test_a_valid_answer_is_the_context_with_its_tokens_and_the_rules_priority(
    service: ContextService, model_server: ModelServer, redis_client: Redis, stream_key: str
) -> None:
    context = await service.explain(view(priority="high", event="opened"), HISTORY, HISTORY)

    assert len(model_server.requests()) == 1
    assert answer_of(context) == VALID_ANSWER
    assert (context.provider, context.model, context.status, context.offline) == (
        "openai-compatible",
        "plant-llm",
        "ok",
        False,
    )
    assert context.failure is None and context.retry_after_s is None
    assert (context.for_priority, context.for_event) == ("high", "opened")
    assert (context.prompt_tokens, context.completion_tokens) == (420, 95)
    assert context.latency_ms > 0 and context.generated_at.tzinfo is not None
    LLMContext.model_validate_json(context.model_dump_json())  # stores and reads back

    [today] = await daily_usage(redis_client, RedisKeys(stream_key), 1, prices=Prices(0.15, 0.6))
    assert (today.contexts, today.calls, today.requests) == (1, 1, 1)
    assert (today.prompt_tokens, today.completion_tokens) == (420, 95)
    assert today.outcomes == {"ok": 1}
    assert today.estimated_cost == pytest.approx(0.42 * 0.15 + 0.095 * 0.6)


async def test_an_identical_situation_reuses_the_answer_and_a_different_one_asks_again(
    service: ContextService, model_server: ModelServer
) -> None:
    first = await service.explain(view(), HISTORY, HISTORY)
    # same alarm, same state; count, times and exact values differ below the rounding
    again = await service.explain(view(count=90, peak_deviation=2.9, minutes_open=15), HISTORY, HISTORY)
    assert again.status == "cached" and answer_of(again) == answer_of(first)
    assert (again.provider, again.model, again.prompt_tokens, again.offline) == (
        "openai-compatible",
        "plant-llm",
        0,
        False,
    )
    assert len(model_server.requests()) == 1

    escalated = await service.explain(view("high_high", priority="critical", event="escalated"), HISTORY, HISTORY)
    assert escalated.status == "ok" and escalated.for_event == "escalated"
    assert len(model_server.requests()) == 2


async def test_the_cache_forgets_after_its_ttl(
    settings: Settings, model_server: ModelServer, redis_client: Redis
) -> None:
    service = ContextService.from_settings(llm_settings(settings, model_server, llm_cache_ttl_s=1), redis_client)
    await service.explain(view(), HISTORY, HISTORY)
    assert (await service.explain(view(), HISTORY, HISTORY)).status == "cached"
    await asyncio.sleep(1.1)
    assert (await service.explain(view(), HISTORY, HISTORY)).status == "ok"
    assert len(model_server.requests()) == 2
    await service.aclose()


def estimate(alarm=None) -> int:  # type: ignore[no-untyped-def]
    messages = build_messages(build_evidence(alarm or view(), CATALOG, HISTORY, HISTORY))
    return estimate_prompt_tokens(messages) + 700


async def test_an_exhausted_budget_defers_with_the_offline_text_for_every_replica(
    settings: Settings, model_server: ModelServer, redis_client: Redis
) -> None:
    # room for one call's reservation; after it settles to 515 tokens, not for another
    budget = estimate() + 100
    tight = llm_settings(settings, model_server, llm_daily_token_budget=budget)
    one = ContextService.from_settings(tight, redis_client)
    other = ContextService.from_settings(tight, redis_client)  # a second replica

    assert (await one.explain(view(), HISTORY, HISTORY)).status == "ok"
    other_alarm = view("low", ("LI-101",), peak_value=31.0, last_value=31.5)
    deferred = await other.explain(other_alarm, HISTORY, HISTORY)

    assert len(model_server.requests()) == 1  # the second call never reached the service
    assert deferred.status == "deferred"
    assert deferred.failure is not None and deferred.failure.startswith(f"budget exhausted: 515 of {budget} tokens")
    assert (deferred.provider, deferred.model, deferred.offline) == ("offline", OFFLINE_MODEL, True)
    assert answer_of(deferred) == offline_fields(other_alarm)  # the operator gets the offline text now
    assert deferred.retry_after_s is not None and 0 < deferred.retry_after_s <= 24 * 3600
    [today] = await daily_usage(redis_client, one.keys, 1)
    assert today.deferred == {"budget": 1} and today.calls == 1
    await one.aclose()
    await other.aclose()


async def test_the_breaker_opens_on_failures_and_closes_when_the_service_is_back(
    service: ContextService, model_server: ModelServer, redis_client: Redis
) -> None:
    model_server.default = Status(500, message="model crashed")
    alarms = [view(sensors=(name,)) for name in ("TI-101", "TI-102", "TI-103", "LI-101")]
    failed = [await service.explain(alarm, HISTORY, HISTORY) for alarm in alarms[:3]]
    assert [c.status for c in failed] == ["deferred"] * 3
    assert failed[0].failure == "HTTP 500 after 3 requests: model crashed"
    assert failed[0].offline and failed[0].provider == "offline"
    assert len(model_server.requests()) == 9  # three calls of LLM_MAX_ATTEMPTS requests

    stopped = await service.explain(alarms[3], HISTORY, HISTORY)
    assert stopped.status == "deferred" and stopped.failure is not None
    assert stopped.failure.startswith("circuit open: the model service failed 3 times in a row")
    assert stopped.retry_after_s is not None and 0 < stopped.retry_after_s <= 1.5
    assert len(model_server.requests()) == 9  # no request while open

    model_server.default = Answer()
    await asyncio.sleep(1.55)  # the cool-down: the next call is the trial
    back = await service.explain(alarms[3], HISTORY, HISTORY)
    assert back.status == "ok" and answer_of(back) == VALID_ANSWER
    assert await service.guards.breaker.state() == "closed"

    [today] = await daily_usage(redis_client, service.keys, 1)
    assert today.deferred == {"service": 3, "circuit": 1}
    assert (today.calls, today.requests) == (4, 10)


async def test_a_hang_is_deferred_at_the_timeout_with_the_offline_text(
    service: ContextService, model_server: ModelServer
) -> None:
    model_server.default = Hang(seconds=5)
    context = await service.explain(view(), HISTORY, HISTORY)
    assert context.status == "deferred"
    assert context.failure == "the model service did not answer within 1.0 s"
    assert answer_of(context) == offline_fields()
    assert len(model_server.requests()) == 1


async def test_an_answer_invalid_twice_falls_back_to_the_offline_text_with_the_failure(
    service: ContextService, model_server: ModelServer, redis_client: Redis
) -> None:
    model_server.default = Answer(content={**VALID_ANSWER, "suggested_severity": "apocalyptic"})
    context = await service.explain(view(), HISTORY, HISTORY)
    assert context.status == "fallback" and context.offline and context.provider == "offline"
    assert context.failure is not None and context.failure.startswith("invalid answer, asked twice")
    assert "suggested_severity" in context.failure
    assert (context.prompt_tokens, context.completion_tokens) == (840, 190)  # both answers were paid for
    assert answer_of(context) == offline_fields()
    assert await service.guards.breaker.state() == "closed"  # the service answered: not a failure
    assert (await service.explain(view(), HISTORY, HISTORY)).status == "fallback"  # invalid answers are not cached
    [today] = await daily_usage(redis_client, service.keys, 1)
    assert today.outcomes == {"fallback": 2} and today.prompt_tokens == 4 * 420


async def test_a_refused_request_falls_back(service: ContextService, model_server: ModelServer) -> None:
    model_server.default = Status(401, message="Access denied due to invalid subscription key")
    context = await service.explain(view(), HISTORY, HISTORY)
    assert context.status == "fallback"
    assert context.failure == "HTTP 401 after 1 request: Access denied due to invalid subscription key"


async def test_the_offline_provider_answers_without_any_service(
    settings: Settings, model_server: ModelServer, redis_client: Redis
) -> None:
    assert settings.llm_provider == "offline"  # the local default
    service = ContextService.from_settings(settings, redis_client)
    context = await service.explain(view(priority="critical", event="escalated"), HISTORY, HISTORY)
    assert (context.provider, context.model, context.status, context.offline) == ("offline", OFFLINE_MODEL, "ok", True)
    assert answer_of(context) == offline_fields(view(priority="critical", event="escalated"))
    assert context.failure is None and context.prompt_tokens == 0
    assert model_server.requests() == []
    [today] = await daily_usage(redis_client, service.keys, 1)
    assert today.outcomes == {"offline": 1} and today.calls == 0
    await service.aclose()


async def test_explain_from_stream_reads_the_alarms_last_hour(
    service: ContextService, model_server: ModelServer, redis_client: Redis, stream_key: str
) -> None:
    start = END - timedelta(minutes=70)
    for i in range(7 * 60):  # 70 minutes at 10 s; TI-101 climbing
        moment = start + timedelta(seconds=10 * (i + 1))
        payload = {"timestamp": moment.isoformat().replace("+00:00", "Z"), "TI-101": 350 + i * 0.03, "FI-102": 2400.0}
        await redis_client.xadd(
            stream_key, {PAYLOAD_FIELD: orjson.dumps(payload)}, id=f"{int(moment.timestamp() * 1000)}-0"
        )
    context = await service.explain_from_stream(view())
    assert context.status == "ok"
    user = model_server.requests()[0].messages[1]["content"]
    assert '"samples":361' in user and '"direction":"rising"' in user
    assert '"slope_per_h":10.8' in user  # 0.03 per 10 s


async def test_usage_is_kept_per_utc_day(settings: Settings, model_server: ModelServer, redis_client: Redis) -> None:
    days = iter([datetime(2026, 11, 22, 23, 59, tzinfo=UTC)] * 3 + [datetime(2026, 11, 23, 0, 1, tzinfo=UTC)] * 3)
    service = ContextService.from_settings(
        llm_settings(settings, model_server, llm_cache_ttl_s=0), redis_client, clock=lambda: next(days)
    )
    await service.explain(view(), HISTORY, HISTORY)
    await service.explain(view(), HISTORY, HISTORY)
    report = await daily_usage(redis_client, service.keys, 3, today=datetime(2026, 11, 23, tzinfo=UTC))
    assert [d.day for d in report] == ["2026-11-21", "2026-11-22", "2026-11-23"]
    assert [d.calls for d in report] == [0, 1, 1]
    assert report[1].prompt_tokens == report[2].prompt_tokens == 420
    assert report[0].estimated_cost == 0 and report[1].estimated_cost > 0
    await service.aclose()


async def test_pointing_the_environment_at_a_compatible_server_needs_no_code_change(
    monkeypatch: pytest.MonkeyPatch, model_server: ModelServer, redis_client: Redis, stream_key: str
) -> None:
    monkeypatch.setenv("LLM_PROVIDER", "openai")  # the older spelling still works
    monkeypatch.setenv("LLM_BASE_URL", model_server.openai_base_url)
    monkeypatch.setenv("LLM_MODEL", "llama3.1:8b")
    monkeypatch.setenv("STREAM_KEY", stream_key)
    service = ContextService.from_settings(Settings(_env_file=None), redis_client)  # type: ignore[call-arg]
    context = await service.explain(view(), HISTORY, HISTORY)
    await service.aclose()
    assert (context.provider, context.model, context.status) == ("openai-compatible", "llama3.1:8b", "ok")
    assert model_server.requests()[0].body["model"] == "llama3.1:8b"
