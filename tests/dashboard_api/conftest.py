"""Fixtures of the dashboard API tests: keys of each role, the app on the real Redis of the test
session and a SQLite store, reached in-process (``api``) or over real HTTP (``served``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "store"))

from analyzer.settings import Settings
from analyzer.store.protocol import Store
from analyzer.store.sqlite import SqliteStore
from dashboard_api.settings import DashboardSettings
from tests.dashboard_api.utils import Api, RoleKeys, open_api


@pytest.fixture(scope="session")
def role_keys() -> RoleKeys:
    return RoleKeys.issue()


@pytest.fixture
def dashboard_config(role_keys: RoleKeys) -> DashboardSettings:
    return DashboardSettings(
        _env_file=None,  # type: ignore[call-arg]
        api_keys=role_keys.specs,
        maintenance_interval_s=0,
        sse_keepalive_s=0.3,
    )


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await SqliteStore.open(tmp_path / "dashboard.db")
    yield store
    await store.close()


@pytest.fixture
async def api(
    settings: Settings, dashboard_config: DashboardSettings, sqlite_store: Store, role_keys: RoleKeys
) -> AsyncIterator[Api]:
    """The app in-process (httpx ASGI transport, lifespan run), real Redis, SQLite store."""
    async with open_api(settings, dashboard_config, sqlite_store, role_keys) as opened:
        yield opened
