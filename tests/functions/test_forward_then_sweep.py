"""The trigger delivers at most once: an entry whose forward failed is analysed by the sweep, once.

The function's forwarder runs against the real analyzer app (uvicorn on a free loopback port,
real Redis, SQLite store); the first forward goes to a port where nothing listens.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
import uvicorn
from pydantic import SecretStr

from analyzer.api.main import create_app
from analyzer.devtools.local_redis import free_port
from analyzer.settings import Settings
from analyzer.store.sqlite import SqliteStore
from functions.shared.forwarder import ForwarderConfig, TransientAnalyzerError, forward_entry, request_sweep
from tests.utils.payloads import normal_payload, plant_index

API_KEY = "sweep-test-key"
INDEX = plant_index()
BREACHING = next(n for n in INDEX.names if INDEX.spec(n).high_high is not None)
BREACH = float(INDEX.spec(BREACHING).high_high) + 1.0  # type: ignore[arg-type]  # past High-High, inside the range


@pytest.fixture
def analyzer_url(settings: Settings) -> Iterator[str]:
    """The real analyzer app, served over HTTP on a free loopback port."""
    settings = settings.model_copy(update={"analyzer_api_key": SecretStr(API_KEY), "tier2_enabled": False})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "analyzer did not start"
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


async def test_a_failed_forward_is_dead_lettered_and_the_sweep_analyses_it_exactly_once(
    analyzer_url: str, redis_url: str, stream_key: str, settings: Settings
) -> None:
    payload = normal_payload(INDEX, datetime.now(UTC) - timedelta(minutes=2), **{BREACHING: BREACH})
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        # Landed two minutes ago, so it is past the sweep's grace period.
        entry_id = r.xadd(stream_key, {"payload": json.dumps(payload)}, id=f"{int(time.time() * 1000) - 120_000}-0")
    raw = json.dumps({"Id": entry_id, "Values": {"payload": json.dumps(payload)}})
    unreachable = ForwarderConfig(
        endpoint=f"http://127.0.0.1:{free_port()}", api_key=API_KEY, stream_key=stream_key, attempts=2, backoff_s=0.01
    )
    redis_factory = lambda: redis.Redis.from_url(redis_url, decode_responses=True)  # noqa: E731
    with pytest.raises(TransientAnalyzerError):
        forward_entry(raw, unreachable, redis_factory=redis_factory)
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        [(_, dead)] = r.xrange(f"{stream_key}:dead")
    assert dead["entry_id"] == entry_id and "forward failed after 2 attempts" in dead["reason"]

    live = ForwarderConfig(endpoint=analyzer_url, api_key=API_KEY, stream_key=stream_key, attempts=1)
    assert request_sweep(live) == {"scanned": 1, "analysed": 1, "already_done": 0, "dead_lettered": 0}
    assert request_sweep(live) == {"scanned": 1, "analysed": 0, "already_done": 1, "dead_lettered": 0}

    # The trigger delivering the same entry late does not double anything either.
    result = forward_entry(raw, live, redis_factory=redis_factory)
    assert result is not None and result["id"] == entry_id and result["final_status"] == "anomaly"
    alarm_ids = httpx.post(
        f"{analyzer_url}/api/v1/analyze",
        json={"entry_id": entry_id, "payload": payload},
        headers={"X-API-Key": API_KEY},
    ).json()["alarm_ids"]
    assert sorted(alarm_ids) == [f"high:{BREACHING}@{entry_id}", f"high_high:{BREACHING}@{entry_id}"]
    store = await SqliteStore.open(settings.sqlite_path)
    try:
        records = [await store.get_alarm(alarm_id) for alarm_id in alarm_ids]
    finally:
        await store.close()
    assert all(record is not None and record.count == 1 for record in records)


def test_the_analyzer_refuses_calls_without_the_function_key(analyzer_url: str) -> None:
    response = httpx.post(f"{analyzer_url}/api/v1/sweep", json={})
    assert response.status_code == 401
