from __future__ import annotations

import pytest
from pydantic import ValidationError

from analyzer.settings import Settings, redis_url_from_connection_string


@pytest.mark.parametrize(
    ("connection_string", "url"),
    [
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("rediss://:secret@cache:6380/1", "rediss://:secret@cache:6380/1"),
        (
            "mycache.redis.cache.windows.net:6380,password=abc+/=,ssl=True,abortConnect=False",
            "rediss://:abc%2B%2F%3D@mycache.redis.cache.windows.net:6380/0",
        ),
        (
            "amr.westeurope.redis.azure.net:10000,password=k,ssl=True",
            "rediss://:k@amr.westeurope.redis.azure.net:10000/0",
        ),
        ("localhost:6379,ssl=False", "redis://localhost:6379/0"),
        ("localhost", "redis://localhost:6379/0"),
        ("host:6380,user=app,password=p,ssl=true", "rediss://app:p@host:6380/0"),
    ],
)
def test_both_connection_string_forms(connection_string: str, url: str) -> None:
    assert redis_url_from_connection_string(connection_string) == url


@pytest.mark.parametrize("bad", ["", "   ", "password=x,ssl=True", "host:6380,ssl"])
def test_malformed_connection_strings_are_refused_clearly(bad: str) -> None:
    with pytest.raises(ValueError, match="Redis connection string"):
        redis_url_from_connection_string(bad)


def test_environment_variables_use_the_azure_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_CONNECTION_STRING", "c.redis.cache.windows.net:6380,password=pw,ssl=True")
    monkeypatch.setenv("COSMOS_DB_ENDPOINT", "https://acct.documents.azure.com:443/")
    monkeypatch.setenv("COSMOS_DB_DATABASE_NAME", "plant")
    monkeypatch.setenv("STORE_BACKEND", "cosmos")
    monkeypatch.setenv("OPENAI_ENDPOINT", "https://oai.openai.azure.com/")
    monkeypatch.setenv("OPENAI_DEPLOYMENT_NAME", "gpt-4o-mini")
    monkeypatch.setenv("LLM_PROVIDER", "azure_openai")
    monkeypatch.setenv("STREAM_KEY", "plant-a:readings")
    monkeypatch.setenv("FASTAPI_ENDPOINT", "https://analyzer.internal")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.redis_url == "rediss://:pw@c.redis.cache.windows.net:6380/0"
    assert settings.store_backend == "cosmos"
    assert settings.cosmos_db_database_name == "plant"
    assert settings.llm_provider == "azure-openai"  # the older spelling is an alias
    assert settings.stream_key == "plant-a:readings"
    assert settings.fastapi_endpoint == "https://analyzer.internal"


def test_defaults_run_locally_without_any_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_CONNECTION_STRING", "STORE_BACKEND", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.store_backend == "sqlite"
    assert settings.llm_provider == "offline"


def test_production_refuses_to_start_without_an_api_key() -> None:
    with pytest.raises(ValidationError, match="ANALYZER_API_KEY"):
        Settings(_env_file=None, environment="prod")  # type: ignore[call-arg]


def test_cosmos_backend_needs_an_endpoint() -> None:
    with pytest.raises(ValidationError, match="COSMOS_DB_ENDPOINT"):
        Settings(_env_file=None, store_backend="cosmos")  # type: ignore[call-arg]


def test_secrets_do_not_show_in_repr() -> None:
    settings = Settings(_env_file=None, redis_connection_string="h:6380,password=topsecret,ssl=True")  # type: ignore[call-arg]
    assert "topsecret" not in repr(settings)
