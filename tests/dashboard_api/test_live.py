"""The live view on a real Redis: latest values, age, staleness, limits; series downsampled from
the stream (a spike survives), backfills landed late, and older ranges from the stored analyses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from store_factories import make_result

from schemas.public import Role
from tests.dashboard_api.utils import Api, land, ms_id

pytestmark = pytest.mark.redis


async def test_latest_values_with_age_staleness_and_limits(api: Api) -> None:
    now = datetime.now(UTC)
    await land(api.redis, api.redis_keys, now - timedelta(seconds=100), {"TI-101": 350.0})  # stale (> 3 x 10 s)
    await land(api.redis, api.redis_keys, now - timedelta(seconds=5), {"FI-101": 420.5})  # fresh
    await api.redis.hset(api.redis_keys.latest, "PI-102", "not json")  # ignored, never a 500

    response = await api.client.get("/api/v1/live/sensors", headers=api.as_(Role.VIEWER))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(body["data"]) == 100
    sensors = {s["name"]: s for s in body["data"]}
    fresh, stale, never = sensors["FI-101"], sensors["TI-101"], sensors["PI-102"]
    assert fresh["value"] == 420.5 and not fresh["stale"] and 4 < fresh["age_s"] < 30
    assert fresh["stale_after_s"] == 30.0 and fresh["unit"] == "m3/h"
    assert fresh["limits"] == {"low_low": 348.0, "low": 372.0, "high": 468.0, "high_high": 492.0}
    assert stale["stale"] and 99 < stale["age_s"] < 130 and stale["value"] == 350.0
    assert never["value"] is None and never["stale"] and never["age_s"] is None
    hourly = next(s for s in body["data"] if s["update_interval_s"] == 3600)
    assert hourly["stale_after_s"] == 10_800.0
    assert body["stale_count"] == sum(s["stale"] for s in body["data"]) == 99

    one = await api.client.get("/api/v1/live/sensors/FI-101", headers=api.as_(Role.VIEWER))
    assert one.json()["value"] == 420.5 and one.json()["result_id"] == fresh["result_id"]
    missing = await api.client.get("/api/v1/live/sensors/XX-999", headers=api.as_(Role.VIEWER))
    assert missing.status_code == 404 and "XX-999" in missing.json()["detail"]


async def test_a_series_from_the_stream_keeps_a_spike(api: Api) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    for n in range(360):  # one hour, every 10 s, landed on time
        moment = start + timedelta(seconds=10 * n)
        value = 500.0 if n == 123 else 350.0 + (n % 3)
        await land(api.redis, api.redis_keys, moment, {"TI-101": value, "FI-101": 400.0}, entry_id=ms_id(moment))
    url = "/api/v1/live/sensors/TI-101/readings"
    params = {"start": start.isoformat(), "end": (start + timedelta(hours=1)).isoformat(), "points": 60}
    response = await api.client.get(url, params=params, headers=api.as_(Role.VIEWER))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["source"] == "stream" and body["readings"] == 360 and not body["truncated"]
    assert body["count"] == 60 and all(bucket["count"] == 6 for bucket in body["data"])
    spike = body["data"][123 // 6]
    assert spike["max"] == 500.0 and spike["min"] == 350.0
    assert max(bucket["max"] for i, bucket in enumerate(body["data"]) if i != 123 // 6) == 352.0
    assert body["unit"] == "degC"

    # Fewer readings than points: every reading is its own point.
    narrow = {"start": start.isoformat(), "end": (start + timedelta(seconds=50)).isoformat(), "points": 100}
    few = (await api.client.get(url, params=narrow, headers=api.as_(Role.VIEWER))).json()
    assert few["count"] == 5 and [p["count"] for p in few["data"]] == [1] * 5
    assert few["data"][0]["start"] == few["data"][0]["end"]


async def test_a_backfill_landed_late_is_found_by_reading_time(api: Api) -> None:
    """A simulated day landed at once: entry ids are now, reading times are hours ago."""
    now = datetime.now(UTC)
    first = now.replace(microsecond=0) - timedelta(hours=6)
    for n in range(120):
        await land(api.redis, api.redis_keys, first + timedelta(seconds=30 * n), {"TI-101": float(n)})
    params = {"start": first.isoformat(), "end": (first + timedelta(minutes=30)).isoformat(), "points": 500}
    body = (
        await api.client.get("/api/v1/live/sensors/TI-101/readings", params=params, headers=api.as_(Role.VIEWER))
    ).json()
    assert body["readings"] == 60 and [p["mean"] for p in body["data"]] == [float(n) for n in range(60)]


async def test_older_ranges_come_from_stored_analyses_with_corrections(api: Api) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    results = [make_result(n, when=start + timedelta(minutes=n), value=340.0 + n) for n in range(30)]
    await api.store.put_results(results)
    corrected = await api.client.post(
        "/api/v1/corrections",
        json={"result_id": results[4].id, "sensor": "TI-101", "value": 100.0, "reason": "sensor fault"},
        headers=api.as_(Role.OPERATOR),
    )
    assert corrected.status_code == 201, corrected.text
    params = {"start": start.isoformat(), "end": (start + timedelta(minutes=30)).isoformat(), "points": 10}
    body = (
        await api.client.get("/api/v1/live/sensors/TI-101/readings", params=params, headers=api.as_(Role.VIEWER))
    ).json()
    assert body["source"] == "results" and body["readings"] == 30 and body["count"] == 10
    assert body["data"][1]["min"] == 100.0, "the corrected value, not the landed 344"
    assert body["data"][0]["max"] == 342.0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"points": 50_000}, "less than or equal to 20000"),
        ({"points": 5000}, "points may be at most 2000"),
        ({"start": "2026-11-23T10:00:00Z", "end": "2026-11-23T09:00:00Z"}, "must be before end"),
        ({"start": "2026-11-01T00:00:00Z", "end": "2026-11-23T00:00:00Z"}, "at most 7 days"),
        ({"start": "2026-11-23T10:00:00"}, "timezone"),
    ],
)
async def test_series_requests_are_checked(api: Api, params: dict[str, object], message: str) -> None:
    response = await api.client.get("/api/v1/live/sensors/TI-101/readings", params=params, headers=api.as_(Role.VIEWER))
    assert response.status_code == 422
    assert message in str(response.json())
