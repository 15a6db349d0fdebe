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

    # Tier 3.
    llm_provider: Literal["offline", "azure_openai", "openai"] = "offline"
    openai_endpoint: str | None = None
    openai_api_key: SecretStr | None = None
    openai_deployment_name: str = "gpt-4o-mini"
    openai_api_version: str = "2024-10-21"
    openai_timeout_s: float = Field(20.0, gt=0)

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
