"""Statistics of anomalies, the alarm performance report, maintenance windows and learned limits over
HTTP, on the real Redis and both stores, with anomalies raised by the real pipeline."""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))

from analyzer.runtime.redis_client import close_redis
from analyzer.runtime.services import open_services
from analyzer.settings import Settings
from analyzer.store.protocol import Store
from dashboard_api.settings import DashboardSettings
from schemas.alarms import ResolvedAlarm
from schemas.catalog import SensorCatalog, SensorSpec
from tests.dashboard_api.plant import ADMIN, OPERATOR, VIEWER, Plant, plant, staggered
from tests.dashboard_api.utils import Api, RoleKeys, open_api
from tests.integration.helpers import BREACH_KEY, BREACHING, payloads
from tests.store.conftest import backend, cosmos_server, store

__all__ = ["backend", "cosmos_server", "plant", "store"]

pytestmark = pytest.mark.redis


async def test_anomalies_per_hour_sensor_and_severity(plant: Plant) -> None:
    records = await staggered(plant)
    await plant.post(f"/api/v1/anomalies/{records[0].id}/acknowledge", OPERATOR)
    resolved = await plant.post(
        f"/api/v1/anomalies/{records[1].id}/resolve", ADMIN, {"note": "done", "root_cause": "process_upset"}
    )
    assert resolved.status_code == 200

    per_hour = (await plant.get("/api/v1/stats/anomalies-per-hour")).json()
    assert per_hour["count"] in (24, 25) and per_hour["count"] == len(per_hour["data"])
    assert sum(h["opened"] for h in per_hour["data"]) == len(records)
    assert sum(h["resolved"] for h in per_hour["data"]) == 1
    hours = [h["hour"] for h in per_hour["data"]]
    assert hours == sorted(hours)

    by_sensor = (await plant.get("/api/v1/stats/anomalies-by-sensor")).json()
    expected = Counter(s for r in records for s in set(r.sensors))
    assert {d["sensor"]: d["anomalies"] for d in by_sensor["data"]} == dict(expected)
    assert [d["anomalies"] for d in by_sensor["data"]] == sorted(expected.values(), reverse=True)

    by_severity = (await plant.get("/api/v1/stats/anomalies-by-severity")).json()
    assert by_severity["total"] == len(records)
    assert [d["severity"] for d in by_severity["data"]] == ["critical", "high", "medium", "low"]
    counted = Counter(r.severity_level.value for r in records)
    assert {d["severity"]: d["anomalies"] for d in by_severity["data"]} == {
        s: counted.get(s, 0) for s in ("critical", "high", "medium", "low")
    }

    # A range in the past holds none of them.
    old = await plant.get(
        "/api/v1/stats/anomalies-by-severity", start="2020-01-01T00:00:00Z", end="2020-01-02T00:00:00Z"
    )
    assert old.json()["total"] == 0
    assert (
        await plant.get("/api/v1/stats/anomalies-per-hour", start="2020-01-01T00:00:00Z", end="2020-03-01T00:00:00Z")
    ).status_code == 422


async def test_mean_time_to_acknowledge_and_to_resolve(plant: Plant) -> None:
    records = await staggered(plant)
    for record in records[:2]:
        assert (await plant.post(f"/api/v1/anomalies/{record.id}/acknowledge", OPERATOR)).status_code == 200
    body = {"note": "done", "root_cause": "process_upset"}
    assert (await plant.post(f"/api/v1/anomalies/{records[0].id}/resolve", OPERATOR, body)).status_code == 200

    times = (await plant.get("/api/v1/stats/response-times")).json()
    assert times["opened"] == len(records)
    assert times["unacknowledged"] == len(records) - 2
    acknowledged = [await plant.services.alarms.get(r.id) for r in records[:2]]
    expected_ack = [(a.acknowledged_at - a.opened_at).total_seconds() for a in acknowledged if a.acknowledged_at]
    assert times["time_to_acknowledge"]["count"] == 2
    assert times["time_to_acknowledge"]["mean_s"] == pytest.approx(np.mean(expected_ack), abs=1e-3)
    done = acknowledged[0]
    assert isinstance(done, ResolvedAlarm)
    assert times["time_to_resolve"]["count"] == 1
    to_resolve = (done.resolved_at - done.opened_at).total_seconds()
    assert times["time_to_resolve"]["mean_s"] == pytest.approx(to_resolve, abs=1e-3)


