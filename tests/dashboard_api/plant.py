"""A plant for the dashboard API tests: the API and the analyzer's pipeline (tier 1) on one Redis
and one store, so alarms are raised by the real pipeline from landed payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from analyzer.runtime.redis_client import close_redis
from analyzer.runtime.services import Services, open_services
from analyzer.settings import Settings
from analyzer.store.protocol import Store
from dashboard_api.settings import DashboardSettings
from schemas.alarms import AlarmRecord
from schemas.public import Role
from tests.dashboard_api.utils import Api, RoleKeys, open_api
from tests.integration.helpers import BREACH_KEY, INDEX, all_alarms, land, payloads
from tests.utils.payloads import normal_payload

OPERATOR, VIEWER, ADMIN = Role.OPERATOR, Role.VIEWER, Role.ADMIN


def breaching_sensors(n: int) -> dict[str, float]:
    """``n`` sensors and a value above each one's High-High limit, inside its instrument range."""
    found: dict[str, float] = {}
    for name in INDEX.names:
        spec = INDEX.spec(name)
        if spec.high is None or spec.high_high is None:
            continue
        value = spec.high_high + (spec.high_high - spec.high) * 0.5
        if spec.range_max is not None and value >= spec.range_max:
            continue
        found[name] = value
        if len(found) == n:
            break
    assert len(found) == n
    return found


@dataclass
class Plant:
    api: Api
    services: Services

    async def analyse(self, documents: list[dict[str, Any]]) -> list[str]:
        ids = await land(self.services.lander, documents)
        entries = await self.services.redis.xrange(self.services.keys.stream, min=ids[0], max=ids[-1])
        await self.services.pipeline.analyze_entries(entries)
        return ids

    async def open_records(self) -> list[AlarmRecord]:
        return await all_alarms(self.services.store)

    async def breach_id(self) -> str:
        await self.analyse(payloads(3, breach=lambda _: True))
        [record] = [r for r in await self.open_records() if r.alarm_key == BREACH_KEY]
        return record.id

    async def post(self, path: str, role: Role, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        return await self.api.client.post(path, headers={**self.api.as_(role), **headers}, json=body)

    async def get(self, path: str, role: Role = VIEWER, **params: Any) -> httpx.Response:
        return await self.api.client.get(path, headers=self.api.as_(role), params=params)


@pytest.fixture
async def plant(
    settings: Settings, dashboard_config: DashboardSettings, store: Store, role_keys: RoleKeys
) -> AsyncIterator[Plant]:
    """The dashboard API and the analyzer's pipeline on one Redis and one store of each backend."""
    services = await open_services(settings, statistical=False, store=store)
    try:
        async with open_api(settings, dashboard_config, store, role_keys) as api:
            yield Plant(api, services)
    finally:  # the store belongs to its fixture
        await services.binary.aclose()
        await close_redis(services.redis)


async def staggered(plant: Plant) -> list[AlarmRecord]:
    """Three sensors breaching from different readings on: anomalies opened at different times."""
    breaches = breaching_sensors(3)
    end = datetime.now(UTC) - timedelta(seconds=1)
    documents = []
    for i in range(12):
        moment = end - timedelta(seconds=10 * (11 - i))
        over = {name: value for k, (name, value) in enumerate(breaches.items()) if i >= 3 * k}
        documents.append(normal_payload(INDEX, moment, **over))
    await plant.analyse(documents)
    records = await plant.open_records()
    assert {s for r in records for s in r.sensors} >= set(breaches)
    return records
