"""Periodic upkeep run by the dashboard API process: the results' retention and the repair of
corrections.

* Retention: analyses whose reading time is older than ``DASHBOARD_RESULTS_RETENTION_DAYS``
  (default 90) are deleted in batches; anomalies (open and resolved) and the audit trail are kept.
  On Cosmos DB the ``anomaly_results`` container's ``default_ttl`` (90 days, Terraform) expires
  them without any process; this delete enforces a shorter configured age there too.
* Repair: a correction interrupted between its two writes is completed, and an analysis that a
  replayed stream entry overwrote gets its corrections back. Only audit records of the last window
  (+1 h) are looked at: an entry older than the window is trimmed and cannot be replayed.

Every step is idempotent, so any number of replicas may run it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from analyzer.store.protocol import StoreError
from dashboard_api.state import DashboardState

log = logging.getLogger(__name__)

#: Analyses deleted per store call, and most calls per run (a backlog drains over several runs).
EXPIRE_BATCH = 2000
EXPIRE_ROUNDS = 50


@dataclass(frozen=True)
class Upkeep:
    expired: int
    repaired: int


async def maintain_once(state: DashboardState, *, now: datetime | None = None) -> Upkeep:
    now = now or datetime.now(UTC)
    store = await state.store.get()
    cutoff = now - timedelta(days=state.config.results_retention_days)
    expired = 0
    for _ in range(EXPIRE_ROUNDS):
        deleted = await store.expire_results(cutoff, EXPIRE_BATCH)
        expired += deleted
        if deleted < EXPIRE_BATCH:
            break
    repaired = await store.repair_corrections(now - timedelta(seconds=state.settings.window_s, hours=1))
    if expired or repaired:
        log.info("upkeep: %d analyses expired (before %s), %d corrections repaired", expired, cutoff, repaired)
    return Upkeep(expired, repaired)


async def run_maintenance(state: DashboardState, stop: asyncio.Event) -> None:
    """:func:`maintain_once` every ``maintenance_interval_s`` until ``stop``; failures are logged
    and retried at the next interval (the store may be away)."""
    while not stop.is_set():
        try:
            await maintain_once(state)
        except StoreError as error:
            log.warning("upkeep skipped: %s", error)
        except Exception:  # the loop must outlive any one failure
            log.exception("upkeep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), state.config.maintenance_interval_s)
