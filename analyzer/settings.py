"""Configuration from environment variables and ``.env``.

The variable names are the ones the Azure deployment sets (see ``infrastructure/functions.tf``
and ``infrastructure/container-apps.tf``); the same code runs locally with other values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, Self
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CATALOG = Path(__file__).parent / "catalog" / "plant.json"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"

LLMProvider = Literal["offline", "azure-openai", "openai-compatible"]
#: Earlier names of the providers, still accepted in ``LLM_PROVIDER``.
LLM_PROVIDER_ALIASES = {"azure_openai": "azure-openai", "openai": "openai-compatible"}


def redis_url_from_connection_string(value: str) -> str:
    """Turn either Redis connection-string form into a URL ``redis.from_url`` accepts.

    Accepts ``redis://`` / ``rediss://`` URLs unchanged, and Azure's StackExchange.Redis form
    ``host:port,password=...,ssl=True,abortConnect=False``.

    >>> redis_url_from_connection_string("cache.example.net:6380,password=p@ss,ssl=True,abortConnect=False")
    'rediss://:p%40ss@cache.example.net:6380/0'
    >>> redis_url_from_connection_string("redis://localhost:6379/2")
    'redis://localhost:6379/2'
    """
    text = value.strip()
    if not text:
        raise ValueError("Redis connection string is empty")
    if text.startswith(("redis://", "rediss://", "unix://")):
        return text
    endpoint, *options = (part.strip() for part in text.split(","))
    if not endpoint or "=" in endpoint:
        raise ValueError(
            "Redis connection string must be a redis:// or rediss:// URL or start with host:port "
            "(e.g. 'cache.redis.cache.windows.net:6380,password=...,ssl=True')"
        )
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit():
        host, port = endpoint, "6379"
    parsed: dict[str, str] = {}
    for option in options:
        if not option:
            continue
        name, sep, raw = option.partition("=")
        if not sep:
            raise ValueError(f"Redis connection string option {option!r} is not of the form name=value")
        parsed[name.strip().lower()] = raw.strip()
    ssl = parsed.get("ssl", "false").lower() == "true"
    user = parsed.get("user", "")
    password = parsed.get("password", "")
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if (user or password) else ""
    scheme = "rediss" if ssl else "redis"
    return f"{scheme}://{auth}{host}:{port}/0"


class Settings(BaseSettings):
    """Everything the analyzer reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "test", "dev", "staging", "prod"] = "development"

    # Redis: the 24 h window, the stream and the shared tier 2 state.
    redis_connection_string: SecretStr | None = None
    #: Authenticate to Redis with the identity's Entra ID token instead of a password (Azure).
    redis_entra_auth: bool = False
    stream_key: str = Field("sensors:readings", min_length=1)
    window_s: int = Field(24 * 3600, gt=0, description="rolling window kept on the stream, seconds")

    #: Tier 2 (z-scores, IsolationForest); off leaves tier 1 alone, e.g. to isolate a tier 2 fault.
    tier2_enabled: bool = True

    # Store.
    store_backend: Literal["sqlite", "cosmos"] = "sqlite"
    sqlite_path: Path = Path(".state/analyzer.db")
    cosmos_db_endpoint: str | None = None
    cosmos_db_database_name: str = "sensor-analyzer"
    cosmos_db_key: SecretStr | None = None
    cosmos_db_verify_tls: bool = True
    cosmos_db_create_if_missing: bool = False

    # ---- Tier 3: operator context from a language model (analyzer/tiers/llm) -------------------
    #: ``offline`` (deterministic text from tier 1/2 evidence), ``azure-openai`` or
    #: ``openai-compatible`` (any server speaking the OpenAI API: Ollama, vLLM, llama.cpp).
    #: The older spellings ``azure_openai`` and ``openai`` are accepted.
    llm_provider: LLMProvider = "offline"
    #: ``openai-compatible``: the server's base URL (e.g. ``http://127.0.0.1:11434/v1``) and model.
    llm_base_url: str | None = None
    llm_model: str | None = None
    #: ``azure-openai``: the resource endpoint and deployment. Without ``OPENAI_API_KEY`` the
    #: analyzer authenticates with Entra ID (``DefaultAzureCredential``: managed identity in Azure).
    #: ``OPENAI_API_KEY`` is also sent to an ``openai-compatible`` server when set.
    openai_endpoint: str | None = None
    openai_api_key: SecretStr | None = None
    openai_deployment_name: str = "gpt-4o-mini"
    #: Structured outputs (strict JSON schema) are GA from 2024-10-21.
    openai_api_version: str = "2024-10-21"
    #: One HTTP request's timeout; the SDK's own retries are off, tier 3 retries (with jitter,
    #: honouring Retry-After) up to ``LLM_MAX_ATTEMPTS`` requests per call on 429, 5xx and
    #: connection failures, waiting at most ``LLM_RETRY_MAX_WAIT_S`` between them.
    llm_timeout_s: float = Field(20.0, gt=0)
    llm_max_attempts: int = Field(3, ge=1, le=10)
    llm_retry_max_wait_s: float = Field(20.0, ge=0)
    llm_max_completion_tokens: int = Field(700, ge=64, le=16_384)
    llm_temperature: float = Field(0.2, ge=0, le=2)
    #: Circuit breaker, shared by all replicas through Redis: opens after this many consecutive
    #: failed calls, lets one trial call through after the cool-down, closes on its success.
    llm_breaker_failures: int = Field(5, ge=1)
    llm_breaker_cooldown_s: float = Field(60.0, gt=0)
    #: Shared by all replicas: model calls per minute and tokens per UTC day (0 = no model calls).
    llm_calls_per_minute: int = Field(30, ge=0)
    llm_daily_token_budget: int = Field(2_000_000, ge=0)
    #: Identical situations (same alarm, sensors, priority, event and rounded evidence) within this
    #: many seconds reuse the cached answer; 0 turns the cache off.
    llm_cache_ttl_s: int = Field(3600, ge=0)
    #: Evidence size: sensors described in full, other sensors reported as moving together, and
    #: the recent history read from the stream.
    llm_max_sensors: int = Field(8, ge=1, le=50)
    llm_max_moved_sensors: int = Field(6, ge=0, le=50)
    llm_recent_window_s: int = Field(3600, gt=0)
    llm_recent_max_entries: int = Field(720, gt=0, le=100_000)
    #: Estimated cost per 1000 tokens (defaults: gpt-4o-mini global list prices) and the days
    #: usage counters are kept.
    llm_price_input_per_1k: float = Field(0.00015, ge=0)
    llm_price_output_per_1k: float = Field(0.0006, ge=0)
    llm_price_currency: str = "USD"
    llm_usage_retention_days: int = Field(400, ge=1)

    @field_validator("llm_provider", mode="before")
    @classmethod
    def _provider_aliases(cls, value: object) -> object:
        return LLM_PROVIDER_ALIASES.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _tier3_complete(self) -> Self:
        if self.llm_provider == "azure-openai" and not self.openai_endpoint:
            raise ValueError("LLM_PROVIDER=azure-openai needs OPENAI_ENDPOINT (https://<resource>.openai.azure.com/)")
        if self.llm_provider == "openai-compatible" and not (self.llm_base_url and self.llm_model):
            raise ValueError("LLM_PROVIDER=openai-compatible needs LLM_BASE_URL and LLM_MODEL")
        return self

    #: The explanation consumer (analyzer/runtime/explainer.py): ``sensor-analyzer api`` runs it
    #: beside the HTTP service when true (``run`` and ``explain`` always run it). It explains up to
    #: ``EXPLAIN_CONCURRENCY`` alarm events at once; a deferred context is asked again after its
    #: ``retry_after_s`` (at least ``EXPLAIN_RETRY_MIN_S``), polled every ``EXPLAIN_RETRY_POLL_S``,
    #: for records opened less than ``EXPLAIN_RETRY_MAX_AGE_S`` ago (0 = however old).
    explain_consumer_enabled: bool = True
    explain_concurrency: int = Field(4, ge=1, le=64)
    explain_retry_min_s: float = Field(30.0, gt=0)
    explain_retry_poll_s: float = Field(5.0, gt=0)
    explain_retry_max_age_s: int = Field(24 * 3600, ge=0)

    # ---- end of tier 3 -------------------------------------------------------------------------

    # Services.
    fastapi_endpoint: str = "http://127.0.0.1:8000"
    analyzer_api_key: SecretStr | None = None
    application_insights_connection_string: SecretStr | None = None
    sensor_catalog: Path = DEFAULT_CATALOG

    # Landing: what a payload may look like.
    max_payload_bytes: int = Field(64 * 1024, gt=0)
    max_sensors_per_payload: int = Field(1000, gt=0)
    max_future_skew_s: int = Field(300, ge=0)

    # Local stream worker.
    worker_batch_size: int = Field(64, gt=0, le=10_000)
    worker_block_ms: int = Field(1000, ge=0)
    worker_claim_idle_ms: int = Field(60_000, gt=0)
    worker_max_deliveries: int = Field(5, gt=0)
    worker_consumer_name: str | None = None

    @field_validator("redis_connection_string", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _production_needs_a_key(self) -> Self:
        if self.environment in {"staging", "prod"} and self.analyzer_api_key is None:
            raise ValueError("ANALYZER_API_KEY must be set outside development (it guards the analyze route)")
        if self.redis_entra_auth:
            if self.redis_connection_string is None:
                raise ValueError("REDIS_ENTRA_AUTH needs the host in REDIS_CONNECTION_STRING ('host:10000,ssl=True')")
            if "@" in redis_url_from_connection_string(self.redis_connection_string.get_secret_value()):
                raise ValueError("REDIS_ENTRA_AUTH and a password in REDIS_CONNECTION_STRING exclude each other")
        if self.store_backend == "cosmos" and not self.cosmos_db_endpoint:
            raise ValueError("STORE_BACKEND=cosmos needs COSMOS_DB_ENDPOINT")
        return self

    @property
    def redis_url(self) -> str:
        """The Redis URL, from ``REDIS_CONNECTION_STRING`` in either form, else local Redis."""
        if self.redis_connection_string is None:
            return LOCAL_REDIS_URL
        return redis_url_from_connection_string(self.redis_connection_string.get_secret_value())


@lru_cache
def get_settings() -> Settings:
    return Settings()
