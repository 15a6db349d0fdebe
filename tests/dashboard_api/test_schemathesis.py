"""Property-based tests of the whole API from its own OpenAPI document (schemathesis), over real
HTTP, with an admin key (so every operation is reached): no 5xx, every response documented and
matching its schema. Sized for CI: a few examples per operation.

The event stream is left out (an open stream never completes a request); it has its own tests.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from pydantic import SecretStr
from schemathesis.specs.openapi.checks import positive_data_acceptance
from store_factories import make_alarm, make_result, resolve

from analyzer.devtools.local_redis import free_port
from analyzer.settings import Settings
from analyzer.store.protocol import CorrectionRequest
from analyzer.store.sqlite import SqliteStore
from dashboard_api.main import create_app
from dashboard_api.settings import DashboardSettings
from schemas.public import Role
from schemas.results import Severity
from tests.dashboard_api.utils import RoleKeys

pytestmark = pytest.mark.redis

KEYS = RoleKeys.issue()
#: Schema-valid requests may still be refused with 422 for rules OpenAPI cannot state (start
#: before end, a range's longest span, a sensor that is not catalogued): every other check runs.
EXCLUDED = [positive_data_acceptance]


async def _seed(path: Path) -> None:
    """Some of everything, recent, so list routes return documents to validate."""
    store = await SqliteStore.open(path)
    now = datetime.now(UTC).replace(microsecond=0)
    results = [
        make_result(n, when=now - timedelta(minutes=n), anomalous=["TI-101"] if n % 4 == 0 else None) for n in range(40)
    ]
    await store.put_results(results)
    await store.correct_value(CorrectionRequest("seed-1", results[0].id, "TI-101", 349.0, "offset", "alice", now))
    await store.close_alarm(
        resolve(make_alarm(severity=Severity.HIGH), "alice", "fixed").model_copy(update={"resolved_at": now})
    )
    await store.put_alarms(
        [make_alarm(f"high:TI-10{n}", first=n, severity=severity, last_seen=now) for n, severity in enumerate(Severity)]
    )
    await store.close()


def _serve(app: Any, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="schemathesis-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.05)
    return server, thread


@pytest.fixture(scope="module")
def base_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("schemathesis") / "analyzer.db"
    asyncio.run(_seed(path))
    stream = f"test:{uuid.uuid4().hex[:12]}"
    analyzer_settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_connection_string=SecretStr(redis_url),
        stream_key=stream,
        sqlite_path=path,
    )
    config = DashboardSettings(_env_file=None, api_keys=KEYS.specs, maintenance_interval_s=0)  # type: ignore[call-arg]
    port = free_port()
    server, thread = _serve(create_app(analyzer_settings, dashboard=config), port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        with redis.Redis.from_url(redis_url) as client:
            names = list(client.scan_iter(match=f"{stream}*"))
            if names:
                client.delete(*names)


def test_the_api_keeps_its_contract(base_url: str) -> None:
    # Each operation gets its own hypothesis run (what `schema.parametrize()` does; its pytest
    # plugin does not work with this pytest, so the loop is written out).
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    operations = [op for op in (r.ok() for r in schema.get_all_operations()) if op.path != "/api/v1/live/events"]
    assert len(operations) == 30

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def keeps_its_contract(case: Any) -> None:
            case.call_and_validate(headers=KEYS.headers(Role.ADMIN), timeout=30, excluded_checks=EXCLUDED)

        keeps_its_contract()
