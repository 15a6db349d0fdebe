"""The handlers forward real entries to a real local HTTP server and dead-letter to real Redis."""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from fake_analyzer import API_KEY, FakeAnalyzer

from functions.shared import forwarder
from functions.shared.forwarder import ForwarderConfig, MalformedEntry, TransientAnalyzerError


def _config(analyzer: FakeAnalyzer, stream_key: str, **overrides: object) -> ForwarderConfig:
    values = {"endpoint": analyzer.url, "api_key": API_KEY, "stream_key": stream_key, "timeout_s": 5.0,
              "attempts": 3, "backoff_s": 0.0}  # fmt: skip
    values.update(overrides)
    return ForwarderConfig(**values)  # type: ignore[arg-type]


def _real_entry(redis_client: redis.Redis, stream_key: str) -> tuple[str, str, dict]:
    """XADD a payload like the landing does and build the trigger's string for it."""
    payload = {"timestamp": "2026-11-23T09:00:00Z", "FI-101": 12.5, "TI-204": 81.0}
    text = json.dumps(payload)
    entry_id = redis_client.xadd(stream_key, {"payload": text})
    ((stored_id, fields),) = redis_client.xrange(stream_key, entry_id, entry_id)
    return stored_id, json.dumps({"Id": stored_id, "Values": fields}), payload


def _factory(redis_client: redis.Redis):
    return lambda: redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, analyzer: FakeAnalyzer, stream_key: str) -> None:
    monkeypatch.setenv("FASTAPI_ENDPOINT", analyzer.url)
    monkeypatch.setenv("ANALYZER_API_KEY", API_KEY)
    monkeypatch.setenv("STREAM_KEY", stream_key)
    monkeypatch.setenv("REDIS_CONNECTION_STRING", "127.0.0.1:6379,ssl=False,abortConnect=False")
    monkeypatch.setenv("FORWARD_ATTEMPTS", "2")
    monkeypatch.setenv("FORWARD_TIMEOUT_S", "5")


def test_trigger_handler_forwards_a_real_entry(env: None, analyzer, redis_client, stream_key) -> None:
    from functions.ForwardStreamEntry import main

    entry_id, raw, payload = _real_entry(redis_client, stream_key)
    main(raw)
    assert analyzer.requests == [
        {"path": "/api/v1/analyze", "body": {"entry_id": entry_id, "payload": payload}, "api_key": API_KEY}
    ]
    assert redis_client.xlen(f"{stream_key}:dead") == 0


def test_transient_failures_are_retried_then_succeed(analyzer, redis_client, stream_key) -> None:
    analyzer.script = [503, 500]
    entry_id, raw, _ = _real_entry(redis_client, stream_key)
    result = forwarder.forward_entry(raw, _config(analyzer, stream_key), redis_factory=_factory(redis_client))
    assert result == {"id": entry_id, "final_status": "normal"}
    assert len(analyzer.requests) == 3
    assert redis_client.xlen(f"{stream_key}:dead") == 0


def test_persistent_5xx_dead_letters_and_raises(env: None, analyzer, redis_client, stream_key) -> None:
    from functions.ForwardStreamEntry import main

    analyzer.script = [500, 500, 500]
    entry_id, raw, payload = _real_entry(redis_client, stream_key)
    with pytest.raises(TransientAnalyzerError, match="500"):
        main(raw)
    assert len(analyzer.requests) == 2  # FORWARD_ATTEMPTS
    ((_, fields),) = redis_client.xrange(f"{stream_key}:dead")
    assert fields["entry_id"] == entry_id
    assert "forward failed after 2 attempts" in fields["reason"]
    assert json.loads(fields["payload"]) == payload
    assert fields["source"] == "function" and fields["dead_lettered_at"].endswith("Z")
    # Not in the ids the sweep skips: the sweep must still analyse an entry the forwarder lost.
    assert redis_client.zrange(f"{stream_key}:dead:ids", 0, -1) == []


def test_timeout_is_transient(analyzer, redis_client, stream_key) -> None:
    analyzer.script = ["hang", "hang"]
    entry_id, raw, _ = _real_entry(redis_client, stream_key)
    config = _config(analyzer, stream_key, timeout_s=0.2, attempts=2)
    with pytest.raises(TransientAnalyzerError, match="Timeout"):
        forwarder.forward_entry(raw, config, redis_factory=_factory(redis_client))
    ((_, fields),) = redis_client.xrange(f"{stream_key}:dead")
    assert fields["entry_id"] == entry_id


