"""Every route x {no credentials, viewer, operator, admin}: 401 without credentials, 403 for a
role below the route's, anything else for a role at or above it.

The route list comes from the app itself, and must equal the table below: a new route fails this
test until its role is written here (and so cannot escape the check)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from analyzer.settings import Settings
from analyzer.store.protocol import Store
from dashboard_api.deps import ROLE_OF_CHECK
from dashboard_api.settings import DashboardSettings
from schemas.public import Role
from tests.dashboard_api.utils import ROLES, Api, RoleKeys, open_api

PUBLIC = None
#: (method, path) -> the least role that may call it (None: no credentials needed).
EXPECTED: dict[tuple[str, str], Role | None] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    # The dashboard page and how it signs in (its data comes from the routes below, signed).
    ("GET", "/"): PUBLIC,
    ("GET", "/config"): PUBLIC,
    ("GET", "/api/v1/me"): Role.VIEWER,
    ("GET", "/api/v1/live/sensors"): Role.VIEWER,
    ("GET", "/api/v1/live/sensors/{sensor}"): Role.VIEWER,
    ("GET", "/api/v1/live/sensors/{sensor}/readings"): Role.VIEWER,
    ("GET", "/api/v1/live/events"): Role.VIEWER,
    ("GET", "/api/v1/results"): Role.VIEWER,
    ("GET", "/api/v1/results/{result_id}"): Role.VIEWER,
    ("GET", "/api/v1/corrections"): Role.VIEWER,
    ("GET", "/api/v1/corrections/{correction_id}"): Role.VIEWER,
    ("POST", "/api/v1/corrections"): Role.OPERATOR,
    ("GET", "/api/v1/resolved-anomalies"): Role.VIEWER,
    ("GET", "/api/v1/stats/results-per-hour"): Role.VIEWER,
    ("GET", "/api/v1/anomalies"): Role.VIEWER,
    ("GET", "/api/v1/anomalies/{anomaly_id}"): Role.VIEWER,
    ("POST", "/api/v1/anomalies/{anomaly_id}/acknowledge"): Role.OPERATOR,
    ("POST", "/api/v1/anomalies/{anomaly_id}/shelve"): Role.OPERATOR,
    ("POST", "/api/v1/anomalies/{anomaly_id}/unshelve"): Role.OPERATOR,
    ("POST", "/api/v1/anomalies/{anomaly_id}/resolve"): Role.OPERATOR,
    ("POST", "/api/v1/anomalies/{anomaly_id}/reopen"): Role.OPERATOR,
    ("GET", "/api/v1/stats/anomalies-per-hour"): Role.VIEWER,
    ("GET", "/api/v1/stats/anomalies-by-sensor"): Role.VIEWER,
    ("GET", "/api/v1/stats/anomalies-by-severity"): Role.VIEWER,
    ("GET", "/api/v1/stats/response-times"): Role.VIEWER,
    ("GET", "/api/v1/report"): Role.VIEWER,
    ("GET", "/api/v1/maintenance-windows"): Role.VIEWER,
    ("POST", "/api/v1/maintenance-windows"): Role.OPERATOR,
    ("GET", "/api/v1/limits"): Role.VIEWER,
    ("GET", "/api/v1/limits/suggestions"): Role.VIEWER,
    ("POST", "/api/v1/limits/{sensor}"): Role.ADMIN,
}

PATH_VALUES = {
    "sensor": "TI-101",
    "result_id": "1763884800000-0",
    "correction_id": "no-such-record",
    "anomaly_id": "high:TI-101@1763884800000-0",
}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/corrections"): {
        "result_id": "1763884800000-0",
        "sensor": "TI-101",
        "value": 349.0,
        "reason": "calibration offset",
    },
    ("POST", "/api/v1/anomalies/{anomaly_id}/shelve"): {"minutes": 30, "reason": "valve work"},
    ("POST", "/api/v1/anomalies/{anomaly_id}/resolve"): {"note": "fixed", "root_cause": "equipment_failure"},
    ("POST", "/api/v1/anomalies/{anomaly_id}/reopen"): {"note": "came back"},
    ("POST", "/api/v1/maintenance-windows"): {
        "sensors": ["TI-101"],
        "start": "2026-11-23T08:00:00Z",
        "end": "2126-11-23T12:00:00Z",
        "reason": "burner maintenance",
    },
    ("POST", "/api/v1/limits/{sensor}"): {"high": 400.0},
}


def routes_of(api: Api) -> list[Any]:
    """Every route of the app, included routers flattened (FastAPI >= 0.13x wraps them)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI keeps a flat list
        return list(api.app.routes)
    return list(iter_route_contexts(api.app.routes))


