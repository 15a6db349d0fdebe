"""The OpenAI SDK providers against a local OpenAI-compatible HTTP server: what is sent (path,
model or deployment, API version, auth header, messages, response format) and what comes back
for a valid answer, 429 with Retry-After, 500, a hang, malformed JSON and schema violations."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from azure.core.exceptions import ClientAuthenticationError
from pydantic import SecretStr

from analyzer.settings import Settings
from analyzer.tiers.llm.answer import response_format, strict_schema
from analyzer.tiers.llm.evidence import AlarmEvidence, build_evidence
from analyzer.tiers.llm.prompt import SYSTEM_PROMPT
from analyzer.tiers.llm.providers import NO_KEY, OpenAIExplainer, build_explainer
from analyzer.tiers.llm.types import AnswerRejected, ServiceRefused, ServiceUnavailable
from tests.llm.conftest import llm_settings
from tests.llm.factories import CATALOG, plant_history, ramp, view
from tests.llm.model_server import VALID_ANSWER, Answer, Hang, ModelServer, RawBody, Status


@pytest.fixture
def evidence() -> AlarmEvidence:
    history = plant_history(shapes={"TI-101": ramp(350.0, 362.0)})
    return build_evidence(view(), CATALOG, history, history)


def base() -> Settings:
    return Settings(_env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def compatible(model_server: ModelServer) -> AsyncIterator[OpenAIExplainer]:
    explainer = OpenAIExplainer.from_settings(llm_settings(base(), model_server))
    yield explainer
    await explainer.aclose()


async def test_openai_compatible_sends_the_model_the_messages_and_the_strict_schema(
    compatible: OpenAIExplainer, model_server: ModelServer, evidence: AlarmEvidence
) -> None:
    explanation = await compatible.explain(evidence)

    [request] = model_server.requests()
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {NO_KEY}"  # no key configured: a placeholder, no secret
    body = request.body
    assert body["model"] == "plant-llm"
    assert body["response_format"] == json.loads(json.dumps(response_format()))
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"] == strict_schema()
    assert body["max_tokens"] == 700 and body["temperature"] == 0.2
    assert [m["role"] for m in request.messages] == ["system", "user"]
    assert request.messages[0]["content"] == SYSTEM_PROMPT
    assert "TI-101" in request.messages[1]["content"]

    assert explanation.answer.model_dump() == VALID_ANSWER
    assert (explanation.provider, explanation.model, explanation.offline) == ("openai-compatible", "plant-llm", False)
    assert (explanation.usage.prompt_tokens, explanation.usage.completion_tokens) == (420, 95)
    assert explanation.usage.requests == 1 and explanation.usage.latency_ms > 0


async def test_openai_compatible_sends_the_configured_key(model_server: ModelServer, evidence: AlarmEvidence) -> None:
    explainer = OpenAIExplainer.from_settings(llm_settings(base(), model_server, openai_api_key=SecretStr("sk-plant")))
    await explainer.explain(evidence)
    await explainer.aclose()
    assert model_server.requests()[0].headers["Authorization"] == "Bearer sk-plant"


def azure_settings(server: ModelServer, **overrides: object) -> Settings:
    return llm_settings(
        base(), server, llm_provider="azure-openai", openai_endpoint=server.url, llm_base_url=None, **overrides
    )


async def test_azure_calls_the_deployment_with_the_api_version_and_the_api_key(
    model_server: ModelServer, evidence: AlarmEvidence
) -> None:
    explainer = OpenAIExplainer.from_settings(azure_settings(model_server, openai_api_key=SecretStr("azure-key")))
    explanation = await explainer.explain(evidence)
    await explainer.aclose()

    [request] = model_server.requests()
    assert request.path == "/openai/deployments/gpt-4o-mini/chat/completions"
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == "azure-key"
    assert "Authorization" not in request.headers
    assert request.body["response_format"]["type"] == "json_schema"
    assert (explanation.provider, explanation.model) == ("azure-openai", "gpt-4o-mini")


async def test_azure_without_a_key_sends_an_entra_id_bearer_token(
    model_server: ModelServer, evidence: AlarmEvidence
) -> None:
    asked = []

    async def token_provider() -> str:
        asked.append(True)
        return "entra-token-1"

    explainer = OpenAIExplainer.from_settings(
        azure_settings(model_server, openai_deployment_name="ops-mini"), token_provider=token_provider
    )
    await explainer.explain(evidence)
    await explainer.aclose()
    [request] = model_server.requests()
    assert request.path == "/openai/deployments/ops-mini/chat/completions"
    assert request.headers["Authorization"] == "Bearer entra-token-1"
    assert "api-key" not in request.headers
    assert asked


async def test_azure_without_a_key_uses_default_azure_credential(model_server: ModelServer) -> None:
    explainer = build_explainer(azure_settings(model_server))
    assert isinstance(explainer, OpenAIExplainer)
    assert explainer.client._azure_ad_token_provider is not None  # type: ignore[attr-defined]
    await explainer.aclose()  # closes the credential too


async def test_no_entra_token_is_a_transient_failure(model_server: ModelServer, evidence: AlarmEvidence) -> None:
    def token_provider() -> str:
        raise ClientAuthenticationError("ManagedIdentityCredential: no identity assigned")

    explainer = OpenAIExplainer.from_settings(azure_settings(model_server), token_provider=token_provider)
    with pytest.raises(ServiceUnavailable, match=r"no Entra ID token .*no identity assigned"):
        await explainer.explain(evidence)
    await explainer.aclose()
    assert model_server.requests() == []


async def test_429_is_retried_after_what_retry_after_asks(
    compatible: OpenAIExplainer, model_server: ModelServer, evidence: AlarmEvidence
) -> None:
    model_server.script(Status(429, {"Retry-After": "1"}, "Rate limit reached for gpt-4o-mini"))
    explanation = await compatible.explain(evidence)
    first, second = model_server.requests()
    assert second.at - first.at >= 1.0  # waited as asked (plus up to 10 % jitter)
    assert explanation.usage.requests == 2
    assert explanation.answer.summary == VALID_ANSWER["summary"]


async def test_load_gives_up_after_max_attempts_requests_not_more(
    compatible: OpenAIExplainer, model_server: ModelServer, evidence: AlarmEvidence
) -> None:
    model_server.default = Status(429, {"retry-after-ms": "150"})
    with pytest.raises(ServiceUnavailable, match="HTTP 429 after 3 requests") as failed:
        await compatible.explain(evidence)
    # 3 = LLM_MAX_ATTEMPTS: the SDK's own retries are off, so they do not multiply
    assert len(model_server.requests()) == 3
    assert failed.value.retry_after_s == pytest.approx(0.15)
    assert failed.value.usage.requests == 3


async def test_a_retry_after_beyond_the_longest_wait_is_not_waited_for(
    compatible: OpenAIExplainer, model_server: ModelServer, evidence: AlarmEvidence
) -> None:
    model_server.default = Status(429, {"Retry-After": "120"})
    with pytest.raises(ServiceUnavailable) as failed:
        await compatible.explain(evidence)
    assert len(model_server.requests()) == 1
    assert failed.value.retry_after_s == 120  # the caller is told when to come back


async def test_500_is_retried_with_backoff_then_reported(
    compatible: OpenAIExplainer, model_server: ModelServer, evidence: AlarmEvidence
) -> None:
    model_server.script(Status(500, message="upstream model crashed"))
    assert (await compatible.explain(evidence)).usage.requests == 2

    model_server.default = Status(503, message="overloaded")
    with pytest.raises(ServiceUnavailable, match="HTTP 503 after 3 requests: overloaded"):
        await compatible.explain(evidence)
    assert len(model_server.requests()) == 2 + 3


async def test_a_hang_past_the_timeout_fails_once_without_retrying(
    compatible: OpenAIExplainer, model_server: ModelServer, evidence: AlarmEvidence
) -> None:
    model_server.default = Hang(seconds=5)
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=r"did not answer within 1\.0 s") as failed:
        await compatible.explain(evidence)
    assert time.monotonic() - started < 5  # gave up at the timeout, did not wait for the hang
    assert len(model_server.requests()) == 1
    assert failed.value.usage.requests == 1


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        (Answer(content="The heater is hot. {not json"), "not valid JSON"),
        (Answer(content={**VALID_ANSWER, "suggested_severity": "catastrophic"}), "suggested_severity"),
        (Answer(content={**VALID_ANSWER, "note": "extra"}), "note: Extra inputs are not permitted"),
        (Answer(content={k: v for k, v in VALID_ANSWER.items() if k != "recommended_checks"}), "recommended_checks"),
        (Answer(content={**VALID_ANSWER, "likely_causes": ["x"] * 7}), "likely_causes"),
        (Answer(content={**VALID_ANSWER, "summary": "x" * 801}), "summary"),
        (Answer(finish_reason="length"), "cut off at the token limit"),
        (RawBody("<html>502 Bad Gateway</html>"), "not a chat completion"),
    ],
)
async def test_an_invalid_answer_is_asked_once_more_then_rejected(
    compatible: OpenAIExplainer, model_server: ModelServer, evidence: AlarmEvidence, bad: Answer, problem: str
) -> None:
    model_server.default = bad
    with pytest.raises(AnswerRejected, match="invalid answer, asked twice") as failed:
        await compatible.explain(evidence)
    assert problem in failed.value.reason
    assert len(model_server.requests()) == 2
    if isinstance(bad, Answer) and bad.with_usage:
        assert failed.value.usage.prompt_tokens == 2 * bad.prompt_tokens  # both answers were paid for


async def test_an_invalid_answer_followed_by_a_valid_one_is_accepted(
    compatible: OpenAIExplainer, model_server: ModelServer, evidence: AlarmEvidence
) -> None:
    model_server.script(Answer(content='{"summary": "half'))
    explanation = await compatible.explain(evidence)
    assert explanation.answer.model_dump() == VALID_ANSWER
    assert explanation.usage.requests == 2 and explanation.usage.prompt_tokens == 840


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_a_refused_request_is_not_retried(
    compatible: OpenAIExplainer, model_server: ModelServer, evidence: AlarmEvidence, status: int
) -> None:
    model_server.default = Status(status, message="Invalid schema for response_format")
    with pytest.raises(ServiceRefused, match=f"HTTP {status} after 1 request: Invalid schema"):
        await compatible.explain(evidence)
    assert len(model_server.requests()) == 1


async def test_a_server_that_is_not_there_is_a_transient_failure(evidence: AlarmEvidence) -> None:
    server = ModelServer()  # a free port nobody listens on
    explainer = OpenAIExplainer.from_settings(llm_settings(base(), server, llm_retry_max_wait_s=0.1))
    with pytest.raises(ServiceUnavailable, match="cannot reach the model service") as failed:
        await explainer.explain(evidence)
    await explainer.aclose()
    assert failed.value.usage.requests == 3  # connection failures are retried
