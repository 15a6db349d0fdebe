"""The store, opened lazily: the API starts (and answers 503 with the reason) while the store is
away, and opens it once it is back, trying at most every ``retry_s`` seconds."""

from __future__ import annotations

import asyncio
import logging
import time

from analyzer.settings import Settings
from analyzer.store.factory import open_store
from analyzer.store.protocol import Store, StoreError

log = logging.getLogger(__name__)


class StoreUnavailable(StoreError):
    """The store could not be opened; the message says why."""


class StoreAccess:
    def __init__(self, settings: Settings, store: Store | None = None, *, retry_s: float = 5.0) -> None:
        self._settings = settings
        self._store = store
        self._owned = store is None
        self._retry_s = retry_s
        self._lock = asyncio.Lock()
        self._failed_at: float | None = None
        self._reason = "not opened yet"

    async def get(self) -> Store:
        if self._store is not None:
            return self._store
        async with self._lock:
            if self._store is not None:
                return self._store
            if self._failed_at is not None and time.monotonic() - self._failed_at < self._retry_s:
                raise StoreUnavailable(f"the store is unavailable: {self._reason}")
            try:
                self._store = await open_store(self._settings)
            except Exception as error:  # any failure to open means "unavailable", with the reason
                self._failed_at = time.monotonic()
                self._reason = f"{type(error).__name__}: {str(error)[:200]}"
                log.warning("cannot open the %s store: %s", self._settings.store_backend, self._reason)
                raise StoreUnavailable(f"the store is unavailable: {self._reason}") from error
            return self._store

    async def close(self) -> None:
        if self._store is not None and self._owned:
            await self._store.close()
        self._store = None
