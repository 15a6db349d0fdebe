"""Local API keys: random 256-bit keys, configured as their SHA-256 with a name and a role.

A fast hash is enough here because the keys are random and long (no dictionary to try), unlike
passwords; the plain key is shown once when it is made and is never stored or logged.

>>> key, spec = issue_key("alice", Role.OPERATOR)
>>> key.startswith(KEY_PREFIX), spec.sha256 == hash_key(key), len(spec.sha256)
(True, True, 64)
>>> ApiKeyRing([spec]).authenticate(key)
Principal(name='alice', role=<Role.OPERATOR: 'operator'>, via='api_key')
>>> ApiKeyRing([spec]).authenticate(key + "x") is None
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from dashboard_api.identity.principal import Principal
from dashboard_api.settings import ApiKeySpec
from schemas.public import Role

#: Makes a leaked key recognisable to secret scanners.
KEY_PREFIX = "sak_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def issue_key(name: str, role: Role) -> tuple[str, ApiKeySpec]:
    """A new key and the spec to configure (``DASHBOARD_API_KEYS``); show the key once."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, ApiKeySpec(name=name, role=role, sha256=hash_key(key))


class ApiKeyRing:
    """The configured keys; compares hashes in constant time and always against every key."""

    def __init__(self, specs: Sequence[ApiKeySpec]) -> None:
        self._specs = tuple(specs)

    def __bool__(self) -> bool:
        return bool(self._specs)

    def authenticate(self, presented: str) -> Principal | None:
        digest = hash_key(presented)
        found: ApiKeySpec | None = None
        for spec in self._specs:
            if hmac.compare_digest(spec.sha256, digest):
                found = spec
        return Principal(name=found.name, role=found.role, via="api_key") if found else None
