"""One regression test per numbered problem of issue 12 ("What broke" 1, 2, 4, 5, 6), against a real
Redis (the shared one, or a persistent ``redis-server`` of the test's own when it has to restart it)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr
from redis.asyncio import Redis
from typer.testing import CliRunner

from analyzer.api.main import create_app
from analyzer.cli import app
from analyzer.devtools.local_redis import PersistentRedis, free_port
from analyzer.keys import CONSUMER_GROUP
from analyzer.reading import PayloadError
from analyzer.runtime.consumer import ConsumerConfig, ensure_group
from analyzer.runtime.services import Services, open_services
from analyzer.runtime.worker import analysis_worker
from analyzer.settings import Settings
from tests.integration.helpers import INDEX, all_results, drain, group_is_done, land, payloads, wait_until
from tests.utils.payloads import normal_payload

REPO = Path(__file__).resolve().parents[2]
#: An entry id of about now: the worker checks a reading's time against its entry's landing time.
NOW_ID = f"{int(time.time() * 1000)}-0"


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(settings)
    yield opened
    await opened.close()


# --------------------------------------------------------------------------- 1: a huge value


async def test_1_a_huge_core_value_neither_lands_nor_stops_analysis_of_later_readings(
    services: Services, redis_client: Redis, stream_key: str
) -> None:
    huge = dict.fromkeys(INDEX.core_names, 1e308)
    with pytest.raises(PayloadError, match="magnitude"):
        services.lander.validate(normal_payload(INDEX, **huge))
    documents = payloads(40)
    before = await land(services.lander, documents[:30])
    # Written straight to the stream (as the plant feed does, bypassing the landing's checks).
    poison = await redis_client.xadd(stream_key, {"payload": json.dumps({**documents[30], **huge})})
    after = await land(services.lander, documents[31:])
    worker = analysis_worker(services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=8, block_ms=0))
    await ensure_group(services.redis, stream_key, CONSUMER_GROUP)
    await drain(worker)
    stored = {r.id for r in await all_results(services.store)}
    assert set(before + after) <= stored  # every later normal reading still analysed
    dead = await redis_client.xrange(f"{stream_key}:dead")
    assert [d["entry_id"] for _, d in dead] == [poison]
    assert "magnitude" in dead[0][1]["reason"]


# --------------------------------------------------------------------------- 2: Redis restarts


@pytest.fixture
def own_redis() -> Iterator[PersistentRedis]:
    with PersistentRedis() as server:
        yield server


def _env(url: str, stream: str, tmp: Path) -> dict[str, str]:
    return {
        **os.environ,
        "REDIS_CONNECTION_STRING": url,
        "STREAM_KEY": stream,
        "SQLITE_PATH": str(tmp / "analyzer.db"),
        "STORE_BACKEND": "sqlite",
        "TIER2_ENABLED": "false",
        "WORKER_BLOCK_MS": "100",
        "EXPLAIN_CONSUMER_ENABLED": "false",
    }


async def test_2_a_worker_survives_a_redis_restart_with_one_line_per_outage(
    own_redis: PersistentRedis, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_connection_string=SecretStr(own_redis.url),
        stream_key="restart",
        sqlite_path=tmp_path / "analyzer.db",
        store_backend="sqlite",
        tier2_enabled=False,
    )
    services = await open_services(settings, statistical=False)
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "analyzer.cli", "worker", "--consumer", "w1"],
        env=_env(own_redis.url, "restart", tmp_path),
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        first = await land(services.lander, payloads(40))
        await wait_until(lambda: group_is_done(services.redis, "restart"), timeout=60, what="the first batch")
        own_redis.stop()
        await asyncio.sleep(4)
        own_redis.start()
        second = await land(services.lander, payloads(40))
        await wait_until(lambda: group_is_done(services.redis, "restart"), timeout=60, what="after the restart")
        assert process.poll() is None, "the worker died with Redis"
        stored = {r.id for r in await all_results(services.store)}
        assert set(first + second) <= stored
    finally:
        process.terminate()
        process.wait(timeout=30)
        await services.close()
        log.close()
    text = (tmp_path / "worker.log").read_text()
    assert text.count("Traceback") == 0, text[-3000:]
    assert text.count("unreachable") >= 1 and text.count("unreachable") <= 2, text[-3000:]
    assert "reachable again" in text


async def test_2_the_api_answers_503_with_a_reason_while_redis_is_away(
    own_redis: PersistentRedis, tmp_path: Path
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_connection_string=SecretStr(own_redis.url),
        stream_key="api503",
        sqlite_path=tmp_path / "analyzer.db",
        store_backend="sqlite",
        tier2_enabled=False,
        explain_consumer_enabled=False,
    )
    with TestClient(create_app(settings)) as client:
        own_redis.stop()
        try:
            body = {"entry_id": "1763892000000-0", "payload": normal_payload(INDEX)}
            analyze = client.post("/api/v1/analyze", json=body)
            ingest = client.post("/api/v1/ingest", json=normal_payload(INDEX))
        finally:
            own_redis.start()
        for response in (analyze, ingest):
            assert response.status_code == 503, response.text
            assert "redis" in response.json()["detail"].lower()
        assert client.post("/api/v1/ingest", json=normal_payload(INDEX)).status_code == 201


def test_2_consumer_names_are_stable_per_replica_across_restarts(tmp_path: Path) -> None:
    code = "from analyzer.runtime.consumer import default_consumer_name as n; print(n())"
    env = {k: v for k, v in os.environ.items() if k != "CONTAINER_APP_REPLICA_NAME"}
    names = {subprocess.check_output([sys.executable, "-c", code], env=env, text=True).strip() for _ in range(2)}
    assert len(names) == 1, names
    other = subprocess.check_output([sys.executable, "-c", code], env={**env, "WORKER_INDEX": "2"}, text=True)
    assert other.strip() not in names


# --------------------------------------------------------------------------- 4: the analyze route


def _bad_payloads() -> dict[str, tuple[bytes, str]]:
    def doc(**overrides: object) -> dict[str, object]:
        return normal_payload(INDEX, **overrides)  # type: ignore[arg-type]

    def body(payload: object) -> bytes:
        return json.dumps({"entry_id": NOW_ID, "payload": payload}).encode()

    year_9999 = doc()
    year_9999["timestamp"] = "9999-12-31T23:59:59Z"
    duplicate = json.dumps(doc())[:-1] + f', "{INDEX.core_names[0]}": 1.0}}'
    return {
        "year 9999": (body(year_9999), "in the future"),
        "deep nesting": (body({**doc(), "X-1": "DEEP"}).replace(b'"DEEP"', b"[" * 5000 + b"1" + b"]" * 5000), "nest"),
        "int beyond 64 bits": (body({**doc(), "X-1": 2**70}), "magnitude"),
        "surrogate name": (body({**doc(), "\ud800": 1.0}).replace(b"\\ud800", b"\\ud800"), "surrogate"),
        "empty name": (body({**doc(), "": 1.0}), "empty"),
        "NUL name": (body({**doc(), "A\u0000B": 1.0}), "control"),
        "10,000-character name": (body({**doc(), "A" * 10_000: 1.0}), "characters"),
        "duplicate keys": (
            b'{"entry_id": "' + NOW_ID.encode() + b'", "payload": ' + duplicate.encode() + b"}",
            "duplicate",
        ),
    }


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    settings = settings.model_copy(update={"tier2_enabled": False, "explain_consumer_enabled": False})
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("case", list(_bad_payloads()))
def test_4_analyze_refuses_bad_payloads_with_a_4xx_and_a_message(client: TestClient, case: str) -> None:
    content, words = _bad_payloads()[case]
    response = client.post("/api/v1/analyze", content=content, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    assert words in response.json()["detail"].lower(), response.text[:300]
    landing = client.post("/api/v1/ingest", content=content, headers={"content-type": "application/json"})
    assert 400 <= landing.status_code < 500


def test_4_a_10_mb_analyze_request_is_refused_and_dead_letters_stay_bounded_in_bytes(
    client: TestClient, redis_url: str, stream_key: str
) -> None:
    payload = {**normal_payload(INDEX), "X-1": "x" * 10_000_000}
    response = client.post("/api/v1/analyze", json={"entry_id": NOW_ID, "payload": payload})
    assert response.status_code == 413, response.text[:300]
    with redis.Redis.from_url(redis_url) as r:
        used = r.memory_usage(f"{stream_key}:dead") or 0
    assert used < 100_000


def test_4_ingest_refuses_an_oversize_body_while_reading_it(settings: Settings) -> None:
    """A chunked body far over the limit, to a real server: refused having read about the limit."""
    import threading

    import uvicorn

    settings = settings.model_copy(
        update={"tier2_enabled": False, "explain_consumer_enabled": False, "max_payload_bytes": 1024}
    )
    limit = settings.max_payload_bytes * 1000  # the batch limit: 1,000 payloads
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    sent, answer = 0, b""
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        # A raw chunked upload that watches for the answer after every chunk (an HTTP client would
        # send the whole body before reading the response).
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            head = "POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            connection.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())
            chunk = b"400\r\n" + b" " * 1024 + b"\r\n"
            for _ in range(64 * 1024):  # up to 64 MiB in 1 KiB chunks
                try:
                    connection.sendall(chunk)
                except OSError:  # the server closed after answering
                    break
                sent += 1024
                if select.select([connection], [], [], 0)[0]:
                    break
            answer = connection.recv(200)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    status = int(answer.split(b" ")[1])
    assert status == 413
    assert sent < limit + 8 * 1024 * 1024, sent  # stopped long before 64 MiB


# --------------------------------------------------------------------------- 5: consumer hygiene


async def test_5_a_dead_consumer_is_taken_over_with_a_count_then_removed(
    services: Services, redis_client: Redis, stream_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    ids = await land(services.lander, payloads(12))
    await ensure_group(redis_client, stream_key, CONSUMER_GROUP)
    await redis_client.xreadgroup(CONSUMER_GROUP, "ghost", {stream_key: ">"}, count=5)
    await asyncio.sleep(0.05)
    config = ConsumerConfig(batch_size=4, block_ms=0, claim_idle_ms=10, forget_after_ms=10)
    worker = analysis_worker(services.redis, services.keys, services.pipeline, config, "alive")
    caplog.set_level(logging.INFO)
    assert await worker.claim_idle() == 5
    await drain(worker)
    assert "took over 5 idle entries" in caplog.text and "ghost: 5" in caplog.text
    await asyncio.sleep(0.05)
    await worker.claim_idle()
    names = [c["name"] for c in await redis_client.xinfo_consumers(stream_key, CONSUMER_GROUP)]
    assert names == ["alive"]
    assert "removed consumer ghost" in caplog.text
    assert {r.id for r in await all_results(services.store)} == set(ids)


async def test_5_an_outage_is_one_warning_not_a_traceback_per_entry(
    own_redis: PersistentRedis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_connection_string=SecretStr(own_redis.url),
        stream_key="outage",
        sqlite_path=tmp_path / "analyzer.db",
        store_backend="sqlite",
        tier2_enabled=False,
    )
    services = await open_services(settings, statistical=False)
    caplog.set_level(logging.INFO)
    try:
        await land(services.lander, payloads(64))
        config = ConsumerConfig(batch_size=64, block_ms=50, backoff_min_s=0.05, backoff_max_s=0.2)
        worker = analysis_worker(services.redis, services.keys, services.pipeline, config, "w")
        stop = asyncio.Event()
        run = asyncio.create_task(worker.run(stop))
        await wait_until(lambda: group_is_done(services.redis, "outage"), what="the first batch")
        own_redis.stop()
        await asyncio.sleep(1.0)
        own_redis.start()
        await land(services.lander, payloads(8))
        await wait_until(lambda: group_is_done(services.redis, "outage"), what="after the outage")
        stop.set()
        await run
    finally:
        await services.close()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert all(r.exc_info is None for r in warnings), [r.getMessage() for r in warnings if r.exc_info][:3]
    assert len(warnings) <= 3, [r.getMessage() for r in warnings]


# --------------------------------------------------------------------------- 6: the CLI


def test_6_simulate_lands_more_than_a_day(settings: Settings, stream_key: str, redis_url: str) -> None:
    env = {"REDIS_CONNECTION_STRING": redis_url, "STREAM_KEY": stream_key, "COLUMNS": "300"}
    result = CliRunner(env=env).invoke(app, ["simulate", "--count", "9000", "--fast", "--labels", "/dev/null"])
    assert result.exit_code == 0, result.output[-2000:]
    assert "fall before the 24 h window" in result.output
    with redis.Redis.from_url(redis_url) as r:
        assert 8600 <= r.xlen(stream_key) <= 8640


def test_6_replay_names_the_rejected_rows_and_exits_non_zero(tmp_path: Path, redis_url: str, stream_key: str) -> None:
    names = INDEX.names
    lines = ["timestamp," + ",".join(names)]
    for row in range(6):
        values = [str(normal_payload(INDEX)[n]) for n in names]
        if row in (1, 4):
            values[names.index(INDEX.core_names[0])] = ""
        lines.append(f"2026-01-01T00:{row:02d}:00Z," + ",".join(values))
    csv = tmp_path / "r.csv"
    csv.write_text("\n".join(lines) + "\n")
    env = {"REDIS_CONNECTION_STRING": redis_url, "STREAM_KEY": stream_key, "COLUMNS": "300"}
    result = CliRunner(env=env).invoke(app, ["replay", str(csv)])
    assert result.exit_code == 1, result.output
    # The CSV's line numbers (header = line 1): rows 1 and 4 are lines 3 and 6.
    assert "line 3: rejected" in result.output and "line 6: rejected" in result.output, result.output
    assert "rejected 2" in result.output


def test_6_run_on_a_busy_port_says_so_and_exits_before_running(redis_url: str, stream_key: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**_env(redis_url, stream_key, tmp_path), "COLUMNS": "300"}
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "analyzer.cli", "run", "--port", str(port), "--backfill", "0"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode != 0
    assert "running" not in done.stdout
    assert "Traceback" not in done.stderr + done.stdout
    assert f"port {port}" in (done.stderr + done.stdout)
    assert time.monotonic() - started < 60
