from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.public import PrincipalPublic, Role


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. ``role`` is ``None`` for a valid Entra ID token without any of the
    dashboard's app roles: known, but allowed nothing (403, not 401)."""

    name: str
    role: Role | None
    via: Literal["api_key", "entra_id"]

    def public(self) -> PrincipalPublic:
        assert self.role is not None, "only callers with a role reach a route"
        return PrincipalPublic(name=self.name, role=self.role, via=self.via)
