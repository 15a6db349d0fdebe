"""The anomaly queue and the workflow over HTTP, on the real Redis and both stores (SQLite and the
Cosmos-protocol server): alarms are raised by the real pipeline (tier 1) from landed payloads,
then listed, read, acknowledged, shelved, resolved and reopened through the API."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))

from schemas.alarms import RootCause
from schemas.public import RootCausePublic
from tests.dashboard_api.plant import ADMIN, OPERATOR, VIEWER, Plant, plant, staggered
from tests.integration.helpers import BREACH_KEY, BREACHING, land, payloads
from tests.store.conftest import backend, cosmos_server, store

__all__ = ["backend", "cosmos_server", "plant", "store"]

pytestmark = pytest.mark.redis


async def _all_pages(plant: Plant, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    continuation = None
    while True:
        query = {**params, **({"continuation": continuation} if continuation else {})}
        response = await plant.get("/api/v1/anomalies", **query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["count"] == len(page["data"]) <= params.get("limit", 100)
        items += page["data"]
        continuation = page["continuation"]
        if continuation is None:
            return items


async def test_the_queue_filters_sorts_and_pages(plant: Plant) -> None:
    records = await staggered(plant)
    by_id = {r.id: r for r in records}

    everything = await _all_pages(plant, limit=2, sort="-opened_at")
    assert [a["id"] for a in everything] == [
        r.id for r in sorted(records, key=lambda r: (-r.opened_at.timestamp(), r.id))
    ]
    assert len({a["id"] for a in everything}) == len(records)  # no page repeats an item
    opened = [a["opened_at"] for a in everything]
    assert opened == sorted(opened, reverse=True)

    by_severity = await _all_pages(plant, limit=3, sort="-severity")
    ranks = {"critical": 4, "high": 3, "medium": 2, "low": 1}
    assert [ranks[a["severity"]] for a in by_severity] == sorted((r.severity_level.rank for r in records), reverse=True)
    ascending = await _all_pages(plant, sort="severity")
    assert [ranks[a["severity"]] for a in ascending] == sorted(r.severity_level.rank for r in records)
    by_count = await _all_pages(plant, sort="-count")
    assert [a["count"] for a in by_count] == sorted((r.count for r in records), reverse=True)

    sensor = records[0].sensors[0]
    only = await _all_pages(plant, sensor=sensor)
    assert {a["id"] for a in only} == {r.id for r in records if sensor in r.sensors}
    severity = records[0].severity_level.value
    assert {a["id"] for a in await _all_pages(plant, severity=severity)} == {
        r.id for r in records if r.severity_level.value == severity
    }
    assert {a["id"] for a in await _all_pages(plant, tier="heuristic")} == {
        r.id for r in records if r.tier == "heuristic"
    }
    assert await _all_pages(plant, tier="ml") == []
    latest_open = max(r.opened_at for r in records)
    assert {a["id"] for a in await _all_pages(plant, until=latest_open.isoformat())} == {
        r.id for r in records if r.opened_at < latest_open
    }
    assert {a["id"] for a in await _all_pages(plant, since=(latest_open + timedelta(hours=1)).isoformat())} == set()

    # A list item is the public shape: no etag, no counted entry ids; history and evidence only in the detail.
    item = everything[0]
    assert item["status"] == "open" and item["history"] is None and item["evidence"] is None
    assert not {"etag", "revision", "first_entry_id", "last_entry_id", "alarm_key"} & set(item)
    assert item["top_sensors"] and item["top_sensors"][0]["sensor"] in by_id[item["id"]].sensors


async def test_state_filter_follows_the_workflow(plant: Plant) -> None:
    records = await staggered(plant)
    target = records[0].id
    assert (await plant.post(f"/api/v1/anomalies/{target}/acknowledge", OPERATOR)).status_code == 200
    acked = await _all_pages(plant, state="ack_active")
    assert [a["id"] for a in acked] == [target]
    assert target not in {a["id"] for a in await _all_pages(plant, state="unack_active")}
    shelved = await plant.post(f"/api/v1/anomalies/{target}/shelve", OPERATOR, {"minutes": 30, "reason": "valve work"})
    assert shelved.status_code == 200
    assert [a["id"] for a in await _all_pages(plant, state="shelved")] == [target]
    assert (await plant.get("/api/v1/anomalies", state="resolved")).status_code == 422


async def test_a_bad_continuation_is_400(plant: Plant) -> None:
    await staggered(plant)
    first = (await plant.get("/api/v1/anomalies", limit=1)).json()
    token = first["continuation"]
    assert token
    assert (await plant.get("/api/v1/anomalies", limit=1, continuation=token)).status_code == 200
    for bad in (token[:-3] + "abc", "not-a-token", token.replace(".", "x")):
        response = await plant.get("/api/v1/anomalies", limit=1, continuation=bad)
        assert response.status_code == 400, bad
        assert "continuation" in response.json()["detail"]
    other_query = await plant.get("/api/v1/anomalies", limit=1, sort="count", continuation=token)
    assert other_query.status_code == 400


async def test_one_anomaly_with_its_evidence_history_and_etag(plant: Plant) -> None:
    anomaly_id = await plant.breach_id()
    response = await plant.get(f"/api/v1/anomalies/{anomaly_id}")
    assert response.status_code == 200
    body = response.json()
    record = await plant.services.alarms.get(anomaly_id)
    assert response.headers["ETag"] == f'"{record.etag}"'
    assert body["status"] == "open" and body["state"] == "unack_active" and body["active"] is True
    assert body["sensors"] == [BREACHING] and body["count"] == record.count
    assert body["history"][0]["action"] == "activated"
    results = body["evidence"]["results"]
    assert [r["id"] for r in results] == list(dict.fromkeys([record.first_entry_id, record.last_entry_id]))
    assert all(anomaly_id in r["anomaly_ids"] for r in results)
    assert body["top_sensors"][0]["sensor"] == BREACHING
    missing = await plant.get("/api/v1/anomalies/high:NOPE@1-0")
    assert missing.status_code == 404 and missing.json()["detail"]
    assert (await plant.get("/api/v1/anomalies/no-at-sign")).status_code == 404


async def test_the_workflow_takes_who_from_the_credentials(plant: Plant) -> None:
    anomaly_id = await plant.breach_id()
    base = f"/api/v1/anomalies/{anomaly_id}"
    etag = (await plant.get(base)).headers["ETag"]

    acked = await plant.post(f"{base}/acknowledge", OPERATOR, {"note": "on it"}, **{"If-Match": etag})
    assert acked.status_code == 200, acked.text
    assert acked.json()["acknowledged_by"] == "operator" and acked.json()["state"] == "ack_active"
    assert acked.headers["ETag"] != etag

    # A client-supplied identity is refused, not trusted.
    forged = await plant.post(f"{base}/resolve", OPERATOR, {"note": "x", "root_cause": "unknown", "resolved_by": "eve"})
    assert forged.status_code == 422

    shelved = await plant.post(f"{base}/shelve", OPERATOR, {"minutes": 60, "reason": "waiting for the fitter"})
    assert shelved.status_code == 200 and shelved.json()["shelf"]["by"] == "operator"
    assert shelved.json()["state"] == "shelved"
    for bad in ({"reason": "neither"}, {"minutes": 5, "until": "2030-01-01T00:00:00Z", "reason": "both"}):
        assert (await plant.post(f"{base}/shelve", OPERATOR, bad)).status_code == 422
    too_long = {"until": (datetime.now(UTC) + timedelta(days=8)).isoformat(), "reason": "r"}
    assert (await plant.post(f"{base}/shelve", OPERATOR, too_long)).status_code == 422
    unshelved = await plant.post(f"{base}/unshelve", ADMIN, {"note": "fitter done"})
    assert unshelved.status_code == 200 and unshelved.json()["shelf"] is None

    resolved = await plant.post(
        f"{base}/resolve", ADMIN, {"note": "replaced the transmitter", "root_cause": "instrument_fault"}
    )
    assert resolved.status_code == 200, resolved.text
    done = resolved.json()
    assert done["status"] == "resolved" and done["resolved_by"] == "admin" and done["root_cause"] == "instrument_fault"
    stored = await plant.services.store.get_resolved(anomaly_id)
    assert stored is not None and stored.resolved_by == "admin" and stored.root_cause == RootCause.INSTRUMENT_FAULT
    assert anomaly_id not in {a["id"] for a in (await plant.get("/api/v1/anomalies")).json()["data"]}
    history = await plant.get("/api/v1/resolved-anomalies", resolved_by="admin")
    assert [a["id"] for a in history.json()["data"]] == [anomaly_id]
    # A resolved anomaly cannot be acknowledged: 409 with it as it is.
    late = await plant.post(f"{base}/acknowledge", OPERATOR)
    assert late.status_code == 409 and late.json()["current"]["status"] == "resolved"

    reopened = await plant.post(f"{base}/reopen", OPERATOR, {"note": "the lab says it was real"})
    assert reopened.status_code == 200, reopened.text
    again = reopened.json()
    assert again["status"] == "open" and again["acknowledged_by"] is None
    assert [t["action"] for t in again["history"]][-3:] == ["unshelved", "resolved", "reopened"]
    assert again["history"][-1]["by"] == "operator"
    assert anomaly_id in {a["id"] for a in (await plant.get("/api/v1/anomalies")).json()["data"]}
    # A viewer may read but not act.
    assert (await plant.post(f"{base}/acknowledge", VIEWER)).status_code == 403


async def test_every_root_cause_of_the_documented_list_is_accepted() -> None:
    assert [c.value for c in RootCausePublic] == [c.value for c in RootCause]


async def test_two_operators_at_once_exactly_one_wins(plant: Plant) -> None:
    anomaly_id = await plant.breach_id()
    base = f"/api/v1/anomalies/{anomaly_id}"
    etag = (await plant.get(base)).headers["ETag"]
    # Two different operators: the operator key and the admin key, acting on the same ETag at once.
    first, second = await asyncio.gather(
        plant.post(f"{base}/acknowledge", OPERATOR, {"note": "mine"}, **{"If-Match": etag}),
        plant.post(f"{base}/acknowledge", ADMIN, {"note": "no, mine"}, **{"If-Match": etag}),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    current = loser.json()["current"]
    assert current["acknowledged_by"] == winner.json()["acknowledged_by"]
    assert loser.headers["ETag"] == winner.headers["ETag"]
    assert loser.json()["detail"]

    # Without If-Match too: two resolutions at once, one wins and the other sees the winner's.
    body = {"note": "done", "root_cause": "process_upset"}
    first, second = await asyncio.gather(
        plant.post(f"{base}/resolve", OPERATOR, body), plant.post(f"{base}/resolve", ADMIN, body)
    )
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert loser.json()["current"]["resolved_by"] == winner.json()["resolved_by"]
    stored = await plant.services.store.get_resolved(anomaly_id)
    assert stored is not None and stored.resolved_by == winner.json()["resolved_by"]


async def test_a_repeated_request_is_harmless(plant: Plant) -> None:
    anomaly_id = await plant.breach_id()
    base = f"/api/v1/anomalies/{anomaly_id}"
    etag = (await plant.get(base)).headers["ETag"]
    first = await plant.post(f"{base}/acknowledge", OPERATOR, {"note": "on it"}, **{"If-Match": etag})
    # The same request again (the response was lost): same person, same state, no change.
    again = await plant.post(f"{base}/acknowledge", OPERATOR, {"note": "on it"}, **{"If-Match": etag})
    assert first.status_code == again.status_code == 200
    assert again.headers["ETag"] == first.headers["ETag"]
    history = (await plant.get(base)).json()["history"]
    assert [t["action"] for t in history].count("acknowledged") == 1

    key = {"Idempotency-Key": "resolve-0001-abcdef"}
    body = {"note": "flushed the impulse line", "root_cause": "instrument_fault"}
    resolved = await plant.post(f"{base}/resolve", OPERATOR, body, **key)
    replay = await plant.post(f"{base}/resolve", OPERATOR, body, **key)
    assert resolved.status_code == replay.status_code == 200
    assert replay.json() == resolved.json() and replay.headers["ETag"] == resolved.headers["ETag"]
    other = await plant.post(f"{base}/resolve", OPERATOR, {**body, "note": "something else"}, **key)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    # Another operator's key of the same name is their own.
    theirs = await plant.post(f"{base}/resolve", ADMIN, body, **key)
    assert theirs.status_code == 409


async def test_acknowledging_during_a_worker_batch_loses_no_counted_reading(plant: Plant) -> None:
    """The worker folds breaching readings batch after batch while operators acknowledge, shelve and
    unshelve the same anomaly over HTTP: every reading is counted once and the acknowledgement stays."""
    documents = payloads(150, breach=lambda _: True)
    ids = await land(plant.services.lander, documents)
    entries = await plant.services.redis.xrange(plant.services.keys.stream)
    await plant.services.pipeline.analyze_entries(entries[:2])
    [record] = [r for r in await plant.open_records() if r.alarm_key == BREACH_KEY]
    base = f"/api/v1/anomalies/{record.id}"

    async def worker() -> None:
        for first in range(2, len(entries), 4):
            await plant.services.pipeline.analyze_entries(entries[first : first + 4])
            await asyncio.sleep(0)

    async def operators() -> list[int]:
        codes = [(await plant.post(f"{base}/acknowledge", OPERATOR, {"note": "watching"})).status_code]
        for i in range(10):
            body = {"minutes": 10 + i, "reason": "checking"}
            codes.append((await plant.post(f"{base}/shelve", OPERATOR, body)).status_code)
            codes.append((await plant.post(f"{base}/unshelve", OPERATOR)).status_code)
        return codes

    _, codes = await asyncio.gather(worker(), operators())
    assert set(codes) == {200}
    [after] = [r for r in await plant.open_records() if r.alarm_key == BREACH_KEY]
    assert after.count == len(ids)
    assert after.acknowledged_by == "operator" and after.shelf is None
    shown = (await plant.get(base)).json()
    assert shown["count"] == len(ids) and shown["state"] == "ack_active"


async def test_the_live_sensors_show_each_sensors_alarm_state(plant: Plant) -> None:
    anomaly_id = await plant.breach_id()
    records = [r for r in await plant.open_records() if BREACHING in r.sensors]

    async def live() -> dict[str, dict[str, Any]]:
        response = await plant.get("/api/v1/live/sensors")
        assert response.status_code == 200
        body = response.json()
        assert body["alarm_count"] == sum(s["alarm"] is not None for s in body["data"])
        return {s["name"]: s for s in body["data"]}

    sensors = await live()
    shown = sensors[BREACHING]
    assert shown["open_anomalies"] == len(records)
    worst = max(records, key=lambda r: r.severity_level.rank)
    assert shown["alarm"]["severity"] == worst.severity_level.value
    assert shown["alarm"]["state"] == "unack_active" and shown["alarm"]["active"] is True
    assert shown["stale"] is False  # just landed
    quiet = [s for name, s in sensors.items() if not any(name in r.sensors for r in await plant.open_records())]
    assert quiet and all(s["alarm"] is None and s["open_anomalies"] == 0 for s in quiet)

    target = shown["alarm"]["anomaly_id"]
    assert (await plant.post(f"/api/v1/anomalies/{target}/acknowledge", OPERATOR)).status_code == 200
    one = (await plant.get(f"/api/v1/live/sensors/{BREACHING}")).json()
    assert one["alarm"]["anomaly_id"] == target and one["alarm"]["state"] == "ack_active"

    body = {"note": "done", "root_cause": "process_upset"}
    for record in records:
        assert (await plant.post(f"/api/v1/anomalies/{record.id}/resolve", OPERATOR, body)).status_code == 200
    assert anomaly_id in {r.id for r in records}
    after = (await plant.get(f"/api/v1/live/sensors/{BREACHING}")).json()
    assert after["alarm"] is None and after["open_anomalies"] == 0
