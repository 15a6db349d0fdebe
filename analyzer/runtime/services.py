"""Everything a running analyzer holds: clients, the catalogue, the tiers, the pipeline.

Built once per process (the FastAPI lifespan, the worker command) from the settings, so tests
point it at their own Redis and store by passing other settings. Nothing is built at import time.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from analyzer.alarms.episodes import EpisodeTracker
from analyzer.analysis.pipeline import Pipeline
from analyzer.catalog import load_catalog
from analyzer.catalog.index import SensorIndex
from analyzer.keys import RedisKeys
from analyzer.runtime.landing import Lander
from analyzer.runtime.redis_client import close_redis, connect_redis  # re-exported: callers import them here
from analyzer.settings import Settings
from analyzer.store.factory import open_store
from analyzer.store.protocol import Store


@dataclass
class Services:
    settings: Settings
    redis: Redis
    keys: RedisKeys
    index: SensorIndex
    store: Store
    episodes: EpisodeTracker
    pipeline: Pipeline
    lander: Lander

    async def close(self) -> None:
        if self.pipeline.statistical is not None:
            await self.pipeline.statistical.close()
        await self.store.close()
        await close_redis(self.redis)


async def open_services(settings: Settings, *, statistical: bool | None = None) -> Services:
    index = SensorIndex.from_catalog(load_catalog(settings.sensor_catalog))
    redis = connect_redis(settings)
    keys = RedisKeys(settings.stream_key)
    store = await open_store(settings)
    episodes = EpisodeTracker(store, redis, keys)
    tier2 = None
    if settings.tier2_enabled if statistical is None else statistical:
        from analyzer.tiers.statistical import StatisticalTier

        tier2 = await StatisticalTier.create(redis, keys, index)
    pipeline = Pipeline(index, store, episodes, tier2, max_payload_bytes=settings.max_payload_bytes)
    lander = Lander(redis, keys, index, settings)
    return Services(settings, redis, keys, index, store, episodes, pipeline, lander)
