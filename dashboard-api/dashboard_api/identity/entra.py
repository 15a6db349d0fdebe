"""Entra ID bearer tokens: signature, issuer, audience and expiry checked against the tenant's
published signing keys (JWKS), with PyJWT doing the cryptography.

The key set is cached for ``max_age_s`` and fetched again at once when a token names a key id the
cache does not know (Entra rolls its keys). If the fresh set does not know it either, further
unknown ids are refused from the cache for ``min_refresh_s``, so tokens with made-up key ids cannot
turn every request into a fetch; failed fetches are retried no more often either. If the tenant
cannot be reached, cached keys keep working; with none cached the caller gets 503, not 401 (the
token may be fine).
Roles come from the token's ``roles`` claim (the app roles assigned to the user or application).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx
import jwt

from dashboard_api.identity.principal import Principal
from schemas.public import Role

log = logging.getLogger(__name__)

#: Entra ID signs access tokens with RS256; anything else (``none``, HMAC) is refused.
ALGORITHMS = ("RS256",)
#: Claims that name the caller, most readable first (users, then applications).
_NAME_CLAIMS = ("preferred_username", "upn", "unique_name", "email", "oid", "sub")


class TokenRejected(Exception):
    """The bearer token is not acceptable; the message says why (safe to return to the caller)."""


class SigningKeysUnavailable(Exception):
    """The tenant's signing keys could not be fetched and none are cached."""


class SigningKeys:
    """The tenant's JWKS, cached and refreshed on an unknown key id (rate-limited)."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        max_age_s: float,
        min_refresh_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._http = http
        self._max_age_s = max_age_s
        self._min_refresh_s = min_refresh_s
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        #: The last failed fetch, and the last refresh that still did not know a token's key id:
        #: neither is tried again within ``min_refresh_s``.
        self._failed_at: float | None = None
        self._missed_at: float | None = None
        self._lock = asyncio.Lock()
        #: Fetches made (tests and logs read it).
        self.fetches = 0

    async def get(self, kid: str) -> jwt.PyJWK:
        now = self._clock()
        if self._fetched_at is None or now - self._fetched_at > self._max_age_s:
            if self._failed_at is None or now - self._failed_at >= self._min_refresh_s:
                await self._refresh(now)
        elif kid not in self._keys and (self._missed_at is None or now - self._missed_at >= self._min_refresh_s):
            await self._refresh(now)
            if kid not in self._keys:
                self._missed_at = self._clock()  # unknown even to the tenant: refuse such ids from the cache a while
        if not self._keys:
            raise SigningKeysUnavailable(f"no signing keys: the last fetch from {self.url} failed")
        key = self._keys.get(kid)
        if key is None:
            raise TokenRejected(f"token signed with an unknown key id {kid!r}")
        return key

    async def _refresh(self, asked_at: float) -> None:
        async with self._lock:
            if self._attempted_at is not None and self._attempted_at >= asked_at:
                return  # another request refreshed while this one waited
            self._attempted_at = self._clock()
            self.fetches += 1
            try:
                response = await self._http.get(self.url, timeout=10)
                response.raise_for_status()
                key_set = jwt.PyJWKSet.from_dict(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWTError) as error:
                self._failed_at = self._attempted_at
                if self._keys:
                    log.warning("could not refresh signing keys from %s (%s); keeping the cached ones", self.url, error)
                    return
                raise SigningKeysUnavailable(f"cannot fetch the tenant's signing keys: {error}") from error
            self._keys = {key.key_id: key for key in key_set.keys if key.key_id}
            self._fetched_at = self._attempted_at
            self._failed_at = None


class EntraVerifier:
    """Checks bearer tokens and maps the ``roles`` claim to a dashboard role (the highest wins)."""

    def __init__(
        self,
        keys: SigningKeys,
        *,
        audiences: Sequence[str],
        issuers: Sequence[str],
        roles: Mapping[str, Role],
        leeway_s: float = 60,
    ) -> None:
        self._keys = keys
        self._audiences = list(audiences)
        self._issuers = list(issuers)
        self._roles = dict(roles)
        self._leeway_s = leeway_s

    async def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenRejected("the bearer token is not a JWT") from None
        if header.get("alg") not in ALGORITHMS:
            raise TokenRejected(f"tokens signed with {header.get('alg')!r} are not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenRejected("the token names no signing key (kid)")
        key = await self._keys.get(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self._audiences,
                issuer=self._issuers,
                leeway=self._leeway_s,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("the token is not for this API (audience)") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("the token was not issued by the configured tenant") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("the token's signature does not verify") from None
        except jwt.PyJWTError as error:
            raise TokenRejected(f"the token is not valid: {error}") from None
        return Principal(name=_name(claims), role=self._role(claims), via="entra_id")

    def _role(self, claims: Mapping[str, Any]) -> Role | None:
        values = claims.get("roles")
        if not isinstance(values, list):
            return None
        granted = [self._roles[value] for value in values if isinstance(value, str) and value in self._roles]
        return max(granted, key=lambda role: role.rank) if granted else None


def _name(claims: Mapping[str, Any]) -> str:
    for claim in _NAME_CLAIMS:
        value = claims.get(claim)
        if isinstance(value, str) and value:
            return value
    raise TokenRejected("the token names nobody (no preferred_username, upn, oid or sub)")
