"""The command line: every command explains itself, and `sensor-analyzer run` runs the whole stack."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from typer.testing import CliRunner

from analyzer.cli import app
from analyzer.devtools.local_redis import free_port
from analyzer.keys import EXPLAIN_GROUP, RedisKeys
from tests.utils.payloads import normal_payload, plant_index

INDEX = plant_index()

COMMANDS = ["run", "api", "worker", "explain", "ingest", "simulate", "replay", "sweep", "evaluate", "report-llm"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_the_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


def test_configuration_errors_are_reported_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORE_BACKEND", "cosmos")
    monkeypatch.delenv("COSMOS_DB_ENDPOINT", raising=False)
    result = CliRunner().invoke(app, ["sweep"])
    assert result.exit_code == 2
    assert "COSMOS_DB_ENDPOINT" in result.output


def test_replay_refuses_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner(env={"COLUMNS": "300"}).invoke(app, ["replay", str(tmp_path / "none.csv")])
    assert result.exit_code == 2
    assert "is not a file" in result.output


def test_run_starts_the_whole_local_pipeline_and_stops_on_ctrl_c(
    redis_url: str, stream_key: str, tmp_path: Path
) -> None:
    port, dashboard_port = free_port(), free_port()
    database = tmp_path / "run.db"
    env = {
        **os.environ,
        "REDIS_CONNECTION_STRING": redis_url,
        "STREAM_KEY": stream_key,
        "SQLITE_PATH": str(database),
    }
    command = [
        sys.executable,
        "-m",
        "analyzer.cli",
        "run",
        "--port",
        str(port),
        "--backfill",
        "120",
        "--interval-s",
        "0.2",
        "--dashboard-port",
        str(dashboard_port),
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        analysed = 0
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).json()
                if database.exists():
                    with sqlite3.connect(database) as db:
                        analysed = db.execute("select count(*) from anomaly_results").fetchone()[0]
                if ready["status"] == "ok" and analysed > 125:
                    break
            except (httpx.TransportError, sqlite3.OperationalError):
                pass
            time.sleep(0.2)
        assert analysed > 125, "backfill plus live payloads were not all analysed in time"
        # An anomaly: tier 3's explainer (offline provider) writes its context beside the worker.
        breach = {**normal_payload(INDEX), "TI-101": 360.0}  # above TI-101's High (358.4)
        assert httpx.post(f"http://127.0.0.1:{port}/api/v1/ingest", json=breach, timeout=5).status_code == 201
        events = RedisKeys(stream_key).alarm_events
        with redis.Redis.from_url(redis_url) as r:
            explained: list[dict] = []
            while not explained and time.monotonic() < deadline + 30:
                kinds = [orjson.loads(fields[b"event"]) for _, fields in r.xrange(events)]
                explained = [e for e in kinds if e["kind"] == "explained" and e["alarm_key"] == "high:TI-101"]
                time.sleep(0.2)
        assert explained, "no offline context was written for the High alarm"
        # The dashboard API beside it, with the operator key `run` made (kept in the state folder).
        key = (tmp_path / "dashboard-operator.key").read_text().strip()
        dashboard = f"http://127.0.0.1:{dashboard_port}"
        me = httpx.get(f"{dashboard}/api/v1/me", headers={"X-API-Key": key}, timeout=5)
        assert me.json() == {"name": "local-operator", "role": "operator", "via": "api_key"}
        queue = httpx.get(f"{dashboard}/api/v1/anomalies", headers={"X-API-Key": key}, params={"sensor": "TI-101"})
        assert queue.status_code == 200 and any(a["alarm"] == "high:TI-101" for a in queue.json()["data"])
        assert httpx.get(f"{dashboard}/api/v1/anomalies", timeout=5).status_code == 401
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "sensor-analyzer is running" in output and f"http://127.0.0.1:{port}/docs" in output
    assert f"http://127.0.0.1:{dashboard_port}/docs" in output and f"http://127.0.0.1:{dashboard_port}/)" in output
    assert f"operator key  {key}" in output
    assert output.rstrip().endswith("stopped")
    with redis.Redis.from_url(redis_url) as r:
        groups = r.xinfo_groups(stream_key)
        assert [g["pending"] for g in groups] == [0]  # everything acknowledged before it stopped
        assert [g["name"] for g in r.xinfo_groups(events)] == [EXPLAIN_GROUP.encode()]
    assert "tier 3      offline" in output
