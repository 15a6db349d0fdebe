"""Entra ID bearer tokens, checked against a key set (JWKS) that the test serves over real HTTP:
signature, issuer, audience, expiry, roles, unknown key ids (rotation) and the cache's limits."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from analyzer.settings import Settings
from analyzer.store.protocol import Store
from dashboard_api.settings import DashboardSettings
from tests.dashboard_api.utils import Api, RoleKeys, open_api, served

TENANT = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "66666666-7777-8888-9999-000000000000"
AUDIENCE = f"api://{CLIENT_ID}"
ISSUER = f"https://login.microsoftonline.com/{TENANT}/v2.0"


@dataclass
class Tenant:
    """A tenant's signing keys: the private halves sign tokens, the public ones are served."""

    url: str = ""
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    hits: int = 0
    down: bool = False

    def add_key(self) -> str:
        kid = uuid.uuid4().hex[:16]
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return kid

    def jwks(self) -> dict[str, Any]:
        published = []
        for kid, key in self.keys.items():
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            published.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": published}

    def token(self, kid: str, *, key: rsa.RSAPrivateKey | None = None, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + 600,
            "oid": "0f0f0f0f-0000-0000-0000-000000000001",
            "preferred_username": "carol@plant.example",
            "roles": ["Dashboard.Operator"],
            **overrides,
        }
        claims = {name: value for name, value in claims.items() if value is not None}
        return jwt.encode(claims, key or self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
async def tenant() -> AsyncIterator[Tenant]:
    state = Tenant()
    state.add_key()
    keys_app = FastAPI()

    @keys_app.get("/discovery/v2.0/keys")
    async def keys() -> JSONResponse:
        state.hits += 1
        if state.down:
            return JSONResponse({"error": "unavailable"}, status_code=503)
        return JSONResponse(state.jwks())

    async with served(keys_app) as base:
        state.url = f"{base}/discovery/v2.0/keys"
        yield state


@pytest.fixture
async def entra_api(settings: Settings, sqlite_store: Store, role_keys: RoleKeys, tenant: Tenant) -> AsyncIterator[Api]:
    config = DashboardSettings(
        _env_file=None,  # type: ignore[call-arg]
        entra_tenant_id=TENANT,
        entra_audiences=[AUDIENCE, CLIENT_ID],
        entra_jwks_url=tenant.url,
        entra_jwks_min_refresh_s=30,
        api_keys=role_keys.specs,
        maintenance_interval_s=0,
    )
    async with open_api(settings, config, sqlite_store, role_keys) as opened:
        yield opened


async def me(api: Api, token: str) -> Any:
    return await api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})


async def test_a_valid_token_gives_the_highest_role_named(entra_api: Api, tenant: Tenant) -> None:
    kid = next(iter(tenant.keys))
    response = await me(entra_api, tenant.token(kid))
    assert response.status_code == 200, response.text
    assert response.json() == {"name": "carol@plant.example", "role": "operator", "via": "entra_id"}

    both = tenant.token(kid, roles=["Dashboard.Viewer", "Dashboard.Admin"])
    assert (await me(entra_api, both)).json()["role"] == "admin"
    app_only = tenant.token(kid, preferred_username=None, roles=["Dashboard.Viewer"])
    assert (await me(entra_api, app_only)).json()["name"] == "0f0f0f0f-0000-0000-0000-000000000001"
    # The v1.0 issuer of the same tenant and the bare client id as audience are accepted too.
    v1 = tenant.token(kid, iss=f"https://sts.windows.net/{TENANT}/", aud=CLIENT_ID)
    assert (await me(entra_api, v1)).status_code == 200
    assert tenant.hits == 1, "the key set is fetched once and cached"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"aud": "api://someone-else"}, "audience"),
        ({"iss": "https://login.microsoftonline.com/another-tenant/v2.0"}, "tenant"),
        ({"exp": None}, "exp"),
    ],
)
async def test_tokens_that_fail_a_check_are_401(entra_api: Api, tenant: Tenant, overrides: Any, reason: str) -> None:
    response = await me(entra_api, tenant.token(next(iter(tenant.keys)), **overrides))
    assert response.status_code == 401
    assert reason in response.json()["detail"]
    assert 'Bearer realm="sensor-analyzer", error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_forged_and_malformed_tokens_are_401(entra_api: Api, tenant: Tenant) -> None:
    kid = next(iter(tenant.keys))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = tenant.token(kid, key=stranger)
    assert "signature" in (await me(entra_api, forged)).json()["detail"]
    hmac_token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE}, "secret-key-of-32-bytes-or-more!!", algorithm="HS256")
    assert "HS256" in (await me(entra_api, hmac_token)).json()["detail"]
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE}, None, algorithm="none")
    assert (await me(entra_api, unsigned)).status_code == 401
    assert (await me(entra_api, "not-a-jwt")).status_code == 401


async def test_a_token_without_a_dashboard_role_is_403(entra_api: Api, tenant: Tenant) -> None:
    kid = next(iter(tenant.keys))
    for roles in ([], ["Some.Other.Role"], None):
        response = await me(entra_api, tenant.token(kid, roles=roles))
        assert response.status_code == 403, roles
        assert "has none of this API's roles" in response.json()["detail"]


async def test_a_rotated_key_is_fetched_once_and_made_up_ones_do_not_flood_the_tenant(
    entra_api: Api, tenant: Tenant
) -> None:
    old = next(iter(tenant.keys))
    assert (await me(entra_api, tenant.token(old))).status_code == 200
    assert tenant.hits == 1

    new = tenant.add_key()  # Entra publishes a new key and starts signing with it
    assert (await me(entra_api, tenant.token(new))).status_code == 200
    assert tenant.hits == 2, "an unknown key id refreshes the cache at once"

    ghost = "made-up-key-id"
    ghost_token = jwt.encode(
        {"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "iat": int(time.time())},
        tenant.keys[new],
        algorithm="RS256",
        headers={"kid": ghost},
    )
    for _ in range(5):
        response = await me(entra_api, ghost_token)
        assert response.status_code == 401 and "unknown key id" in response.json()["detail"]
    assert tenant.hits == 3, "one fetch for the first made-up key id, then refused from the cache"
    assert (await me(entra_api, tenant.token(old))).status_code == 200


async def test_the_tenant_unreachable_without_cached_keys_is_503(entra_api: Api, tenant: Tenant) -> None:
    tenant.down = True
    response = await me(entra_api, tenant.token(next(iter(tenant.keys))))
    assert response.status_code == 503
    assert "signing keys" in response.json()["detail"]


async def test_cached_keys_outlive_an_unreachable_tenant(entra_api: Api, tenant: Tenant) -> None:
    kid = next(iter(tenant.keys))
    assert (await me(entra_api, tenant.token(kid))).status_code == 200
    tenant.down = True
    state = entra_api.app.state.dashboard
    assert state.entra is not None
    state.entra._keys._max_age_s = 0  # the cache is due for a refresh, which fails
    assert (await me(entra_api, tenant.token(kid))).status_code == 200
    assert tenant.hits >= 2


async def test_api_keys_still_work_beside_entra(entra_api: Api) -> None:
    from schemas.public import Role

    assert (await entra_api.client.get("/api/v1/me", headers=entra_api.as_(Role.VIEWER))).status_code == 200
