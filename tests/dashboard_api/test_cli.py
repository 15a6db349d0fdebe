"""``sensor-analyzer dashboard`` starts the API alone; ``dashboard-key`` makes a key that works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.devtools.local_redis import free_port
from dashboard_api.identity.api_keys import hash_key


def test_dashboard_key_prints_a_key_and_its_hash() -> None:
    result = CliRunner().invoke(app, ["dashboard-key", "--name", "alice", "--role", "viewer"])
    assert result.exit_code == 0, result.output
    key = result.output.split("X-API-Key): ")[1].split()[0]
    spec = json.loads(result.output.strip().splitlines()[-1])
    assert spec == {"name": "alice", "role": "viewer", "sha256": hash_key(key)}
    refused = CliRunner().invoke(app, ["dashboard-key", "--name", "alice", "--role", "king"])
    assert refused.exit_code == 2


@pytest.mark.redis
def test_the_dashboard_command_serves_the_api(redis_url: str, stream_key: str, tmp_path: Path) -> None:
    made = CliRunner().invoke(app, ["dashboard-key", "--name", "olga", "--role", "operator"])
    key = made.output.split("X-API-Key): ")[1].split()[0]
    spec = made.output.strip().splitlines()[-1]
    port = free_port()
    env = {
        **os.environ,
        "REDIS_CONNECTION_STRING": redis_url,
        "STREAM_KEY": stream_key,
        "SQLITE_PATH": str(tmp_path / "analyzer.db"),
        "STORE_BACKEND": "sqlite",
        "DASHBOARD_API_KEYS": f"[{spec}]",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "analyzer.cli", "dashboard", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "the dashboard did not start"
            time.sleep(0.2)
        me = httpx.get(f"{base}/api/v1/me", headers={"X-API-Key": key}, timeout=5)
        assert me.json() == {"name": "olga", "role": "operator", "via": "api_key"}
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert f"dashboard API on http://127.0.0.1:{port}/docs" in output
    assert key not in output, "the key is never logged"


def test_run_makes_one_local_operator_key_and_keeps_it(tmp_path: Path) -> None:
    from analyzer.cli.dashboard import local_operator_key

    state = tmp_path / ".state"
    key, path = local_operator_key(state)
    assert path.parent == state and path.read_text().strip() == key
    assert path.stat().st_mode & 0o777 == 0o600  # the owner's alone
    assert local_operator_key(state) == (key, path)  # the next run reuses it
    path.write_text("not a key")
    replaced, _ = local_operator_key(state)
    assert replaced != key and replaced.startswith("sak_")
