"""Open the store that the settings choose: ``STORE_BACKEND=sqlite`` (default) or ``cosmos``."""

from __future__ import annotations

from analyzer.settings import Settings
from analyzer.store.protocol import Store


async def open_store(settings: Settings) -> Store:
    """Open (and, where configured, create) the store; the caller owns it and must ``close()`` it."""
    if settings.store_backend == "sqlite":
        from analyzer.store.sqlite import SqliteStore

        return await SqliteStore.open(settings.sqlite_path)
    if settings.store_backend == "cosmos":
        from analyzer.store.cosmos import CosmosStore

        return await CosmosStore.from_settings(settings)
    raise ValueError(f"unknown STORE_BACKEND {settings.store_backend!r}: expected 'sqlite' or 'cosmos'")
