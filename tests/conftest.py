"""Fixtures shared by every test: a real Redis server and per-test settings.

Redis: the server on 127.0.0.1:6379 when it answers, else a ``redis-server`` started here on a free
loopback port for the session. When neither is possible the Redis tests skip, except under
``CI=true`` where they fail. Each test gets its own stream key, and its keys are deleted after it.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from pydantic import SecretStr
from redis.asyncio import Redis

from analyzer.devtools.local_redis import redis_answers, started_redis_server
from analyzer.settings import Settings

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The URL of a real Redis server for this test session."""
    if redis_answers(LOCAL_REDIS):
        yield LOCAL_REDIS
        return
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("no Redis on 127.0.0.1:6379 and no redis-server to start (CI=true)")
        pytest.skip("no Redis on 127.0.0.1:6379 and no redis-server installed")
    with started_redis_server(binary) as server:
        yield server.url


@pytest.fixture
def stream_key(redis_url: str) -> Iterator[str]:
    """A stream key of this test alone; every key under it is deleted afterwards."""
    key = f"test:{uuid.uuid4().hex[:12]}"
    yield key
    with redis.Redis.from_url(redis_url) as client:
        # The stream's own keys start with it; the fold's keys carry it as a hash tag ({key}:...).
        names = list(client.scan_iter(match=f"{key}*", count=1000))
        names += client.scan_iter(match=f"{{{key}}}*", count=1000)
        if names:
            client.delete(*names)


@pytest.fixture
def settings(redis_url: str, stream_key: str, tmp_path: Path) -> Settings:
    """Settings pointing at the test's Redis keys and a fresh SQLite file."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_connection_string=SecretStr(redis_url),
        stream_key=stream_key,
        sqlite_path=tmp_path / "analyzer.db",
        store_backend="sqlite",
        worker_block_ms=100,
    )


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def unique() -> str:
    return uuid.uuid4().hex[:8]
