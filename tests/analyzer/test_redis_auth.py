"""Entra ID authentication to Redis: token refresh, and a real Redis that accepts only the token."""

from __future__ import annotations

import base64
import uuid

import orjson
import pytest
import redis
from azure.core.credentials import AccessToken
from pydantic import SecretStr, ValidationError
from redis.exceptions import AuthenticationError

from analyzer.runtime.redis_auth import REDIS_SCOPE, EntraIdCredentialProvider, object_id_of
from analyzer.runtime.services import close_redis, connect_redis
from analyzer.settings import Settings


def jwt(object_id: str, nonce: str) -> str:
    claims = base64.urlsafe_b64encode(orjson.dumps({"oid": object_id, "n": nonce})).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{claims}.sig"


class FakeEntra:
    """Issues a new token on each request, valid for an hour from the fake clock."""

    def __init__(self, object_id: str, clock: list[float]) -> None:
        self.object_id, self.clock = object_id, clock
        self.issued: list[str] = []
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str) -> AccessToken:
        self.scopes.append(scopes)
        token = jwt(self.object_id, str(len(self.issued)))
        self.issued.append(token)
        return AccessToken(token, int(self.clock[0]) + 3600)

    async def close(self) -> None:
        self.closed = True


async def test_the_token_is_cached_until_shortly_before_it_expires() -> None:
    clock = [1_000_000.0]
    entra = FakeEntra("oid-1", clock)
    provider = EntraIdCredentialProvider(entra, refresh_margin_s=300, clock=lambda: clock[0])
    first = await provider.get_credentials_async()
    clock[0] += 3000  # 10 min before expiry: still good
    assert await provider.get_credentials_async() == first == ("oid-1", entra.issued[0])
    clock[0] += 301  # inside the margin: refreshed
    assert await provider.get_credentials_async() == ("oid-1", entra.issued[1])
    assert entra.scopes == [(REDIS_SCOPE,), (REDIS_SCOPE,)]


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", jwt("", "x"), "a." + base64.b64encode(b"[1]").decode() + ".c"])
def test_tokens_without_an_object_id_are_refused(token: str) -> None:
    with pytest.raises(ValueError, match="Entra access token"):
        object_id_of(token)


def test_entra_auth_needs_a_host_and_no_password() -> None:
    with pytest.raises(ValidationError, match="needs the host"):
        Settings(_env_file=None, redis_entra_auth=True)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="exclude each other"):
        Settings(_env_file=None, redis_entra_auth=True, redis_connection_string=SecretStr("h:6380,password=p,ssl=True"))  # type: ignore[call-arg]


async def test_a_real_redis_accepts_the_identity_and_its_rotated_token(redis_url: str, stream_key: str) -> None:
    """Redis as Azure configures it for Entra ID: the user is the object id, the password the token."""
    object_id = f"entra-{uuid.uuid4().hex[:8]}"
    clock = [1_000_000.0]
    entra = FakeEntra(object_id, clock)
    admin = redis.Redis.from_url(redis_url)
    settings = Settings(_env_file=None, redis_entra_auth=True, redis_connection_string=SecretStr(redis_url))  # type: ignore[call-arg]
    client = connect_redis(settings, token_source=entra)
    provider = client.connection_pool.connection_kwargs["credential_provider"]
    provider.clock = lambda: clock[0]
    try:
        await provider.get_credentials_async()  # the first token, to register it as the password
        admin.acl_setuser(
            object_id, enabled=True, passwords=[f"+{entra.issued[0]}"], keys=[f"{stream_key}*"], commands=["+@all"]
        )
        assert await client.xadd(stream_key, {"payload": "{}"})
        assert await client.acl_whoami() == object_id

        clock[0] += 3400  # the token nears expiry: the next connection authenticates with a new one
        await provider.get_credentials_async()
        admin.acl_setuser(object_id, enabled=True, passwords=[f"+{entra.issued[1]}", f"-{entra.issued[0]}"])
        await client.connection_pool.disconnect()
        assert await client.xlen(stream_key) == 1

        admin.acl_setuser(object_id, passwords=[f"-{entra.issued[1]}"])  # the service revokes it
        await client.connection_pool.disconnect()
        with pytest.raises(AuthenticationError):
            await client.ping()
    finally:
        admin.acl_deluser(object_id)
        admin.close()
        await close_redis(client)
    assert entra.closed
