"""Tier 3 fixtures: the local OpenAI-compatible server, and settings pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from analyzer.settings import Settings
from analyzer.tiers.llm.explain import ContextService
from tests.llm.factories import CATALOG
from tests.llm.model_server import ModelServer


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    server = ModelServer().start()
    yield server
    server.stop()


def llm_settings(base: Settings, server: ModelServer, **overrides: Any) -> Settings:
    """``base`` with tier 3 on the OpenAI-compatible path to ``server``, with short timeouts."""
    values: dict[str, Any] = {
        "llm_provider": "openai-compatible",
        "llm_base_url": server.openai_base_url,
        "llm_model": "plant-llm",
        "llm_timeout_s": 1.0,
        "llm_max_attempts": 3,
        "llm_retry_max_wait_s": 2.0,
        "llm_breaker_failures": 3,
        "llm_breaker_cooldown_s": 1.5,
    }
    values.update(overrides)
    return Settings(_env_file=None, **(base.model_dump() | values))  # type: ignore[call-arg]  # validated again


@pytest.fixture
def compatible_settings(settings: Settings, model_server: ModelServer) -> Settings:
    return llm_settings(settings, model_server)


@pytest.fixture
async def service(compatible_settings: Settings, redis_client: Redis) -> AsyncIterator[ContextService]:
    service = ContextService.from_settings(compatible_settings, redis_client, catalog=CATALOG)
    yield service
    await service.aclose()
