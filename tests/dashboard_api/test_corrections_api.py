"""Correcting a stored reading through the API: identity from the credentials, the audit trail,
ETag / If-Match, idempotency, refusals; and no route that edits or deletes the trail."""

from __future__ import annotations

from typing import Any

from store_factories import make_result

from schemas.public import Role
from tests.dashboard_api.utils import Api

URL = "/api/v1/corrections"


def body(result_id: str, value: float = 349.0, sensor: str = "TI-101", **extra: Any) -> dict[str, Any]:
    return {"result_id": result_id, "sensor": sensor, "value": value, "reason": "calibration offset", **extra}


async def test_a_correction_is_audited_under_the_caller(api: Api) -> None:
    result = make_result(0, value=359.1)
    await api.store.put_results([result])
    before = await api.client.get(f"/api/v1/results/{result.id}", headers=api.as_(Role.VIEWER))
    assert before.json()["readings"]["TI-101"] == {"value": 359.1, "corrected": False, "original_value": None}

    response = await api.client.post(URL, json=body(result.id), headers=api.as_(Role.OPERATOR))
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["modified_by"] == "operator" and record["old_value"] == 359.1 and record["new_value"] == 349.0
    assert record["result_id"] == result.id and record["reading_time"] == "2026-11-23T08:00:00Z"
    assert response.headers["Location"] == f"{URL}/{record['id']}"
    assert response.headers["ETag"] != before.headers["ETag"]

    after = await api.client.get(f"/api/v1/results/{result.id}", headers=api.as_(Role.VIEWER))
    assert after.json()["readings"]["TI-101"] == {"value": 349.0, "corrected": True, "original_value": 359.1}
    assert after.headers["ETag"] == response.headers["ETag"]
    one = await api.client.get(f"{URL}/{record['id']}", headers=api.as_(Role.VIEWER))
    assert one.json() == record


async def test_the_body_cannot_name_who_made_it(api: Api) -> None:
    await api.store.put_results([make_result(0)])
    for forged in ({"modified_by": "mallory"}, {"resolved_by": "mallory"}):
        response = await api.client.post(URL, json=body(make_result(0).id, **forged), headers=api.as_(Role.ADMIN))
        assert response.status_code == 422
        assert "Extra inputs are not permitted" in response.json()["detail"]
    made = await api.client.post(URL, json=body(make_result(0).id), headers=api.as_(Role.ADMIN))
    assert made.json()["modified_by"] == "admin"


async def test_if_match_and_idempotency(api: Api) -> None:
    result = make_result(0)
    await api.store.put_results([result])
    etag = (await api.client.get(f"/api/v1/results/{result.id}", headers=api.as_(Role.VIEWER))).headers["ETag"]
    operator = api.as_(Role.OPERATOR)

    first = await api.client.post(URL, json=body(result.id, 1.0), headers={**operator, "If-Match": etag})
    assert first.status_code == 201
    stale = await api.client.post(URL, json=body(result.id, 2.0), headers={**operator, "If-Match": etag})
    assert stale.status_code == 412 and stale.headers["ETag"] == first.headers["ETag"]
    assert "changed since you read it" in stale.json()["detail"]

    keyed = {**operator, "Idempotency-Key": "retry-after-timeout-0001"}
    made = await api.client.post(URL, json=body(result.id, 3.0), headers=keyed)
    again = await api.client.post(URL, json=body(result.id, 3.0), headers=keyed)
    assert (made.status_code, again.status_code) == (201, 200)
    assert again.json() == made.json()
    other = await api.client.post(URL, json=body(result.id, 4.0), headers=keyed)
    assert other.status_code == 422 and "already used" in other.json()["detail"]
    # The same key from another person is another request.
    admin_keyed = {**api.as_(Role.ADMIN), "Idempotency-Key": "retry-after-timeout-0001"}
    assert (await api.client.post(URL, json=body(result.id, 4.0), headers=admin_keyed)).status_code == 201

    trail = (await api.client.get(URL, params={"result_id": result.id}, headers=api.as_(Role.VIEWER))).json()
    assert [r["new_value"] for r in trail["data"]] == [4.0, 3.0, 1.0]
    assert [r["old_value"] for r in trail["data"]] == [3.0, 1.0, 350.0]


async def test_refusals(api: Api) -> None:
    await api.store.put_results([make_result(0)])
    operator = api.as_(Role.OPERATOR)
    missing = await api.client.post(URL, json=body("1-0"), headers=operator)
    assert missing.status_code == 404 and "1-0" in missing.json()["detail"]
    uncatalogued = await api.client.post(URL, json=body(make_result(0).id, sensor="XX-1"), headers=operator)
    assert uncatalogued.status_code == 422 and "catalogue" in uncatalogued.json()["detail"]
    not_in_payload = await api.client.post(URL, json=body(make_result(0).id, sensor="FI-101"), headers=operator)
    assert not_in_payload.status_code == 422 and "no reading of sensor 'FI-101'" in not_in_payload.json()["detail"]
    for bad in ({"value": "NaN"}, {"reason": ""}, {"result_id": "../etc"}):
        response = await api.client.post(URL, json={**body(make_result(0).id), **bad}, headers=operator)
        assert response.status_code == 422
        assert response.json()["errors"], "the invalid fields are listed"
    assert (await api.client.post(URL, json=body(make_result(0).id), headers=api.as_(Role.VIEWER))).status_code == 403


async def test_the_trail_is_listed_by_person_sensor_and_time_and_cannot_be_changed(api: Api) -> None:
    await api.store.put_results([make_result(n, value=350.0) for n in range(3)])
    made = []
    for n, role in enumerate((Role.OPERATOR, Role.ADMIN, Role.OPERATOR)):
        response = await api.client.post(URL, json=body(make_result(n).id, 300.0 + n), headers=api.as_(role))
        made.append(response.json())
    viewer = api.as_(Role.VIEWER)

    async def listed(**params: Any) -> list[float]:
        response = await api.client.get(URL, params=params, headers=viewer)
        assert response.status_code == 200, response.text
        return [record["new_value"] for record in response.json()["data"]]

    assert await listed() == [302.0, 301.0, 300.0]
    assert await listed(modified_by="operator") == [302.0, 300.0]
    assert await listed(sensor="TI-101", modified_by="admin") == [301.0]
    assert await listed(start=made[1]["modified_at"]) == [302.0, 301.0]
    assert await listed(end=made[1]["modified_at"]) == [300.0]
    page = (await api.client.get(URL, params={"limit": 2}, headers=viewer)).json()
    assert page["count"] == 2 and page["continuation"]
    rest = (await api.client.get(URL, params={"limit": 2, "continuation": page["continuation"]}, headers=viewer)).json()
    assert [r["new_value"] for r in rest["data"]] == [300.0] and rest["continuation"] is None

    record_url = f"{URL}/{made[0]['id']}"
    for method in ("PUT", "PATCH", "DELETE"):
        for url in (URL, record_url):
            response = await api.client.request(method, url, headers=api.as_(Role.ADMIN))
            assert response.status_code == 405, (method, url)
    assert (await api.client.get(record_url, headers=viewer)).json() == made[0]
    assert (await api.client.get(f"{URL}/nope", headers=viewer)).status_code == 404
