"""The app as a whole: importing it loads no tier, CORS is limited to configured origins, settings
refuse plain keys without echoing them, and the OpenAPI document is complete."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from analyzer.settings import Settings
from analyzer.store.protocol import Store
from dashboard_api.settings import DashboardSettings
from schemas.public import Role
from tests.dashboard_api.utils import Api, RoleKeys, open_api


def test_importing_the_app_loads_no_tier_and_no_scikit_learn() -> None:
    probe = (
        "import sys, json\n"
        "import dashboard_api, dashboard_api.main\n"
        "app = dashboard_api.main.create_app()\n"
        "print(json.dumps({'sklearn': 'sklearn' in sys.modules,"
        " 'tiers': sorted(m for m in sys.modules if m.startswith('analyzer.tiers')),"
        " 'routes': len(app.openapi()['paths'])}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == {"sklearn": False, "tiers": [], "routes": 29}


def test_plain_keys_are_refused_without_being_echoed() -> None:
    plain = "sak_this-is-a-plain-key-pasted-by-mistake"
    with pytest.raises(ValidationError) as refused:
        DashboardSettings(_env_file=None, api_keys=[{"name": "alice", "role": "operator", "sha256": plain}])  # type: ignore[call-arg]
    assert "not the key itself" in str(refused.value)
    assert plain not in str(refused.value)


def test_outside_development_someone_must_be_able_to_sign_in() -> None:
    with pytest.raises(ValidationError, match="needs DASHBOARD_ENTRA_TENANT_ID or DASHBOARD_API_KEYS"):
        DashboardSettings(_env_file=None, environment="prod")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="needs DASHBOARD_ENTRA_AUDIENCES"):
        DashboardSettings(_env_file=None, entra_tenant_id="t")  # type: ignore[call-arg]


@pytest.fixture
async def cors_api(
    settings: Settings, dashboard_config: DashboardSettings, sqlite_store: Store, role_keys: RoleKeys
) -> AsyncIterator[Api]:
    config = dashboard_config.model_copy(update={"cors_origins": ["https://ops.plant.example"]})
    async with open_api(settings, config, sqlite_store, role_keys) as opened:
        yield opened


async def test_cors_is_limited_to_configured_origins(cors_api: Api) -> None:
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key,if-match"}
    allowed = await cors_api.client.options(
        "/api/v1/corrections", headers={"Origin": "https://ops.plant.example", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://ops.plant.example"
    refused = await cors_api.client.options(
        "/api/v1/corrections", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers
    simple = await cors_api.client.get(
        "/api/v1/me", headers={"Origin": "https://ops.plant.example", **cors_api.as_(Role.VIEWER)}
    )
    assert simple.headers["access-control-allow-origin"] == "https://ops.plant.example"
    assert "ETag" in simple.headers["access-control-expose-headers"]


async def test_no_cors_headers_without_configured_origins(api: Api) -> None:
    response = await api.client.get(
        "/api/v1/me", headers={"Origin": "https://ops.plant.example", **api.as_(Role.VIEWER)}
    )
    assert "access-control-allow-origin" not in response.headers


async def test_the_openapi_document_is_complete(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation.get("description") or operation.get("summary"), where
            responses = operation["responses"]
            success = next(code for code in responses if code.startswith("2"))
            assert responses[success].get("content"), where
            if path.startswith("/api/"):
                for code in ("401", "403", "503"):
                    assert responses[code]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorPublic"), (
                        where,
                        code,
                    )
                assert operation.get("security"), where
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in responses and "HTTPValidationError" not in json.dumps(responses["422"]), where
    schemas = spec["components"]["schemas"]
    for name in ("ResultPublic", "ModificationCreate", "ModificationPublic", "SensorLivePublic", "ErrorPublic"):
        assert schemas[name].get("examples"), name
