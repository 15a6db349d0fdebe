"""Property: whatever passes the payload rules (``analyzer/reading.py``) is analysed into a valid
stored document, and the next normal reading still analyses (issue 12, "What broke" 1).

Hypothesis generates payloads around the rules' edges (huge and tiny values, big integers, odd
names, times at the edges of the window); those the landing refuses are counted and skipped, the
rest are landed on a real Redis stream followed by a normal reading, and the real pipeline (tiers
1 and 2, alarms, SQLite store) folds them.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from analyzer.keys import CONSUMER_GROUP
from analyzer.reading import MAX_MAGNITUDE, PayloadError
from analyzer.runtime.consumer import ConsumerConfig, ensure_group
from analyzer.runtime.services import Services, open_services
from analyzer.runtime.worker import analysis_worker
from analyzer.settings import Settings
from schemas.results import AnalysisResult
from tests.integration.helpers import INDEX, drain
from tests.utils.payloads import normal_payload

edge_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, MAX_MAGNITUDE, -MAX_MAGNITUDE, MAX_MAGNITUDE * 1.0000001, 1e-308, 5e-324, 1e308]),
    st.integers(min_value=-(2**80), max_value=2**80),
)
names = st.one_of(
    st.text(min_size=0, max_size=140),
    st.sampled_from(["", "A\x00B", "TI-101", "timestamp ", "\u202e", "x" * 129, "PI-\u00e9"]),
)
values = st.one_of(edge_floats, st.booleans(), st.none(), st.text(max_size=5), st.lists(st.integers(), max_size=2))


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    offset = draw(st.integers(min_value=-3 * 3600, max_value=400))
    document = normal_payload(INDEX, datetime.now(UTC) + timedelta(seconds=offset))
    for name in draw(st.lists(st.sampled_from(INDEX.names), max_size=6, unique=True)):
        document[name] = draw(edge_floats)
    document.update(draw(st.dictionaries(names, values, max_size=4)))
    return document


def _settings(redis_url: str, stream: str, path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        redis_connection_string=SecretStr(redis_url),
        stream_key=stream,
        sqlite_path=path,
        store_backend="sqlite",
        explain_consumer_enabled=False,
    )


async def _land_and_analyse(services: Services, document: dict[str, Any]) -> bool:
    try:
        reading = services.lander.validate(document)
    except PayloadError:
        return False
    [accepted] = await services.lander.land([reading])
    [normal] = await services.lander.land([services.lander.validate(normal_payload(INDEX, datetime.now(UTC)))])
    worker = analysis_worker(
        services.redis, services.keys, services.pipeline, ConsumerConfig(batch_size=4, block_ms=0), "prop"
    )
    await drain(worker)
    for entry_id in (accepted, normal):
        stored = await services.store.get_result(entry_id)
        assert stored is not None, f"no stored result for {entry_id} (payload {document!r})"
        AnalysisResult.model_validate(stored.model_dump(mode="json"))  # the stored document is valid
    assert worker.stats.dead_lettered == 0
    return True


def test_anything_that_passes_validation_is_stored_validly_and_analysis_goes_on(redis_url: str, tmp_path: Path) -> None:
    stream = f"test:prop:{uuid.uuid4().hex[:8]}"
    loop = asyncio.new_event_loop()
    services = loop.run_until_complete(open_services(_settings(redis_url, stream, tmp_path / "analyzer.db")))
    loop.run_until_complete(ensure_group(services.redis, services.keys.stream, CONSUMER_GROUP))
    outcomes: list[bool] = []

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(payloads())
    def check(document: dict[str, Any]) -> None:
        outcomes.append(loop.run_until_complete(_land_and_analyse(services, document)))

    try:
        check()
    finally:
        loop.run_until_complete(services.close())
        loop.close()
        with redis.Redis.from_url(redis_url) as client:
            keys = list(client.scan_iter(match=f"{stream}*", count=1000))
            if keys:
                client.delete(*keys)
    assert any(outcomes) and not all(outcomes), outcomes  # both sides of the rules were exercised
