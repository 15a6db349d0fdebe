"""What only the Cosmos DB store does: container creation, point writes of alarm records, retries
and error messages."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest
from azure.cosmos.exceptions import CosmosHttpResponseError
from cosmos_local import LOCAL_KEY, CosmosServer
from store_factories import make_alarm, make_result

from analyzer.settings import Settings
from analyzer.store import _retry
from analyzer.store.containers import ALL_CONTAINERS
from analyzer.store.cosmos import INDEXING_POLICY, CosmosStore
from analyzer.store.factory import open_store
from analyzer.store.protocol import NotFoundError, StoreError
from schemas.results import Severity

pytestmark = pytest.mark.cosmos


@pytest.fixture
async def cosmos(cosmos_server: CosmosServer) -> Any:
    store = await CosmosStore.open(
        endpoint=cosmos_server.endpoint,
        database=f"t-{uuid.uuid4().hex[:10]}",
        key=LOCAL_KEY,
        verify_tls=False,
        create_if_missing=True,
    )
    try:
        yield store
    finally:
        await store.close()


async def raw_copies(store: CosmosStore, alarm_id: str) -> list[dict[str, Any]]:
    return [
        doc
        async for doc in store.open_alarms.query_items(
            "SELECT * FROM c WHERE c.id = @id", parameters=[{"name": "@id", "value": alarm_id}]
        )
    ]


async def test_open_store_creates_the_containers_from_containers_py(cosmos_server: CosmosServer) -> None:
    settings = Settings(
        store_backend="cosmos",
        cosmos_db_endpoint=cosmos_server.endpoint,
        cosmos_db_database_name=f"f-{uuid.uuid4().hex[:10]}",
        cosmos_db_key=LOCAL_KEY,
        cosmos_db_verify_tls=False,
        cosmos_db_create_if_missing=True,
    )
    store = await open_store(settings)
    try:
        assert isinstance(store, CosmosStore)
        for spec, container in zip(
            ALL_CONTAINERS, (store.results, store.open_alarms, store.resolved, store.modifications), strict=True
        ):
            props = await container.read()
            assert props["id"] == spec.name
            assert props["partitionKey"]["paths"] == [spec.partition_key]
            assert props.get("defaultTtl") == spec.default_ttl_s
            assert props["indexingPolicy"]["compositeIndexes"] == INDEXING_POLICY["compositeIndexes"]
        # a second start finds them and changes nothing
        await (await open_store(settings)).close()
    finally:
        await store.close()


async def test_a_missing_database_names_the_operation_and_container(cosmos_server: CosmosServer) -> None:
    with pytest.raises(StoreError, match=r"ping on anomaly_results failed: HTTP 404") as caught:
        await CosmosStore.open(
            endpoint=cosmos_server.endpoint, database="never-created", key=LOCAL_KEY, verify_tls=False
        )
    assert type(caught.value) is NotFoundError


async def test_an_alarm_update_is_one_point_write_and_keeps_its_partition(cosmos: CosmosStore) -> None:
    """After a process wrote a record once, its next updates are conditional replaces on the etag
    it remembers (one request, no read), and the record stays in its priority's partition."""
    record = make_alarm(severity=Severity.LOW)
    await cosmos.put_alarms([record])
    calls: list[str] = []
    original = _retry.call

    async def counting(operation: str, container: str, fn: Any, **options: Any) -> Any:
        calls.append(operation)
        return await original(operation, container, fn, **options)

    _retry.call = counting  # type: ignore[assignment]
    try:
        for revision in range(2, 6):
            await cosmos.put_alarms([record.model_copy(update={"revision": revision, "count": revision})])
    finally:
        _retry.call = original  # type: ignore[assignment]
    assert calls == ["put_alarms"] * 4
    [doc] = await raw_copies(cosmos, record.id)
    assert doc["severity_level"] == "low" and doc["count"] == 5


