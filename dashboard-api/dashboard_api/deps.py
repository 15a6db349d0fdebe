"""The dependencies routes declare: clients, settings, the catalogue and the caller's identity.

Handlers read as plain functions of what they need (``store: StoreDep``, ``operator: OperatorDep``);
identity and role checks live here, never in handlers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis

from analyzer.alarms.service import AlarmService
from analyzer.keys import RedisKeys
from analyzer.store.protocol import Store
from dashboard_api.identity.entra import SigningKeysUnavailable, TokenRejected
from dashboard_api.identity.principal import Principal
from dashboard_api.settings import DashboardSettings
from dashboard_api.state import DashboardState
from schemas.catalog import SensorCatalog
from schemas.public import Role

REALM = "sensor-analyzer"


def get_state(request: Request) -> DashboardState:
    state: DashboardState = request.app.state.dashboard
    return state


StateDep = Annotated[DashboardState, Depends(get_state)]


def get_redis(state: StateDep) -> Redis:
    return state.redis


def get_keys(state: StateDep) -> RedisKeys:
    return state.keys


def get_config(state: StateDep) -> DashboardSettings:
    return state.config


def get_catalog(state: StateDep) -> SensorCatalog:
    return state.catalog


async def get_store(state: StateDep) -> Store:
    """The store; 503 with the reason while it cannot be opened."""
    return await state.store.get()


async def get_alarms(state: StateDep, store: Annotated[Store, Depends(get_store)]) -> AlarmService:
    """The alarm operations (acknowledge, resolve, ...); 503 while the store is away."""
    return state.alarm_service(store)


RedisDep = Annotated[Redis, Depends(get_redis)]
KeysDep = Annotated[RedisKeys, Depends(get_keys)]
ConfigDep = Annotated[DashboardSettings, Depends(get_config)]
CatalogDep = Annotated[SensorCatalog, Depends(get_catalog)]
StoreDep = Annotated[Store, Depends(get_store)]
AlarmsDep = Annotated[AlarmService, Depends(get_alarms)]


# -- identity ------------------------------------------------------------------------------------

api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="A local API key (`sensor-analyzer dashboard-key`)."
)
bearer_token = HTTPBearer(auto_error=False, description="An Entra ID access token for this API.")


def _unauthorized(message: str, *, error: str | None = None) -> HTTPException:
    bearer = f'Bearer realm="{REALM}"' + (f', error="{error}"' if error else "")
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        message,
        headers={"WWW-Authenticate": f'{bearer}, ApiKey realm="{REALM}", header="X-API-Key"'},
    )


async def authenticate(
    state: StateDep,
    api_key: Annotated[str | None, Security(api_key_header)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_token)],
) -> Principal:
    """The caller, from ``Authorization: Bearer`` (Entra ID) or ``X-API-Key``; 401 otherwise."""
    if credentials is not None:
        if state.entra is None:
            raise _unauthorized("bearer tokens are not accepted: Entra ID is not configured", error="invalid_token")
        try:
            return await state.entra.verify(credentials.credentials)
        except TokenRejected as rejected:
            raise _unauthorized(str(rejected), error="invalid_token") from None
        except SigningKeysUnavailable as unavailable:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(unavailable)) from None
    if api_key is not None:
        principal = state.api_keys.authenticate(api_key)
        if principal is None:
            raise _unauthorized("the API key is not valid")
        return principal
    raise _unauthorized("sign in: send an X-API-Key header or an Authorization: Bearer token")


def _require(needed: Role, principal: Principal) -> Principal:
    if principal.role is None or not principal.role.allows(needed):
        has = f"has the role {principal.role.value}" if principal.role else "has none of this API's roles"
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{principal.name} {has}; this needs {needed.value}")
    return principal


def require_viewer(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    return _require(Role.VIEWER, principal)


def require_operator(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    return _require(Role.OPERATOR, principal)


def require_admin(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
    return _require(Role.ADMIN, principal)


#: The role each check requires (the auth-matrix test reads the routes' checks through this).
ROLE_OF_CHECK = {require_viewer: Role.VIEWER, require_operator: Role.OPERATOR, require_admin: Role.ADMIN}

ViewerDep = Annotated[Principal, Depends(require_viewer)]
OperatorDep = Annotated[Principal, Depends(require_operator)]
AdminDep = Annotated[Principal, Depends(require_admin)]
