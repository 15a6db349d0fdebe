"""The fallback chain of `sensor-analyzer run`: configured, local, started redis-server, embedded."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import pytest
import redis
from pydantic import SecretStr

from analyzer.devtools import local_redis
from analyzer.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def _works(url: str) -> None:
    with redis.Redis.from_url(url, decode_responses=True) as client:
        entry = client.xadd("fallback:probe", {"payload": "{}"})
        assert client.xrange("fallback:probe")[-1][0] == entry
        client.delete("fallback:probe")


def _hide_localhost(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], bool]:
    """Make 127.0.0.1:6379 look silent; returns the real probe."""
    real_answers = local_redis.redis_answers

    def answers(url: str, timeout_s: float = 0.5) -> bool:
        return url != local_redis.LOCAL_REDIS_URL and real_answers(url)

    monkeypatch.setattr(local_redis, "redis_answers", answers)
    return real_answers


def test_a_configured_connection_string_wins(redis_url: str) -> None:
    with local_redis.local_redis(_settings(redis_connection_string=SecretStr(redis_url))) as found:
        assert (found.url, found.kind) == (redis_url, "REDIS_CONNECTION_STRING")


def test_a_redis_on_localhost_is_used_when_it_answers(redis_url: str) -> None:
    if redis_url != local_redis.LOCAL_REDIS_URL:
        pytest.skip("no Redis on 127.0.0.1:6379 in this session")
    with local_redis.local_redis(_settings()) as found:
        assert found.kind == "redis on 127.0.0.1:6379"


def test_redis_server_is_started_when_nothing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    real_answers = _hide_localhost(monkeypatch)
    with local_redis.local_redis(_settings()) as found:
        assert found.kind.startswith("redis-server started on port")
        _works(found.url)
    assert not real_answers(found.url)  # stopped on exit


def test_the_embedded_server_is_the_last_resort(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_localhost(monkeypatch)
    monkeypatch.setattr(local_redis.shutil, "which", lambda name: None)
    with local_redis.local_redis(_settings()) as found:
        assert found.kind.startswith("embedded Redis-protocol server (fakeredis)")
        _works(found.url)
