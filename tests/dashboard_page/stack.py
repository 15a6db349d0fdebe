"""The real local stack for the dashboard page's browser tests and its bench: Redis (the test
session's), the analyzer worker and tier 3's explainer (offline provider) fed by the plant
simulator, and the dashboard API served by uvicorn on a free loopback port.

The simulator lands an hour of history at once (tier 2 has a window, sparklines have a line), then
one payload every ``interval_s`` stamped with the wall clock, so a test sees values change within
a second or two. ``inject`` overrides a sensor's value in the next live payloads: the page has to
show the anomaly the analyzer raises from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from analyzer.catalog import load_catalog
from analyzer.devtools.simulator import PlantModel, iter_payloads
from analyzer.runtime.services import Services, open_services
from analyzer.runtime.worker import ConsumerConfig, analysis_worker
from analyzer.settings import Settings
from dashboard_api.identity.api_keys import issue_key
from dashboard_api.main import create_app
from dashboard_api.settings import ApiKeySpec, DashboardSettings
from schemas.payload import wire_timestamp
from schemas.public import Role
from tests.dashboard_api.utils import served

#: Operators of the browser tests: ``alice`` drives the page, ``bob`` acts through the API at the
#: same time (the conflicts), ``vera`` only reads.
PEOPLE = {"alice": Role.OPERATOR, "bob": Role.OPERATOR, "vera": Role.VIEWER}
#: The feed goes quiet for silenced sensors this many payloads (5 min) before the live part.
SILENT_PAYLOADS = 30


def chromium_binary() -> str | None:
    """Debian's Chromium (``make system-deps``); playwright drives it and downloads nothing."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Stack:
    base_url: str
    services: Services
    keys: dict[str, str]
    interval_s: float
    landed: int = 0
    #: sensor -> (value, payloads left to override)
    overrides: dict[str, tuple[float, int]] = field(default_factory=dict)
    #: Sensors the feed stopped sending 5 minutes before the live part began (so: stale).
    silenced: tuple[str, ...] = ()

    def headers(self, person: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[person]}

    def inject(self, sensor: str, value: float, payloads: int = 6) -> None:
        """The next ``payloads`` live payloads carry ``value`` for ``sensor``."""
        self.overrides[sensor] = (value, payloads)


async def _simulate(stack: Stack, model: PlantModel, backfill: int, stop: asyncio.Event) -> None:
    lander = stack.services.lander
    if backfill:
        plant = model.advance(backfill)
        documents = list(iter_payloads(plant))
        for document in documents[-SILENT_PAYLOADS:]:
            for sensor in stack.silenced:
                document.pop(sensor, None)
        readings = [lander.validate(document) for document in documents]
        stack.landed += len(await lander.land(readings, at_reading_times=True))
    while not stop.is_set():
        [document] = list(iter_payloads(model.advance(1)))
        # The plant's next state, stamped now: the live part runs at the test's pace.
        document = dict(document, timestamp=wire_timestamp(datetime.now(UTC)))
        for sensor in stack.silenced:
            document.pop(sensor, None)
        for sensor, (value, left) in list(stack.overrides.items()):
            document[sensor] = value
            if left <= 1:
                del stack.overrides[sensor]
            else:
                stack.overrides[sensor] = (value, left - 1)
        stack.landed += len(await lander.land([lander.validate(document)]))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=stack.interval_s)


@contextlib.asynccontextmanager
async def page_stack(
    settings: Settings,
    *,
    backfill: int = 360,
    interval_s: float = 1.0,
    anomaly_rate: float = 0.0,
    seed: int = 3,
    explain: bool = True,
    dashboard: dict[str, Any] | None = None,
    silenced: tuple[str, ...] = ("VI-706",),
) -> AsyncIterator[Stack]:
    """The whole stack on ``settings`` (its Redis keys and SQLite file), torn down afterwards."""
    issued = {name: issue_key(name, role) for name, role in PEOPLE.items()}
    specs: list[ApiKeySpec] = [spec for _, spec in issued.values()]
    config = DashboardSettings(
        _env_file=None,  # type: ignore[call-arg]
        api_keys=specs,
        maintenance_interval_s=0,
        sse_keepalive_s=1,
        **(dashboard or {}),
    )
    settings = _paced_catalogue(settings, interval_s)
    services = await open_services(settings)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[Any]] = []
    try:
        start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10 * backfill)
        model = PlantModel(services.index.catalog, start, seed=seed, anomaly_rate=anomaly_rate)
        app = create_app(settings, dashboard=config, store=services.store)
        async with served(app) as base_url:
            keys = {name: key for name, (key, _) in issued.items()}
            stack = Stack(base_url, services, keys, interval_s, silenced=silenced)
            worker_config = ConsumerConfig(batch_size=64, block_ms=100)
            worker = analysis_worker(services.redis, services.keys, services.pipeline, worker_config, "page-worker")
            tasks.append(asyncio.create_task(worker.run(stop), name="worker"))
            tasks.append(asyncio.create_task(services.maintain(stop), name="upkeep"))
            if explain:
                from analyzer.runtime.explainer import run_explainer

                tasks.append(asyncio.create_task(run_explainer(services, stop), name="explainer"))
            tasks.append(asyncio.create_task(_simulate(stack, model, backfill, stop), name="simulator"))
            try:
                yield stack
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await services.close()


def _paced_catalogue(settings: Settings, interval_s: float) -> Settings:
    """The plant's catalogue for a live part faster than the plant's 10 s: a reading's noise is
    the same however soon the next one comes, so the credible rates of change scale with the pace
    (else every noisy sensor would raise rate-of-change alarms at 1 s)."""
    if interval_s >= 10:
        return settings
    catalog = load_catalog(settings.sensor_catalog)
    scale = 10 / interval_s
    sensors = [
        spec.model_copy(update={"max_rate_per_min": spec.max_rate_per_min * scale}) if spec.max_rate_per_min else spec
        for spec in catalog.sensors
    ]
    path = Path(settings.sqlite_path).with_name(f"catalog-paced-{interval_s:g}s.json")
    path.write_text(catalog.model_copy(update={"sensors": sensors}).model_dump_json(exclude_none=True))
    return settings.model_copy(update={"sensor_catalog": path})


def artifacts_dir() -> Path:
    """Screenshots and traces of the browser tests (gitignored)."""
    path = Path(__file__).parent / "artifacts"
    path.mkdir(exist_ok=True)
    return path