def test_4xx_is_not_retried_nor_dead_lettered_here(analyzer, redis_client, stream_key) -> None:
    analyzer.script = [422]
    _, raw, _ = _real_entry(redis_client, stream_key)
    result = forwarder.forward_entry(raw, _config(analyzer, stream_key), redis_factory=_factory(redis_client))
    assert result is None
    assert len(analyzer.requests) == 1
    assert redis_client.xlen(f"{stream_key}:dead") == 0


def test_wrong_api_key_is_a_4xx_not_a_retry(analyzer, redis_client, stream_key) -> None:
    _, raw, _ = _real_entry(redis_client, stream_key)
    config = _config(analyzer, stream_key, api_key="wrong")
    assert forwarder.forward_entry(raw, config, redis_factory=_factory(redis_client)) is None
    assert len(analyzer.requests) == 1


def test_unreachable_analyzer_dead_letters(redis_client, stream_key) -> None:
    _, raw, _ = _real_entry(redis_client, stream_key)
    config = ForwarderConfig(endpoint="http://127.0.0.1:9", api_key=API_KEY, stream_key=stream_key, timeout_s=1,
                             attempts=2, backoff_s=0.0)  # fmt: skip
    with pytest.raises(TransientAnalyzerError):
        forwarder.forward_entry(raw, config, redis_factory=_factory(redis_client))
    assert redis_client.xlen(f"{stream_key}:dead") == 1


@pytest.mark.parametrize(
    "raw",
    ["not json", json.dumps({"Values": {"payload": "{}"}}), json.dumps({"Id": "1-0", "Values": {"other": "x"}}),
     json.dumps({"Id": "1-0", "Values": {"payload": "[1, 2]"}})],
)  # fmt: skip
def test_malformed_trigger_input_is_dead_lettered(analyzer, redis_client, stream_key, raw: str) -> None:
    with pytest.raises(MalformedEntry):
        forwarder.forward_entry(raw, _config(analyzer, stream_key), redis_factory=_factory(redis_client))
    assert analyzer.requests == []
    ((_, fields),) = redis_client.xrange(f"{stream_key}:dead")
    assert fields["payload"] == raw and fields["reason"]


def test_sweep_handler_calls_the_sweep_route(env: None, analyzer) -> None:
    from functions.SweepWindow import main

    class Timer:
        past_due = True

    main(Timer())
    assert analyzer.requests == [{"path": "/api/v1/sweep", "body": {}, "api_key": API_KEY}]


def test_sweep_failure_surfaces(analyzer, stream_key) -> None:
    analyzer.script = [500, 500, 500]
    with pytest.raises(TransientAnalyzerError):
        forwarder.request_sweep(_config(analyzer, stream_key))
    assert len(analyzer.requests) == 3


def test_config_refuses_missing_settings() -> None:
    with pytest.raises(RuntimeError, match="FASTAPI_ENDPOINT"):
        ForwarderConfig.from_env({"ANALYZER_API_KEY": "k"})
    with pytest.raises(RuntimeError, match="ANALYZER_API_KEY"):
        ForwarderConfig.from_env({"FASTAPI_ENDPOINT": "http://x"})


def test_managed_identity_form_uses_an_entra_token() -> None:
    class Credential:
        def __init__(self) -> None:
            self.scopes: list[str] = []

        def get_token(self, scope: str):
            self.scopes.append(scope)
            return type("Token", (), {"token": "entra-token"})()

    credential = Credential()
    client = forwarder.redis_client_from_env(
        {"REDIS_CONNECTION_STRING__redisHostName": "c.westeurope.redis.azure.net:10000",
         "REDIS_CONNECTION_STRING__clientId": str(uuid.uuid4()),
         "REDIS_CONNECTION_STRING__principalId": "object-id"},
        credential=credential,
    )  # fmt: skip
    kwargs = client.connection_pool.connection_kwargs
    assert credential.scopes == ["https://redis.azure.com/.default"]
    assert (kwargs["host"], kwargs["port"], kwargs["username"], kwargs["password"]) == (
        "c.westeurope.redis.azure.net", 10000, "object-id", "entra-token")  # fmt: skip
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"


def test_managed_identity_form_without_the_principal_id_is_refused() -> None:
    """Like the trigger's listener, which throws without __principalId."""
    with pytest.raises(RuntimeError, match="__principalId"):
        forwarder.redis_client_from_env(
            {"REDIS_CONNECTION_STRING__redisHostName": "c.westeurope.redis.azure.net:10000",
             "REDIS_CONNECTION_STRING__clientId": str(uuid.uuid4())},
            credential=object(),
        )  # fmt: skip