def app_routes(api: Api) -> set[tuple[str, str]]:
    found = set()
    for route in routes_of(api):
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, route.path))
    return found


@pytest.fixture
async def matrix_api(
    settings: Settings, dashboard_config: DashboardSettings, sqlite_store: Store, role_keys: RoleKeys
) -> AsyncIterator[Api]:
    # Event streams end quickly here, so an allowed caller's stream completes.
    config = dashboard_config.model_copy(update={"sse_max_duration_s": 0.2, "sse_keepalive_s": 0.1})
    async with open_api(settings, config, sqlite_store, role_keys) as opened:
        yield opened


async def test_every_route_is_in_the_matrix(matrix_api: Api) -> None:
    assert app_routes(matrix_api) == set(EXPECTED)


async def test_the_declared_checks_match_the_matrix(matrix_api: Api) -> None:
    """The role each API route's dependency demands is the one in the table."""
    for route in routes_of(matrix_api):
        dependant = getattr(route, "dependant", None)
        if dependant is None:  # the docs' own routes
            continue
        checks = {ROLE_OF_CHECK[d.call] for d in _walk(dependant) if d.call in ROLE_OF_CHECK}
        for method in route.methods:
            expected = EXPECTED[(method, route.path)]
            assert checks == ({expected} if expected else set()), (method, route.path, checks)


def _walk(dependant: Any) -> list[Any]:
    found = []
    for sub in dependant.dependencies:
        found.append(sub)
        found.extend(_walk(sub))
    return found


async def test_the_matrix(matrix_api: Api) -> None:
    outcomes: dict[tuple[str, str, str], int] = {}
    for method, path in sorted(EXPECTED):
        url = path.format(**PATH_VALUES)
        for role in ROLES:
            response = await matrix_api.client.request(
                method, url, headers=matrix_api.as_(role), json=BODIES.get((method, path))
            )
            needed = EXPECTED[(method, path)]
            who = role.value if role else "none"
            outcomes[(method, path, who)] = response.status_code
            if needed is None:
                assert response.status_code == 200, (method, path, who, response.text[:200])
            elif role is None:
                assert response.status_code == 401, (method, path, who)
                assert "ApiKey" in response.headers["WWW-Authenticate"]
                assert "Bearer" in response.headers["WWW-Authenticate"]
                assert response.json()["detail"]
            elif not role.allows(needed):
                assert response.status_code == 403, (method, path, who)
                assert needed.value in response.json()["detail"]
            else:
                assert response.status_code not in (401, 403), (method, path, who, response.text[:200])
                assert response.status_code < 500, (method, path, who, response.text[:200])
    assert len(outcomes) == len(EXPECTED) * len(ROLES) == 148


async def test_an_invalid_key_is_401_not_403(api: Api) -> None:
    response = await api.client.get("/api/v1/me", headers={"X-API-Key": "sak_not-a-key"})
    assert response.status_code == 401
    assert response.json() == {"detail": "the API key is not valid", "errors": None}
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="sensor-analyzer"')


async def test_a_bearer_token_without_entra_configured_is_401(api: Api) -> None:
    response = await api.client.get("/api/v1/me", headers={"Authorization": "Bearer abc.def.ghi"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_me_names_the_key(api: Api) -> None:
    response = await api.client.get("/api/v1/me", headers=api.as_(Role.OPERATOR))
    assert response.json() == {"name": "operator", "role": "operator", "via": "api_key"}
