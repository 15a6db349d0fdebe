"""Where tier 3's consumer runs: its own ``sensor-analyzer explain`` process configured by the
environment alone (``LLM_PROVIDER=openai-compatible`` pointed at the local model server), and the
analyzer API's lifespan when ``EXPLAIN_CONSUMER_ENABLED``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import redis
from fastapi.testclient import TestClient

from analyzer.api.main import create_app
from analyzer.keys import EXPLAIN_GROUP, RedisKeys
from analyzer.runtime.services import open_services
from analyzer.settings import Settings
from schemas.alarms import AlarmRecord
from tests.llm.explain_helpers import ABOVE_HIGH, HIGH_KEY, SENSOR, land_and_analyse, readings, record_id
from tests.llm.model_server import ModelServer
from tests.utils.payloads import normal_payload, plant_index

pytestmark = pytest.mark.redis


async def test_the_explain_command_with_openai_compatible_set_in_the_environment_only(
    settings: Settings, model_server: ModelServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "REDIS_CONNECTION_STRING": settings.redis_url,
        "STREAM_KEY": settings.stream_key,
        "SQLITE_PATH": str(settings.sqlite_path),
        "LLM_PROVIDER": "openai-compatible",
        "LLM_BASE_URL": model_server.openai_base_url,
        "LLM_MODEL": "plant-llm",
        "WORKER_BLOCK_MS": "100",
    }
    command = [sys.executable, "-m", "analyzer.cli", "explain", "--consumer", "explain-test"]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    services = await open_services(settings, statistical=False)  # the test's own analyzer: offline settings
    try:
        await land_and_analyse(services, readings([ABOVE_HIGH] * 6))
        alarm_id = await record_id(services, HIGH_KEY)
        deadline = time.monotonic() + 60
        record = await services.alarms.get(alarm_id)
        while record.llm is None and time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            await asyncio.sleep(0.1)
            record = await services.alarms.get(alarm_id)
        assert record.llm is not None, "the explain process wrote no context in time"
        assert record.llm.status == "ok", record.llm
        assert record.llm.provider == "openai-compatible" and record.llm.model == "plant-llm"
        assert record.llm.status == "ok" and not record.llm.offline
        stored = await services.store.get_alarm(alarm_id)
        assert stored is not None and stored.llm == record.llm
        requests = model_server.requests()
        assert len(requests) == 1, [r.body for r in requests]
        [request] = requests
        assert request.path == "/v1/chat/completions" and request.body["model"] == "plant-llm"
        assert request.body["response_format"]["type"] == "json_schema"
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        await services.close()
    assert process.returncode == 0, output
    assert "explainer stopped: {" in output and "'ok': 1" in output


def _alarm_record(client: redis.Redis, keys: RedisKeys, key: str) -> AlarmRecord | None:
    raw = client.hget(keys.alarms, key)
    return AlarmRecord.model_validate(orjson.loads(raw)["record"]) if raw else None


@pytest.mark.parametrize("enabled", [True, False], ids=["enabled", "disabled"])
def test_the_api_lifespan_runs_the_explainer_when_enabled(settings: Settings, redis_url: str, enabled: bool) -> None:
    settings = settings.model_copy(update={"tier2_enabled": False, "explain_consumer_enabled": enabled})
    keys = RedisKeys(settings.stream_key)
    index = plant_index()
    breach = index.spec(SENSOR).high
    assert breach is not None
    with TestClient(create_app(settings)) as client, redis.Redis.from_url(redis_url, decode_responses=True) as r:
        # The reading at its entry's landing time (a reading far from it is refused).
        at = datetime.fromtimestamp(1763892000, UTC)
        body = {"entry_id": "1763892000000-0", "payload": normal_payload(index, at, **{SENSOR: breach + 0.5})}
        assert client.post("/api/v1/analyze", json=body).status_code == 200
        deadline = time.monotonic() + (20 if enabled else 1)
        record = _alarm_record(r, keys, HIGH_KEY)
        while (record is None or record.llm is None) and time.monotonic() < deadline:
            time.sleep(0.05)
            record = _alarm_record(r, keys, HIGH_KEY)
        groups = {g["name"] for g in r.xinfo_groups(keys.alarm_events)}
    assert record is not None
    if enabled:
        assert EXPLAIN_GROUP in groups
        assert record.llm is not None and record.llm.provider == "offline" and record.llm.status == "ok"
    else:
        assert EXPLAIN_GROUP not in groups and record.llm is None
