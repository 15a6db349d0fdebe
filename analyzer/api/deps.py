"""Dependencies shared by the routes: the running services and the caller check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from analyzer.runtime.services import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def require_api_key(
    services: ServicesDep, x_api_key: Annotated[str | None, Header(description="the analyzer's API key")] = None
) -> None:
    """Callers that write (the Azure Function, the landing) present ``X-API-Key`` when one is set.

    The key lives in Key Vault in Azure; locally it is unset and the routes are open. Settings
    refuse to start outside development without it.
    """
    expected = services.settings.analyzer_api_key
    if expected is None:
        return
    if x_api_key is None or not secrets.compare_digest(x_api_key.encode(), expected.get_secret_value().encode()):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or wrong X-API-Key header")


ApiKeyDep = Depends(require_api_key)