async def test_the_alarm_report(plant: Plant) -> None:
    records = await staggered(plant)
    report = await plant.get("/api/v1/report", since=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    assert report.status_code == 200
    body = report.json()
    assert body["activations"] == sum(r.activations for r in records)
    assert {t["alarm"] for t in body["top"]} <= {r.alarm_key for r in records}
    assert sum(t["activations"] for t in body["top"]) == body["activations"]
    assert body["text"].startswith("Alarm performance") and "| activations |" in body["text"]
    assert sum(body["priorities"].values()) == pytest.approx(1.0, abs=1e-3)
    backwards = await plant.get("/api/v1/report", since="2026-01-02T00:00:00Z", until="2026-01-01T00:00:00Z")
    assert backwards.status_code == 422


async def test_maintenance_windows_suppress_and_are_listed(plant: Plant) -> None:
    now = datetime.now(UTC)
    window = {
        "sensors": [BREACHING],
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "reason": "transmitter swap",
    }
    key = {"Idempotency-Key": "window-0001-abc"}
    created = await plant.post("/api/v1/maintenance-windows", OPERATOR, window, **key)
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["created_by"] == "operator" and made["active"] is True
    again = await plant.post("/api/v1/maintenance-windows", OPERATOR, window, **key)
    assert again.status_code == 200 and again.json()["id"] == made["id"]
    listed = (await plant.get("/api/v1/maintenance-windows")).json()
    assert [w["id"] for w in listed["data"]] == [made["id"]]

    for bad in (
        {**window, "sensors": ["NOPE-1"]},
        {**window, "end": window["start"]},
        {**window, "start": "2020-01-01T00:00:00Z", "end": "2020-01-01T01:00:00Z"},
        {**window, "end": (now + timedelta(days=40)).isoformat()},
    ):
        response = await plant.post("/api/v1/maintenance-windows", OPERATOR, bad)
        assert response.status_code == 422, bad
    assert (await plant.post("/api/v1/maintenance-windows", VIEWER, window)).status_code == 403

    # A breach inside the window is recorded, marked suppressed.
    await plant.analyse(payloads(3, breach=lambda _: True))
    [record] = [r for r in await plant.open_records() if r.alarm_key == BREACH_KEY]
    assert record.suppression is not None and record.suppression.window_id == made["id"]
    shown = (await plant.get(f"/api/v1/anomalies/{record.id}")).json()
    assert shown["state"] == "suppressed" and shown["suppression"]["reason"] == "transmitter swap"


# -- learned limits: a catalogue with one sensor nobody gave limits --------------------------------


@pytest.fixture
async def limits_api(
    settings: Settings, dashboard_config: DashboardSettings, sqlite_store: Store, role_keys: RoleKeys, tmp_path: Path
) -> AsyncIterator[tuple[Api, Settings]]:
    catalog = SensorCatalog(
        plant="p",
        sensors=[
            SensorSpec(name="TI-1", unit="degC", description="t", core=True, low=0, high=1000),
            SensorSpec(name="AI-9", unit="ppm", description="an analyser nobody gave limits"),
        ],
    )
    path = tmp_path / "catalog.json"
    path.write_text(catalog.model_dump_json())
    configured = settings.model_copy(update={"sensor_catalog": path})
    async with open_api(configured, dashboard_config, sqlite_store, role_keys) as api:
        yield api, configured


async def test_learned_limits_suggested_then_accepted_by_an_admin(limits_api: tuple[Api, Settings]) -> None:
    api, configured = limits_api
    services = await open_services(configured, store=api.store)
    try:
        rng = np.random.default_rng(7)
        t0 = int(datetime.now(UTC).timestamp()) - 200 * 10
        for k in range(200):
            t = t0 + 10 * k
            document = {
                "timestamp": datetime.fromtimestamp(t, UTC).isoformat(),
                "TI-1": 500 + rng.normal(),
                "AI-9": round(40 + rng.normal(), 2),
            }
            await services.redis.xadd(services.keys.stream, {"payload": json.dumps(document)}, id=f"{t * 1000}-0")
        await services.pipeline.analyze_entries(await services.redis.xrange(services.keys.stream))
    finally:
        await services.binary.aclose()
        await close_redis(services.redis)

    suggestions = await api.client.get("/api/v1/limits/suggestions", headers=api.as_(VIEWER))
    assert suggestions.status_code == 200, suggestions.text
    [suggested] = suggestions.json()["data"]
    assert suggested["sensor"] == "AI-9" and suggested["samples"] >= 150
    lim = suggested["suggested"]
    assert lim["low_low"] < lim["low"] < 40 < lim["high"] < lim["high_high"]

    accept = {"low": lim["low"], "high": lim["high"], "note": "from the suggestion"}
    assert (await api.client.post("/api/v1/limits/AI-9", headers=api.as_(OPERATOR), json=accept)).status_code == 403
    accepted = await api.client.post("/api/v1/limits/AI-9", headers=api.as_(ADMIN), json=accept)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["accepted_by"] == "admin" and accepted.json()["limits"]["high"] == lim["high"]
    listed = (await api.client.get("/api/v1/limits", headers=api.as_(VIEWER))).json()
    assert [a["sensor"] for a in listed["data"]] == ["AI-9"]
    audit = await api.redis.xrange(api.redis_keys.limits_audit)
    assert audit and "admin" in str(audit[-1][1])  # the acceptance is audited, with who accepted

    catalogued = await api.client.post("/api/v1/limits/TI-1", headers=api.as_(ADMIN), json={"high": 9})
    assert catalogued.status_code == 409 and "catalogue" in catalogued.json()["detail"]
    unknown = await api.client.post("/api/v1/limits/XX-1", headers=api.as_(ADMIN), json={"high": 9})
    assert unknown.status_code == 404
    disordered = await api.client.post("/api/v1/limits/AI-9", headers=api.as_(ADMIN), json={"low": 5, "high": 1})
    assert disordered.status_code == 422 and "out of order" in disordered.json()["detail"]
    empty = await api.client.post("/api/v1/limits/AI-9", headers=api.as_(ADMIN), json={})
    assert empty.status_code == 422
