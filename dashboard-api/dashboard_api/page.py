"""The operator dashboard page: ``/`` (the page), ``/config`` (how to sign in) and ``/static/``
(its ES modules, styles and the vendored uPlot and MSAL files, see the Makefile's ``web`` step).

The page is plain files, no build step, and uses only the public ``/api/v1`` routes with the
caller's own credentials, so nothing here needs a role. Caching: the page and its modules are
``no-cache`` (revalidated with their ETag on every load, so a deployment shows at once without
hashed file names); the vendored libraries are versioned by the lock file and cached for a day.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from dashboard_api.deps import ConfigDep
from schemas.page import EntraPageConfig, PageConfigPublic

WEB_DIR = Path(__file__).parent / "web"
#: Where ``make web`` copies uPlot and MSAL from node_modules.
VENDOR_DIR = WEB_DIR / "vendor"

REVALIDATE = "no-cache"
VENDOR_CACHE = "public, max-age=86400"

#: The page loads only its own files; MSAL's redirect sign-in talks to the Entra ID endpoints.
_LOGIN = "https://login.microsoftonline.com"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        f"connect-src 'self' {_LOGIN}",
        f"frame-src {_LOGIN}",
        "img-src 'self' data:",
        # uPlot positions its cursor and legend with inline style attributes.
        "style-src 'self' 'unsafe-inline'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)

router = APIRouter(include_in_schema=False)


class PageFiles(StaticFiles):
    """Static files with the cache policy above (ETag and Last-Modified come from Starlette)."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        vendored = Path(full_path).is_relative_to(VENDOR_DIR)
        response.headers["Cache-Control"] = VENDOR_CACHE if vendored else REVALIDATE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


@router.get("/")
async def page() -> FileResponse:
    """The dashboard page (the API key or token never travels in its URL)."""
    return FileResponse(
        WEB_DIR / "index.html",
        media_type="text/html; charset=utf-8",
        headers={
            "Cache-Control": REVALIDATE,
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@router.get("/config", response_model=PageConfigPublic)
async def page_config(config: ConfigDep) -> PageConfigPublic:
    """How the page signs in; no secrets (a public client id and the API's scope)."""
    entra = None
    if config.entra_enabled and config.entra_spa_client_id:
        entra = EntraPageConfig(
            client_id=config.entra_spa_client_id,
            authority=f"{_LOGIN}/{config.entra_tenant_id}",
            scopes=config.page_scopes,
        )
    return PageConfigPublic(environment=config.environment, api_keys=bool(config.api_keys), entra=entra)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", PageFiles(directory=WEB_DIR, check_dir=False), name="static")
