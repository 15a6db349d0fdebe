"""Redis or the store away: every route answers JSON with the reason (503), never a 500, and the
API starts anyway; liveness stays up, readiness says what is missing."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from analyzer.devtools.local_redis import free_port
from analyzer.settings import Settings
from dashboard_api.settings import DashboardSettings
from schemas.public import Role
from tests.dashboard_api.test_auth_matrix import BODIES, EXPECTED, PATH_VALUES
from tests.dashboard_api.utils import RoleKeys, open_api

NEEDS_REDIS = {
    "/api/v1/live/sensors",
    "/api/v1/live/sensors/{sensor}",
    "/api/v1/live/sensors/{sensor}/readings",
    "/api/v1/live/events",
}
NEEDS_STORE = {
    "/api/v1/results",
    "/api/v1/results/{result_id}",
    "/api/v1/corrections",
    "/api/v1/corrections/{correction_id}",
    "/api/v1/resolved-anomalies",
    "/api/v1/stats/results-per-hour",
}


async def test_redis_on_a_dead_port(
    settings: Settings, dashboard_config: DashboardSettings, role_keys: RoleKeys, tmp_path: Path
) -> None:
    dead = settings.model_copy(
        update={
            "redis_connection_string": SecretStr(f"redis://127.0.0.1:{free_port()}/0"),
            "sqlite_path": tmp_path / "a.db",
        }
    )
    async with open_api(dead, dashboard_config, None, role_keys) as api:
        assert (await api.client.get("/healthz")).status_code == 200
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable" and ready.json()["checks"]["store"] == "ok"
        assert "ConnectionError" in ready.json()["checks"]["redis"]
        for method, path in EXPECTED:
            if path not in NEEDS_REDIS:
                continue
            response = await api.client.request(
                method, path.format(**PATH_VALUES), headers=api.as_(Role.ADMIN), json=BODIES.get((method, path))
            )
            assert response.status_code == 503, (path, response.text)
            assert response.json()["detail"].startswith("Redis is unavailable")
        # the store's routes do not need Redis
        assert (await api.client.get("/api/v1/results", headers=api.as_(Role.VIEWER))).status_code == 200


async def test_the_store_cannot_be_opened(
    settings: Settings, dashboard_config: DashboardSettings, role_keys: RoleKeys, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    broken = settings.model_copy(update={"sqlite_path": blocker / "analyzer.db"})
    async with open_api(broken, dashboard_config, None, role_keys) as api:
        ready = await api.client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] == "ok"
        assert "StoreUnavailable" in ready.json()["checks"]["store"]
        for method, path in EXPECTED:
            if path not in NEEDS_STORE:
                continue
            response = await api.client.request(
                method, path.format(**PATH_VALUES), headers=api.as_(Role.ADMIN), json=BODIES.get((method, path))
            )
            assert response.status_code == 503, (path, response.text)
            assert response.json()["detail"].startswith("the store is unavailable")
            assert "a-file" in response.json()["detail"], "the reason is named"
        assert (await api.client.get("/api/v1/live/sensors", headers=api.as_(Role.VIEWER))).status_code == 200


async def test_the_store_going_away_after_start(
    settings: Settings, dashboard_config: DashboardSettings, role_keys: RoleKeys, tmp_path: Path
) -> None:
    async with open_api(settings, dashboard_config, None, role_keys) as api:
        assert (await api.client.get("/api/v1/results", headers=api.as_(Role.VIEWER))).status_code == 200
        await api.store.close()
        response = await api.client.get("/api/v1/results", headers=api.as_(Role.VIEWER))
        assert response.status_code == 503 and "closed" in response.json()["detail"]
        assert (await api.client.get("/readyz")).status_code == 503
