"""What the running API holds, built in the lifespan (never at import) and handed to routes by
the dependencies in :mod:`dashboard_api.deps`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from analyzer.alarms.projection import AlarmProjector
from analyzer.alarms.service import AlarmService
from analyzer.keys import RedisKeys
from analyzer.settings import Settings
from analyzer.store.protocol import Store
from dashboard_api.identity.api_keys import ApiKeyRing
from dashboard_api.identity.entra import EntraVerifier
from dashboard_api.settings import DashboardSettings
from dashboard_api.store_access import StoreAccess
from schemas.catalog import SensorCatalog


@dataclass
class StreamSlots:
    """Counts open event streams so their number stays bounded."""

    limit: int
    open: int = 0

    def take(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open -= 1


@dataclass
class DashboardState:
    settings: Settings
    config: DashboardSettings
    catalog: SensorCatalog
    keys: RedisKeys
    redis: Redis
    store: StoreAccess
    api_keys: ApiKeyRing
    entra: EntraVerifier | None
    streams: StreamSlots = field(init=False)
    _alarms: AlarmService | None = field(init=False, default=None)
    #: Learned-limit suggestions and when they were computed (they read the whole window).
    suggestions: tuple[float, list[Any]] | None = field(init=False, default=None)
    suggestions_lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.streams = StreamSlots(self.config.sse_max_connections)

    def alarm_service(self, store: Store) -> AlarmService:
        """The alarm lifecycle's operations (the one owner of alarm state), on the open store."""
        if self._alarms is None or self._alarms.store is not store:
            self._alarms = AlarmService(self.redis, self.keys, store, AlarmProjector(store, self.redis, self.keys))
        return self._alarms
