"""What the dashboard page reads before it signs anyone in (``GET /config``): how to sign in."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EntraPageConfig(BaseModel):
    """Entra ID sign-in for the page (MSAL, redirect flow)."""

    model_config = ConfigDict(extra="forbid")

    client_id: str = Field(description="the page's app registration (single-page app)")
    authority: str = Field(examples=["https://login.microsoftonline.com/<tenant id>"])
    scopes: list[str] = Field(description="what the page asks a token for: this API's scope")


class PageConfigPublic(BaseModel):
    """How the page signs in: API keys (always offered) and Entra ID when configured."""

    model_config = ConfigDict(extra="forbid")

    environment: str
    api_keys: bool = Field(description="API-key sign-in is configured (at least one key)")
    entra: EntraPageConfig | None = None
