"""History through the API: analyses by time with filters and paging, resolved anomalies by
resolver, results per hour, and retention (analyses expire; anomalies and the audit trail stay)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from store_factories import BASE, at, make_alarm, make_result, resolve

from dashboard_api.maintenance import maintain_once
from schemas.public import Role
from schemas.results import Severity
from tests.dashboard_api.utils import Api


async def collect(api: Api, url: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    pages = 0
    while True:
        response = await api.client.get(url, params=params, headers=api.as_(Role.VIEWER))
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["count"] == len(page["data"])
        items += page["data"]
        pages += 1
        if page["continuation"] is None:
            return items, pages
        params = {**params, "continuation": page["continuation"]}


async def test_results_by_time_with_filters_and_paging(api: Api) -> None:
    results = [
        make_result(n, anomalous=["TI-101"] if n % 5 == 0 else None, severity=Severity.HIGH if n % 10 == 0 else None)
        for n in range(25)
    ]
    await api.store.put_results(results)

    everything, pages = await collect(api, "/api/v1/results", limit=10)
    assert [r["id"] for r in everything] == [r.id for r in reversed(results)] and pages == 3
    anomalies, _ = await collect(api, "/api/v1/results", status="anomaly", limit=2)
    assert [r["id"] for r in anomalies] == [results[n].id for n in (20, 15, 10, 5, 0)]
    high, _ = await collect(api, "/api/v1/results", severity="high")
    assert [r["id"] for r in high] == [results[n].id for n in (20, 10, 0)]
    by_sensor, _ = await collect(
        api, "/api/v1/results", sensor="TI-101", start=at(50).isoformat(), end=at(200).isoformat()
    )
    assert [r["id"] for r in by_sensor] == [results[n].id for n in (15, 10, 5)]
    first = everything[-1]
    assert first["status"] == "anomaly" and first["findings"][0]["tier"] == "heuristic"
    assert first["findings"][0]["kind"] == "High" and "storage" not in str(first)
    assert set(first) == {
        "id", "timestamp", "analyzed_at", "status", "severity", "confidence", "anomalous_sensors",
        "anomaly_ids", "readings", "findings", "ml_score",
    }  # fmt: skip


async def test_a_forged_continuation_is_400(api: Api) -> None:
    await api.store.put_results([make_result(n) for n in range(5)])
    page = (await api.client.get("/api/v1/results", params={"limit": 2}, headers=api.as_(Role.VIEWER))).json()
    for token, params in ((page["continuation"] + "x", {}), (page["continuation"], {"status": "anomaly"})):
        response = await api.client.get(
            "/api/v1/results", params={"limit": 2, "continuation": token, **params}, headers=api.as_(Role.VIEWER)
        )
        assert response.status_code == 400 and "continuation" in response.json()["detail"]


async def test_resolved_anomalies_by_resolver_and_time(api: Api) -> None:
    for n, who in enumerate(("alice", "bob", "alice")):
        await api.store.close_alarm(resolve(make_alarm(f"high:TI-10{n}", first=n), who, f"fixed {n}", 3600 + 60 * n))
    alice, _ = await collect(api, "/api/v1/resolved-anomalies", resolved_by="alice")
    assert [a["resolution_note"] for a in alice] == ["fixed 2", "fixed 0"]
    assert alice[0]["resolved_by"] == "alice" and alice[0]["sensors"] == ["TI-102"]
    assert "etag" not in alice[0] and "revision" not in alice[0] and "history" not in alice[0]
    windowed, _ = await collect(api, "/api/v1/resolved-anomalies", start=at(3650).isoformat(), end=at(3800).isoformat())
    assert [a["resolved_by"] for a in windowed] == ["alice", "bob"]


async def test_results_per_hour_lists_every_hour(api: Api) -> None:
    results = [make_result(n, when=at(600 * n), anomalous=["TI-101"] if n == 2 else None) for n in range(6)]
    results.append(make_result(99, when=at(3 * 3600 + 5), anomalous=["TI-101"]))
    await api.store.put_results(results)
    params = {"start": BASE.isoformat(), "end": (BASE + timedelta(hours=4)).isoformat()}
    response = await api.client.get("/api/v1/stats/results-per-hour", params=params, headers=api.as_(Role.VIEWER))
    body = response.json()
    assert [(h["analyses"], h["anomalies"]) for h in body["data"]] == [(6, 1), (0, 0), (0, 0), (1, 1)]
    assert body["data"][1]["hour"] == "2026-11-23T09:00:00Z" and body["count"] == 4
    too_long = {"start": BASE.isoformat(), "end": (BASE + timedelta(days=30)).isoformat()}
    refused = await api.client.get("/api/v1/stats/results-per-hour", params=too_long, headers=api.as_(Role.VIEWER))
    assert refused.status_code == 422


async def test_retention_expires_analyses_and_keeps_anomalies_and_the_trail(api: Api) -> None:
    now = datetime.now(UTC)
    old = [make_result(n, when=now - timedelta(days=100, minutes=n), anomalous=["TI-101"]) for n in range(3)]
    recent = [make_result(10 + n, when=now - timedelta(days=1, minutes=n)) for n in range(2)]
    await api.store.put_results(old + recent)
    made = await api.client.post(
        "/api/v1/corrections",
        json={"result_id": old[0].id, "sensor": "TI-101", "value": 1.0, "reason": "sensor fault"},
        headers=api.as_(Role.OPERATOR),
    )
    record = make_alarm(first=0)
    old_close = resolve(record, "alice", "done").model_copy(update={"resolved_at": now - timedelta(days=100)})
    await api.store.close_alarm(old_close)

    upkeep = await maintain_once(api.app.state.dashboard, now=now)
    assert upkeep.expired == 3

    left, _ = await collect(api, "/api/v1/results")
    assert sorted(r["id"] for r in left) == sorted(r.id for r in recent)
    trail, _ = await collect(api, "/api/v1/corrections")
    assert [r["id"] for r in trail] == [made.json()["id"]]
    resolved, _ = await collect(api, "/api/v1/resolved-anomalies")
    assert [a["id"] for a in resolved] == [record.id]
    assert (await maintain_once(api.app.state.dashboard, now=now)).expired == 0
