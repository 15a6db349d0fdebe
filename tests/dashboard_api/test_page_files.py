"""The dashboard page's files: served without credentials, with their cache policy and security
headers; ``/config`` tells the page how to sign in and carries no secret."""

from __future__ import annotations

import pytest

from analyzer.settings import Settings
from analyzer.store.protocol import Store
from dashboard_api.page import VENDOR_DIR
from dashboard_api.settings import DashboardSettings
from tests.dashboard_api.utils import Api, RoleKeys, open_api

pytestmark = pytest.mark.redis


async def test_the_page_is_served_with_its_policy(api: Api) -> None:
    response = await api.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert 'src="/static/js/main.js"' in response.text
    # The page never asks for a key in its address: the sign-in form posts nowhere.
    assert 'type="password"' in response.text


async def test_modules_revalidate_and_answer_304(api: Api) -> None:
    first = await api.client.get("/static/js/main.js")
    assert first.status_code == 200
    assert first.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert first.headers["cache-control"] == "no-cache"
    assert first.headers["x-content-type-options"] == "nosniff"
    again = await api.client.get("/static/js/main.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.skipif(not (VENDOR_DIR / "uPlot.esm.js").exists(), reason="`make web` has not copied uPlot yet")
async def test_vendored_libraries_are_cached_for_a_day(api: Api) -> None:
    response = await api.client.get("/static/vendor/uPlot.esm.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert "export" in response.text  # the ES module build, loaded without a bundler


async def test_a_missing_file_is_404_and_paths_stay_inside(api: Api) -> None:
    assert (await api.client.get("/static/js/nothing.js")).status_code == 404
    assert (await api.client.get("/static/../settings.py")).status_code == 404


async def test_config_without_entra_offers_api_keys_only(api: Api) -> None:
    response = await api.client.get("/config")
    assert response.status_code == 200
    assert response.json() == {"environment": "development", "api_keys": True, "entra": None}


async def test_config_with_entra_names_the_page_registration(
    settings: Settings, dashboard_config: DashboardSettings, sqlite_store: Store, role_keys: RoleKeys
) -> None:
    config = dashboard_config.model_copy(
        update={
            "entra_tenant_id": "11111111-2222-3333-4444-555555555555",
            "entra_audiences": ["api://dashboard-api"],
            "entra_spa_client_id": "66666666-7777-8888-9999-000000000000",
        }
    )
    async with open_api(settings, config, sqlite_store, role_keys) as api:
        body = (await api.client.get("/config")).json()
    assert body["entra"] == {
        "client_id": "66666666-7777-8888-9999-000000000000",
        "authority": "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555",
        "scopes": ["api://dashboard-api/.default"],
    }
