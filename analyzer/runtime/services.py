"""Everything a running analyzer holds: clients, the catalogue, the tiers, the pipeline.

Built once per process (the FastAPI lifespan, the worker command) from the settings, so tests
point it at their own Redis and store by passing other settings. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from analyzer.alarms.projection import AlarmProjector
from analyzer.alarms.service import AlarmService
from analyzer.analysis.fold import Folder
from analyzer.analysis.pipeline import Pipeline
from analyzer.analysis.shared_state import SharedFold
from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from analyzer.keys import RedisKeys
from analyzer.runtime.landing import Lander, payload_limits
from analyzer.runtime.redis_client import binary_client, close_redis, connect_redis  # re-exported for callers
from analyzer.settings import Settings
from analyzer.store.factory import open_store
from analyzer.store.protocol import Store

if TYPE_CHECKING:
    from analyzer.tiers.statistical import StatisticalSettings

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    redis: Redis
    binary: Redis
    keys: RedisKeys
    index: SensorIndex
    store: Store
    pipeline: Pipeline
    alarms: AlarmService
    projector: AlarmProjector
    lander: Lander

    async def close(self) -> None:
        await self.store.close()
        await self.binary.aclose()
        await close_redis(self.redis)

    async def maintain(self, stop: asyncio.Event, *, every_s: float = 60.0) -> None:
        """Background upkeep of one process: after a Redis that lost its data, restore the open
        alarms from the store; then write alarm records a stopped writer left unwritten."""
        from analyzer.runtime.consumer import UNREACHABLE, OutageLog

        restored = False
        outage = OutageLog("alarm upkeep: Redis or the store", log)
        while not stop.is_set():
            try:
                if not restored:
                    await self.projector.restore()
                    restored = True
                await self.projector.repair()
                outage.up()
            except UNREACHABLE as error:
                outage.down(error)
            except Exception as error:  # upkeep must not take the process down; the next round retries
                log.warning("alarm upkeep failed (%s: %s); retrying in %.0f s", type(error).__name__, error, every_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_s)


async def open_services(
    settings: Settings,
    *,
    statistical: bool | None = None,
    statistical_settings: StatisticalSettings | None = None,
    store: Store | None = None,
) -> Services:
    """Build everything from ``settings``; tests and benchmarks may hand in tier 2's settings or a store."""
    index = SensorIndex.from_catalog(load_catalog(settings.sensor_catalog))
    redis = connect_redis(settings)
    binary = binary_client(redis)
    keys = RedisKeys(settings.stream_key)
    store = store or await open_store(settings)
    tier2 = None
    if settings.tier2_enabled if statistical is None else statistical:
        from analyzer.tiers.statistical import StatisticalSettings, StatisticalTier

        tier2 = StatisticalTier(index, statistical_settings or StatisticalSettings(), window_s=settings.window_s)
    folder = Folder(index, tier2, limits=payload_limits(settings))
    projector = AlarmProjector(store, redis, keys)
    shared = SharedFold(binary, keys, folder, window_s=settings.window_s)
    pipeline = Pipeline(store, redis, keys, shared, projector)
    alarms = AlarmService(redis, keys, store, projector)
    lander = Lander(redis, keys, index, settings)
    return Services(settings, redis, binary, keys, index, store, pipeline, alarms, projector, lander)


def settle_heap() -> None:
    """Move what start-up allocated (imports, catalogue, models: ~130k long-lived objects) out of
    the cyclic garbage collector's sight, once a long-running process is built.

    Each full collection otherwise walks all of them again; profiled, that was 25-30 % of a
    worker's wall time. Objects frozen here are still freed by reference counting.
    """
    gc.collect()
    gc.freeze()
