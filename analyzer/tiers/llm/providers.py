"""The providers behind ``LLM_PROVIDER``: ``offline`` (:mod:`.offline`), ``azure-openai`` and
``openai-compatible`` (both :class:`OpenAIExplainer`, the official ``openai`` SDK's async clients).

``azure-openai``: ``AsyncAzureOpenAI(azure_endpoint=OPENAI_ENDPOINT, api_version=OPENAI_API_VERSION)``;
the deployment (``OPENAI_DEPLOYMENT_NAME``) is the request's ``model``, so the SDK calls
``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...``. With
``OPENAI_API_KEY`` it sends the ``api-key`` header; without, an Entra ID bearer token for
``https://cognitiveservices.azure.com/.default`` from ``DefaultAzureCredential`` (the container
app's managed identity in Azure; ``AZURE_CLIENT_ID`` picks a user-assigned one).

``openai-compatible``: ``AsyncOpenAI(base_url=LLM_BASE_URL)`` and ``model=LLM_MODEL``: Ollama,
vLLM, llama.cpp's server, or OpenAI itself. ``OPENAI_API_KEY`` is sent when set.

Every request asks for the strict JSON schema of the answer (structured outputs) and the answer
is validated; an invalid one is asked for once more, then the call fails with
:class:`~.types.AnswerRejected` (the service then writes the offline text and records why).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from azure.core.exceptions import ClientAuthenticationError
from openai import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AsyncAzureOpenAI,
    AsyncOpenAI,
)
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam

from analyzer.settings import Settings
from analyzer.tiers.llm.answer import ContextAnswer, InvalidAnswer, parse_answer, response_format
from analyzer.tiers.llm.evidence import AlarmEvidence, clean_text
from analyzer.tiers.llm.offline import OfflineExplainer
from analyzer.tiers.llm.prompt import build_messages
from analyzer.tiers.llm.retry import RetryPolicy, call_with_retries, is_transient, retry_after_s
from analyzer.tiers.llm.types import AnswerRejected, CallUsage, Explanation, ServiceRefused, ServiceUnavailable
from schemas.llm import ProviderName

ENTRA_SCOPE = "https://cognitiveservices.azure.com/.default"
#: Sent as the API key to an OpenAI-compatible server when none is configured (the SDK needs one;
#: servers without authentication ignore it).
NO_KEY = "not-configured"
#: Answers asked for per call: the first, and one more when it is invalid.
ANSWER_ATTEMPTS = 2

TokenProvider = Callable[[], str | Awaitable[str]]


class Explainer(Protocol):
    """Writes the context for one alarm event. Raises :class:`~.types.ExplainFailed` subclasses."""

    provider: ProviderName
    model: str

    async def explain(self, evidence: AlarmEvidence) -> Explanation: ...

    async def aclose(self) -> None: ...


class OpenAIExplainer:
    """A model behind the OpenAI chat-completions API (Azure OpenAI or any compatible server)."""

    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        provider: ProviderName,
        model: str,
        retry: RetryPolicy | None = None,
        max_tokens: int = 700,
        temperature: float = 0.2,
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.provider = provider
        self.model = model
        self.retry = retry or RetryPolicy()
        self.max_tokens = max_tokens
        self.temperature = temperature
        self._on_close = on_close

    @classmethod
    def from_settings(cls, settings: Settings, *, token_provider: TokenProvider | None = None) -> OpenAIExplainer:
        """The explainer ``LLM_PROVIDER`` names (``azure-openai`` or ``openai-compatible``).

        ``token_provider`` replaces Entra ID's (tests; a caller with its own credential).
        """
        options: dict[str, Any] = {"timeout": settings.llm_timeout_s, "max_retries": 0}
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        retry = RetryPolicy(max_attempts=settings.llm_max_attempts, max_wait_s=settings.llm_retry_max_wait_s)
        if settings.llm_provider == "azure-openai":
            assert settings.openai_endpoint is not None  # checked by Settings
            on_close = None
            if key:
                options["api_key"] = key
            else:
                if token_provider is None:
                    token_provider, on_close = _entra_token_provider()
                options["azure_ad_token_provider"] = token_provider
            client: AsyncOpenAI = AsyncAzureOpenAI(
                azure_endpoint=settings.openai_endpoint, api_version=settings.openai_api_version, **options
            )
            return cls(
                client,
                provider="azure-openai",
                model=settings.openai_deployment_name,
                retry=retry,
                max_tokens=settings.llm_max_completion_tokens,
                temperature=settings.llm_temperature,
                on_close=on_close,
            )
        if settings.llm_provider == "openai-compatible":
            assert settings.llm_base_url is not None and settings.llm_model is not None  # checked by Settings
            client = AsyncOpenAI(base_url=settings.llm_base_url, api_key=key or NO_KEY, **options)
            return cls(
                client,
                provider="openai-compatible",
                model=settings.llm_model,
                retry=retry,
                max_tokens=settings.llm_max_completion_tokens,
                temperature=settings.llm_temperature,
            )
        raise ValueError(f"LLM_PROVIDER={settings.llm_provider} is not served by the OpenAI SDK")

    async def aclose(self) -> None:
        await self.client.close()
        if self._on_close is not None:
            await self._on_close()

    async def explain(self, evidence: AlarmEvidence) -> Explanation:
        messages = build_messages(evidence)
        spent = CallUsage()
        problem = ""
        for _ in range(ANSWER_ATTEMPTS):
            completion, usage, problem = await self._complete(messages, spent)
            spent += usage
            if completion is None:
                continue
            try:
                answer = _answer_of(completion)
            except InvalidAnswer as error:
                problem = str(error)
                continue
            return Explanation(answer=answer, provider=self.provider, model=self.model, usage=spent)
        raise AnswerRejected(f"invalid answer, asked twice: {clean_text(problem, 300)}", spent)

    async def _complete(
        self, messages: list[ChatCompletionMessageParam], spent: CallUsage
    ) -> tuple[ChatCompletion | None, CallUsage, str]:
        """One response, with retries on load: the completion (``None`` with the problem when the
        body was not a chat completion) and its usage. Service failures raise, carrying the usage
        spent so far."""
        requests = 0

        async def attempt() -> ChatCompletion:
            nonlocal requests
            requests += 1
            return await self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                response_format=response_format(),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )

        started = time.perf_counter()
        try:
            completion = await call_with_retries(attempt, self.retry)
        except (APIConnectionError, APIStatusError) as error:
            usage = spent + CallUsage(latency_ms=_ms_since(started), requests=requests)
            raise _failure(error, requests, self.client, usage) from error
        except ClientAuthenticationError as error:
            # No Entra ID token (managed identity not ready, role missing): the service is out of reach.
            usage = spent + CallUsage(latency_ms=_ms_since(started), requests=requests)
            reason = f"no Entra ID token for the model service: {clean_text(str(error), 200)}"
            raise ServiceUnavailable(reason, usage) from error
        except (ValueError, APIResponseValidationError) as error:
            # A 200 whose body is not JSON (the SDK raises json's ValueError) or not a completion.
            usage = CallUsage(latency_ms=_ms_since(started), requests=requests)
            return None, usage, f"the response body is not a chat completion: {clean_text(str(error), 120)}"
        tokens = getattr(completion, "usage", None)
        usage = CallUsage(
            prompt_tokens=int(getattr(tokens, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(tokens, "completion_tokens", 0) or 0),
            latency_ms=_ms_since(started),
            requests=requests,
        )
        return completion, usage, ""


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _answer_of(completion: ChatCompletion) -> ContextAnswer:
    try:
        choice = completion.choices[0]
        refusal, finish, content = choice.message.refusal, choice.finish_reason, choice.message.content
    except (AttributeError, IndexError, KeyError, TypeError):
        # The SDK builds the model leniently from whatever JSON came back.
        raise InvalidAnswer("the response has no usable choice") from None
    if refusal:
        raise InvalidAnswer(f"the model refused: {refusal}")
    if finish == "length":
        raise InvalidAnswer("the answer was cut off at the token limit")
    return parse_answer(content if isinstance(content, str) else None)


def _failure(error: Exception, requests: int, client: AsyncOpenAI, usage: CallUsage) -> Exception:
    """The SDK's error as the failure the service acts on, with a reason an operator can read."""
    if isinstance(error, APITimeoutError):
        reason = f"the model service did not answer within {client.timeout} s"
    elif isinstance(error, APIConnectionError):
        reason = f"cannot reach the model service at {client.base_url}: {error.message}"
    else:
        assert isinstance(error, APIStatusError)
        detail = clean_text(str(error.message).removeprefix(f"Error code: {error.status_code} - "), 200)
        reason = f"HTTP {error.status_code} after {requests} request{'s' * (requests > 1)}: {detail}"
    if is_transient(error):
        return ServiceUnavailable(reason, usage, retry_after_s=retry_after_s(error))
    return ServiceRefused(reason, usage)


def _entra_token_provider() -> tuple[TokenProvider, Callable[[], Awaitable[None]]]:
    """Entra ID bearer tokens for Azure OpenAI from ``DefaultAzureCredential`` (async)."""
    from azure.identity.aio import DefaultAzureCredential, get_bearer_token_provider

    credential = DefaultAzureCredential()
    return get_bearer_token_provider(credential, ENTRA_SCOPE), credential.close


def build_explainer(settings: Settings, *, token_provider: TokenProvider | None = None) -> Explainer:
    """The provider ``LLM_PROVIDER`` names."""
    if settings.llm_provider == "offline":
        return OfflineExplainer()
    return OpenAIExplainer.from_settings(settings, token_provider=token_provider)
