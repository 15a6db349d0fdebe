"""The analyzer's HTTP API, with its real lifespan, a real Redis and a SQLite store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import redis
from fastapi.testclient import TestClient
from pydantic import SecretStr

from analyzer.api.main import create_app
from analyzer.settings import Settings
from tests.utils.payloads import normal_payload, plant_index

INDEX = plant_index()
#: The time of entry ids 1763892000000-0 and after: a reading's time is checked against its entry's.
AT_ID = datetime.fromtimestamp(1763892000, UTC)
HIGH_SENSOR = next(n for n in INDEX.names if INDEX.spec(n).high_high is not None and INDEX.spec(n).core)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    settings = settings.model_copy(update={"tier2_enabled": False})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def keyed_client(settings: Settings) -> Iterator[TestClient]:
    settings = settings.model_copy(update={"tier2_enabled": False, "analyzer_api_key": SecretStr("k-123")})
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"redis": "ok", "store": "ok"}


def test_analyze_stores_a_result_keyed_by_the_entry_id_and_is_idempotent(client: TestClient) -> None:
    breach = INDEX.spec(HIGH_SENSOR).high_high + 1  # type: ignore[operator]
    body = {"entry_id": "1763892000000-0", "payload": normal_payload(INDEX, AT_ID, **{HIGH_SENSOR: breach})}
    first = client.post("/api/v1/analyze", json=body)
    assert first.status_code == 200, first.text
    result = first.json()
    assert result["id"] == "1763892000000-0"
    assert result["final_status"] == "anomaly"
    assert result["severity_level"] == "critical"
    assert result["heuristic"]["results"][HIGH_SENSOR]["alarm_type"] == "High-High"
    assert result["anomalous_sensors"] == [HIGH_SENSOR]
    assert sorted(result["alarm_ids"]) == [
        f"high:{HIGH_SENSOR}@1763892000000-0",
        f"high_high:{HIGH_SENSOR}@1763892000000-0",
    ]
    again = client.post("/api/v1/analyze", json=body).json()
    assert again == result


def test_malformed_payload_is_a_422_with_the_reason_and_is_dead_lettered(
    client: TestClient, redis_url: str, stream_key: str
) -> None:
    payload = normal_payload(INDEX)
    del payload[INDEX.core_names[0]]
    response = client.post("/api/v1/analyze", json={"entry_id": "5-0", "payload": payload})
    assert response.status_code == 422
    assert f"missing core sensors: {INDEX.core_names[0]}" in response.json()["detail"]
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        [(_, dead)] = r.xrange(f"{stream_key}:dead")
    assert dead["entry_id"] == "5-0" and "missing core sensors" in dead["reason"]
    assert orjson.loads(dead["payload"]) == payload


@pytest.mark.parametrize(
    "body", [{"payload": {}}, {"entry_id": "x", "payload": {}}, {"entry_id": "1-0", "payload": []}, []]
)
def test_bad_analyze_bodies_are_4xx_never_500(client: TestClient, body: object) -> None:
    response = client.post("/api/v1/analyze", json=body)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_ingest_lands_one_payload_or_a_batch(client: TestClient, redis_url: str, stream_key: str) -> None:
    one = client.post("/api/v1/ingest", json=normal_payload(INDEX))
    assert one.status_code == 201 and one.json()["landed"] == 1
    batch = [normal_payload(INDEX, datetime.now(UTC) - timedelta(seconds=s)) for s in (30, 20, 10)]
    many = client.post("/api/v1/ingest", json=batch)
    assert many.status_code == 201 and many.json()["landed"] == 3
    with redis.Redis.from_url(redis_url, decode_responses=True) as r:
        assert r.xlen(stream_key) == 4
        assert r.xrange(stream_key)[-1][0] == many.json()["entry_ids"][-1]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{nope", "not valid JSON"),
        (b"42", "must be a payload object or an array"),
        (b"[]", "batch is empty"),
        (orjson.dumps({"timestamp": datetime.now(UTC).isoformat()}), "missing core sensors"),
        (orjson.dumps({**normal_payload(INDEX), "timestamp": "2999-01-01T00:00:00Z"}), "in the future"),
        (orjson.dumps({**normal_payload(INDEX), INDEX.names[0]: "n/a"}), "non-numeric"),
    ],
)
def test_ingest_refuses_bad_input_with_a_message_and_lands_nothing(
    client: TestClient, redis_url: str, stream_key: str, content: bytes, message: str
) -> None:
    response = client.post("/api/v1/ingest", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert message in response.json()["detail"]
    with redis.Redis.from_url(redis_url) as r:
        assert r.xlen(stream_key) == 0


def test_a_batch_with_one_bad_payload_lands_nothing(client: TestClient, redis_url: str, stream_key: str) -> None:
    bad = normal_payload(INDEX)
    bad[INDEX.names[1]] = None
    response = client.post("/api/v1/ingest", json=[normal_payload(INDEX), bad])
    assert response.status_code == 422
    assert response.json()["detail"].startswith("payload 1: ")
    with redis.Redis.from_url(redis_url) as r:
        assert r.xlen(stream_key) == 0


def test_oversize_payload_is_refused(client: TestClient) -> None:
    payload = normal_payload(INDEX, **{f"EXTRA-{'X' * 60}-{i}": float(i) for i in range(900)})
    response = client.post("/api/v1/ingest", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"].endswith("bytes; the limit is 65536 bytes")


def test_writes_need_the_api_key_when_one_is_set(keyed_client: TestClient) -> None:
    body = {"entry_id": f"{int(time.time() * 1000)}-0", "payload": normal_payload(INDEX)}
    assert keyed_client.post("/api/v1/analyze", json=body).status_code == 401
    assert keyed_client.post("/api/v1/analyze", json=body, headers={"X-API-Key": "wrong"}).status_code == 401
    assert keyed_client.post("/api/v1/analyze", json=body, headers={"X-API-Key": "k-123"}).status_code == 200
    assert keyed_client.get("/healthz").status_code == 200


def test_sweep_analyses_landed_entries_without_results(client: TestClient) -> None:
    landed = client.post("/api/v1/ingest", json=[normal_payload(INDEX) for _ in range(3)]).json()["entry_ids"]
    client.post("/api/v1/analyze", json={"entry_id": landed[0], "payload": normal_payload(INDEX)})
    outcome = client.post("/api/v1/sweep", params={"grace_s": 0}).json()
    assert outcome == {"scanned": 3, "analysed": 2, "already_done": 1, "dead_lettered": 0}
    assert client.post("/api/v1/sweep", params={"grace_s": 0}).json()["analysed"] == 0


def test_a_late_duplicate_gets_the_stored_result_not_a_new_verdict(client: TestClient) -> None:
    body = {"entry_id": "1763892000500-0", "payload": normal_payload(INDEX, AT_ID)}
    first = client.post("/api/v1/analyze", json=body).json()
    changed = {**body, "payload": normal_payload(INDEX, AT_ID, **{HIGH_SENSOR: 1e9})}
    again = client.post("/api/v1/analyze", json=changed).json()
    assert again == first and again["final_status"] == "normal"
