"""Entra ID authentication to Azure Managed Redis (or Azure Cache for Redis) for the analyzer.

With ``REDIS_ENTRA_AUTH=true`` the analyzer's identity (``DefaultAzureCredential``: its managed
identity in Azure) gets an access token for ``https://redis.azure.com/.default``; Redis takes the
identity's object id as the user name and the token as the password, so no access key is needed
and Terraform can switch key authentication off.

Tokens last about an hour. redis-py asks for credentials whenever it opens a connection; the
provider hands out a cached token until ``refresh_margin_s`` before it expires, then fetches a new
one. When the service closes a connection whose token expired, redis-py reconnects on the next
command and authenticates with a fresh token.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Protocol

import orjson
from azure.core.credentials import AccessToken
from redis.credentials import CredentialProvider

REDIS_SCOPE = "https://redis.azure.com/.default"


class AsyncTokenSource(Protocol):
    """What the provider needs of an ``azure.identity.aio`` credential."""

    async def get_token(self, *scopes: str) -> AccessToken: ...

    async def close(self) -> None: ...


def object_id_of(token: str) -> str:
    """The ``oid`` claim of an Entra access token: the identity's object id, Redis's user name.

    The token is not verified here: it comes from Entra through azure-identity, Redis verifies it,
    and only our own object id is read from it.

    >>> claims = base64.urlsafe_b64encode(orjson.dumps({"oid": "0000-11"})).decode().rstrip("=")
    >>> object_id_of(f"header.{claims}.signature")
    '0000-11'
    """
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, orjson.JSONDecodeError) as error:
        raise ValueError("the Entra access token for Redis is not a JWT") from error
    object_id = claims.get("oid") if isinstance(claims, dict) else None
    if not isinstance(object_id, str) or not object_id:
        raise ValueError("the Entra access token for Redis has no 'oid' claim (the identity's object id)")
    return object_id


class EntraIdCredentialProvider(CredentialProvider):
    """Hands redis-py ``(object id, access token)``, refreshing the token before it expires."""

    def __init__(
        self,
        credential: AsyncTokenSource,
        *,
        scope: str = REDIS_SCOPE,
        refresh_margin_s: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credential = credential
        self.scope = scope
        self.refresh_margin_s = refresh_margin_s
        self.clock = clock
        self._token: AccessToken | None = None
        self._user = ""
        self._lock = asyncio.Lock()

    async def get_credentials_async(self) -> tuple[str, str]:
        async with self._lock:
            if self._token is None or self._token.expires_on - self.refresh_margin_s <= self.clock():
                token = await self.credential.get_token(self.scope)
                self._user = object_id_of(token.token)
                self._token = token
            return self._user, self._token.token

    def get_credentials(self) -> tuple[str, str]:
        raise RuntimeError("EntraIdCredentialProvider serves the asyncio Redis client only")

    async def close(self) -> None:
        await self.credential.close()
