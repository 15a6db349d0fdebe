"""The dashboard API's own settings (``DASHBOARD_*``); Redis, the store and the catalogue come from
the analyzer's :class:`~analyzer.settings.Settings`, so both processes read the same data.

API keys are configured hashed, never in plain text::

    DASHBOARD_API_KEYS='[{"name": "alice", "role": "operator", "sha256": "<64 hex digits>"}]'

``sensor-analyzer dashboard-key --name alice --role operator`` makes a key and prints the line.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.public import Role

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ApiKeySpec(BaseModel):
    """One API key: who it belongs to, what it may do, and the SHA-256 of the key (hex)."""

    # A plain key pasted into the hash field must not be echoed into logs by a validation error.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@\-]+$")
    role: Role
    sha256: str

    @field_validator("sha256")
    @classmethod
    def _is_a_hash(cls, value: str) -> str:
        value = value.strip().lower()
        if not _SHA256.match(value):
            raise ValueError(
                "sha256 must be the 64 hex digits of the key's SHA-256, not the key itself "
                "(make one with `sensor-analyzer dashboard-key`)"
            )
        return value


#: Default mapping of Entra ID app-role values (the token's ``roles`` claim) to roles.
DEFAULT_ENTRA_ROLES: dict[str, Role] = {
    "Dashboard.Viewer": Role.VIEWER,
    "Dashboard.Operator": Role.OPERATOR,
    "Dashboard.Admin": Role.ADMIN,
}


class DashboardSettings(BaseSettings):
    """Identity, CORS, live-view and retention settings of the dashboard API."""

    model_config = SettingsConfigDict(
        env_prefix="DASHBOARD_", env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    environment: str = Field("development", validation_alias="ENVIRONMENT")

    # Identity: local API keys and/or Entra ID bearer tokens.
    api_keys: list[ApiKeySpec] = Field(default_factory=list)
    entra_tenant_id: str | None = None
    #: Accepted ``aud`` values, e.g. ``["api://<client id>", "<client id>"]``.
    entra_audiences: list[str] = Field(default_factory=list)
    #: Accepted ``iss`` values; default the tenant's v2.0 and v1.0 issuers.
    entra_issuers: list[str] = Field(default_factory=list)
    #: The tenant's published signing keys; default the tenant's v2.0 JWKS on login.microsoftonline.com.
    entra_jwks_url: str | None = None
    entra_roles: dict[str, Role] = Field(default_factory=lambda: dict(DEFAULT_ENTRA_ROLES))
    #: Signing keys are fetched again after this long, or at once for an unknown key id ...
    entra_jwks_max_age_s: float = Field(3600, gt=0)
    #: ... but not more often than this (tokens with made-up key ids must not flood the tenant).
    entra_jwks_min_refresh_s: float = Field(30, ge=0)
    entra_leeway_s: float = Field(60, ge=0, le=600)
    #: The dashboard page's own app registration (a single-page app) that signs operators in with
    #: MSAL; without it the page offers API-key sign-in only.
    entra_spa_client_id: str | None = None
    #: Scopes the page asks a token for; default ``<first audience>/.default``.
    entra_scopes: list[str] = Field(default_factory=list)

    #: Browser origins allowed to call the API (CORS); empty: same origin only.
    cors_origins: list[str] = Field(default_factory=list)

    # Live view.
    #: A sensor is stale after this many of its update intervals without a reading.
    stale_factor: float = Field(3.0, gt=1)
    #: Most points a series may be downsampled to.
    series_max_points: int = Field(2000, ge=10, le=20_000)
    #: Most stream entries (or stored analyses) one series request reads.
    series_max_entries: int = Field(20_000, ge=100, le=1_000_000)
    #: Longest range a series request may cover (stored analyses beyond the window).
    series_max_span_days: int = Field(7, ge=1, le=90)
    #: How long after its reading time a payload may land (backfills land later: the series scan
    #: of the stream reads this far past the range's end).
    series_landing_lag_s: int = Field(300, ge=0)

    # Server-sent events.
    sse_keepalive_s: float = Field(15, gt=0, le=300)
    sse_max_connections: int = Field(50, ge=1, le=10_000)
    #: Most stream entries read per Redis call of one connection.
    sse_batch: int = Field(100, ge=1, le=1000)
    #: A connection is closed after this long; the browser reconnects with ``Last-Event-ID``.
    sse_max_duration_s: float = Field(3600, gt=0)
    sse_retry_ms: int = Field(2000, ge=100)

    # The anomaly queue.
    #: Most open anomalies one queue request reads before sorting (a plant with more open ones than
    #: this has a worse problem than paging; the newest by last reading are kept).
    anomalies_max_scan: int = Field(10_000, ge=100, le=100_000)
    #: How long a completed write is remembered under its ``Idempotency-Key``.
    idempotency_ttl_s: int = Field(24 * 3600, ge=60)

    # History and retention.
    #: Analyses older than this are deleted (anomalies and the audit trail are kept).
    results_retention_days: int = Field(90, ge=1)
    #: Range limit of the per-hour statistics.
    stats_max_span_days: int = Field(7, ge=1, le=92)
    #: How often the retention delete and the correction repair run; 0 = never (tests).
    maintenance_interval_s: float = Field(3600, ge=0)

    @model_validator(mode="after")
    def _identity_is_configured(self) -> Self:
        if self.entra_tenant_id and not self.entra_audiences:
            raise ValueError("DASHBOARD_ENTRA_TENANT_ID needs DASHBOARD_ENTRA_AUDIENCES (the app's client id URIs)")
        if self.environment in {"staging", "prod"} and not (self.api_keys or self.entra_tenant_id):
            raise ValueError(
                "outside development the dashboard API needs DASHBOARD_ENTRA_TENANT_ID or DASHBOARD_API_KEYS: "
                "without them nobody could sign in"
            )
        names = [key.name for key in self.api_keys]
        if len(names) != len(set(names)):
            raise ValueError("DASHBOARD_API_KEYS: every key needs its own name (it is what audit records show)")
        return self

    @property
    def entra_enabled(self) -> bool:
        return bool(self.entra_tenant_id)

    @property
    def page_scopes(self) -> list[str]:
        """Scopes the page's MSAL sign-in requests for this API."""
        if self.entra_scopes:
            return self.entra_scopes
        return [f"{self.entra_audiences[0]}/.default"] if self.entra_audiences else []

    @property
    def jwks_url(self) -> str:
        return self.entra_jwks_url or f"https://login.microsoftonline.com/{self.entra_tenant_id}/discovery/v2.0/keys"

    @property
    def issuers(self) -> list[str]:
        if self.entra_issuers:
            return self.entra_issuers
        tenant = self.entra_tenant_id
        return [f"https://login.microsoftonline.com/{tenant}/v2.0", f"https://sts.windows.net/{tenant}/"]