async def test_a_writer_with_a_stale_etag_reads_and_keeps_the_newest(cosmos_server: CosmosServer) -> None:
    """Two processes project the same record: each remembers its own etag, so one meets a 412,
    reads, and keeps whichever revision is higher."""
    database = f"t-{uuid.uuid4().hex[:10]}"
    first, second = [
        await CosmosStore.open(
            endpoint=cosmos_server.endpoint, database=database, key=LOCAL_KEY, verify_tls=False, create_if_missing=True
        )
        for _ in range(2)
    ]
    try:
        record = make_alarm()
        await first.put_alarms([record])
        await second.put_alarms([record.model_copy(update={"revision": 2, "count": 2})])
        await first.put_alarms([record.model_copy(update={"revision": 3, "count": 3})])  # 412, read, replace
        await second.put_alarms([record.model_copy(update={"revision": 2, "count": 7})])  # older: dropped
        stored = await first.get_alarm(record.id)
        assert stored is not None and (stored.revision, stored.count) == (3, 3)
    finally:
        await first.close()
        await second.close()


async def test_put_results_upserts_concurrently_and_reports_failures(
    cosmos: CosmosStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = [make_result(n, anomalous=["TI-101"]) for n in range(64)]
    await cosmos.put_results(batch + batch[:5])
    assert await cosmos.existing_result_ids([r.id for r in batch]) == {r.id for r in batch}

    real_upsert = cosmos.results.upsert_item
    in_flight = peak = 0

    async def upsert(body: dict[str, Any], **kwargs: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            if body["id"] == make_result(100).id:
                raise _http_error(400, {})
            return await real_upsert(body, **kwargs)
        finally:
            in_flight -= 1

    monkeypatch.setattr(cosmos.results, "upsert_item", upsert)
    with pytest.raises(StoreError, match="put_results on anomaly_results failed: HTTP 400"):
        await cosmos.put_results([make_result(n) for n in range(100, 164)])
    # the others were still written (the worker retries the batch; upserts make that harmless)
    assert await cosmos.get_result(make_result(163).id) is not None
    assert 1 < peak <= 16


# -- retries (no server needed) --------------------------------------------------------------


class _Response:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status_code = status
        self.headers = headers
        self.reason = "test"

    def text(self) -> str:
        return ""


def _http_error(status: int, headers: dict[str, str] | None = None) -> CosmosHttpResponseError:
    return CosmosHttpResponseError(
        status_code=status, message=f"status {status}", response=_Response(status, headers or {})
    )


async def test_throttling_is_retried_after_the_services_delay() -> None:
    calls: list[float] = []

    async def flaky() -> str:
        calls.append(time.perf_counter())
        if len(calls) < 3:
            raise _http_error(429, {"x-ms-retry-after-ms": "150"})
        return "ok"

    assert await _retry.call("put_results", "anomaly_results", flaky, idempotent=False) == "ok"
    assert len(calls) == 3
    assert all(b - a >= 0.14 for a, b in itertools.pairwise(calls))


async def test_retries_are_bounded_and_errors_name_operation_and_container() -> None:
    attempts = 0

    async def down() -> None:
        nonlocal attempts
        attempts += 1
        raise _http_error(503, {"x-ms-retry-after-ms": "1"})

    with pytest.raises(StoreError, match=r"query_results on anomaly_results failed: HTTP 503"):
        await _retry.call("query_results", "anomaly_results", down)
    assert attempts == _retry.ATTEMPTS


async def test_ambiguous_failures_are_not_retried_for_conditional_writes() -> None:
    attempts = 0

    async def timeout() -> None:
        nonlocal attempts
        attempts += 1
        raise _http_error(408)

    with pytest.raises(StoreError, match="HTTP 408"):
        await _retry.call("put_alarms", "unresolved_anomalies", timeout, idempotent=False)
    assert attempts == 1
    with pytest.raises(StoreError):
        await _retry.call("get_alarm", "unresolved_anomalies", timeout)
    assert attempts == 1 + _retry.ATTEMPTS


async def test_status_codes_map_to_store_errors() -> None:
    for status, kind in (
        (404, "NotFoundError"),
        (409, "AlreadyExistsError"),
        (412, "ConflictError"),
        (400, "StoreError"),
    ):
        error = _retry.translate("put_alarms", "unresolved_anomalies", _http_error(status))
        assert type(error).__name__ == kind
        assert str(error).startswith(f"put_alarms on unresolved_anomalies failed: HTTP {status}")
