"""analyzer/telemetry.py with the real OpenTelemetry SDK: in-memory span exporter and metric reader,
a real Redis for the lag, and (in a child process) the real Azure Monitor exporter posting to a
local ingestion endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis

from analyzer import telemetry
from analyzer.telemetry import (
    ENTRY_ID_ATTRIBUTE,
    PipelineLagProbe,
    PipelineMetrics,
    instrument_app,
    oldest_unanalysed_age_s,
    tag_request_span,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
def reader() -> tuple[MeterProvider, InMemoryMetricReader]:
    memory = InMemoryMetricReader()
    return MeterProvider(metric_readers=[memory]), memory


def _points(memory: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = memory.get_metrics_data()
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


# --- request spans -------------------------------------------------------------------------------


def test_request_spans_carry_the_route_and_the_entry_id_and_skip_the_probes(spans) -> None:
    provider, exporter = spans
    app = FastAPI()

    @app.post("/api/v1/analyze")
    def analyze(body: dict[str, str]) -> dict[str, str]:
        tag_request_span(body["entry_id"])
        return {"id": body["entry_id"]}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    instrument_app(app, tracer_provider=provider, meter_provider=MeterProvider())
    with TestClient(app) as client:
        assert client.post("/api/v1/analyze", json={"entry_id": "1700000000000-3"}).status_code == 200
        assert client.get("/healthz").status_code == 200
    server = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
    assert len(server) == 1, [s.name for s in exporter.get_finished_spans()]
    assert server[0].attributes is not None
    assert server[0].attributes["http.route"] == "/api/v1/analyze"
    assert server[0].attributes[ENTRY_ID_ATTRIBUTE] == "1700000000000-3"


def test_the_analyzer_app_is_instrumented() -> None:
    from analyzer.api.main import create_app

    app = create_app()
    assert getattr(app, "_is_instrumented_by_opentelemetry", False) is True


# --- the metrics facade --------------------------------------------------------------------------


def test_counters_histogram_and_entry_spans(reader, spans) -> None:
    meter_provider, memory = reader
    tracer_provider, exporter = spans
    facade = PipelineMetrics(meter_provider=meter_provider, tracer_provider=tracer_provider)
    facade.entries_analysed(5, source="worker")
    facade.entries_analysed(2, source="worker")
    facade.entries_analysed(0, source="worker")  # nothing recorded
    facade.entries_dead_lettered(1, source="analyzer")
    facade.anomalies_opened(3, tier="heuristic")
    facade.record_tier_latency("statistical", 0.25)
    with pytest.raises(RuntimeError), facade.time_tier("llm"):
        raise RuntimeError("the tier failed, the latency is still recorded")
    with facade.entry_span("analyse entry", "42-0", tier="heuristic"):
        pass

    points = _points(memory)
    assert [(p.value, dict(p.attributes)) for p in points[telemetry.ENTRIES_ANALYSED_METRIC]] == [
        (7, {"source": "worker"})
    ]
    assert [p.value for p in points[telemetry.DEAD_LETTERED_METRIC]] == [1]
    assert [(p.value, dict(p.attributes)) for p in points[telemetry.ANOMALIES_OPENED_METRIC]] == [
        (3, {"tier": "heuristic"})
    ]
    latency = {p.attributes["tier"]: p for p in points[telemetry.TIER_LATENCY_METRIC]}
    assert set(latency) == {"statistical", "llm"}
    assert latency["statistical"].count == 1 and latency["statistical"].sum == pytest.approx(0.25)
    assert latency["llm"].count == 1
    [span] = exporter.get_finished_spans()
    assert span.name == "analyse entry"
    assert dict(span.attributes or {}) == {ENTRY_ID_ATTRIBUTE: "42-0", "tier": "heuristic"}


# --- the lag -----------------------------------------------------------------------------------


async def _add(redis: Redis, stream: str, age_s: float, now_ms: int) -> str:
    return await redis.xadd(stream, {"payload": "{}"}, id=f"{now_ms - int(age_s * 1000)}-0")


async def test_lag_is_the_age_of_the_oldest_entry_the_group_has_not_finished(
    redis_client: Redis, stream_key: str
) -> None:
    now = int(time.time() * 1000)
    assert await oldest_unanalysed_age_s(redis_client, stream_key, "g", now_ms=now) == 0  # no stream
    first = await _add(redis_client, stream_key, 120, now)
    second = await _add(redis_client, stream_key, 60, now)
    await _add(redis_client, stream_key, 10, now)
    # No group yet: nothing was consumed, the oldest entry waits (a trigger that never started).
    assert await oldest_unanalysed_age_s(redis_client, stream_key, "g", now_ms=now) == 120
    await redis_client.xgroup_create(stream_key, "g", id="0")
    assert await oldest_unanalysed_age_s(redis_client, stream_key, "g", now_ms=now) == 120  # undelivered
    await redis_client.xreadgroup("g", "c1", {stream_key: ">"}, count=2)
    assert await oldest_unanalysed_age_s(redis_client, stream_key, "g", now_ms=now) == 120  # pending
    await redis_client.xack(stream_key, "g", first)
    assert await oldest_unanalysed_age_s(redis_client, stream_key, "g", now_ms=now) == 60  # pending second
    await redis_client.xack(stream_key, "g", second)
    assert await oldest_unanalysed_age_s(redis_client, stream_key, "g", now_ms=now) == 10  # undelivered third
    await redis_client.xreadgroup("g", "c1", {stream_key: ">"})
    await redis_client.xack(stream_key, "g", *[i for i, _ in await redis_client.xrange(stream_key)])
    assert await oldest_unanalysed_age_s(redis_client, stream_key, "g", now_ms=now) == 0


async def test_the_lag_gauge_exports_the_probe_samples(redis_client: Redis, stream_key: str, reader) -> None:
    meter_provider, memory = reader
    facade = PipelineMetrics(meter_provider=meter_provider)
    await _add(redis_client, stream_key, 90, int(time.time() * 1000))
    await redis_client.xgroup_create(stream_key, "ForwardStreamEntry", id="0")
    probe = PipelineLagProbe(redis_client, [(stream_key, "ForwardStreamEntry")])
    forget = facade.observe_pipeline_lag(probe)
    stop = asyncio.Event()
    run = asyncio.create_task(probe.run(stop, interval_s=0.05))
    await asyncio.sleep(0.2)
    [point] = _points(memory)[telemetry.PIPELINE_LAG_METRIC]
    assert 89 <= point.value <= 95
    assert dict(point.attributes) == {"stream": stream_key, "group": "ForwardStreamEntry"}
    stop.set()
    await run
    forget()
    assert telemetry.PIPELINE_LAG_METRIC not in _points(memory)


def test_without_a_connection_string_nothing_is_configured() -> None:
    from opentelemetry import trace

    telemetry.configure_telemetry("sensor-analyzer", None)
    telemetry.configure_telemetry("sensor-analyzer", "  ")
    assert telemetry._configured is None
    assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"


# --- the real exporter, end to end ------------------------------------------------------------


@pytest.fixture
def ingestion() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local stand-in for the Application Insights ingestion endpoint (POST /v2.1/track)."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            envelopes = json.loads(body)
            envelopes = envelopes if isinstance(envelopes, list) else [envelopes]
            received.extend(envelopes)
            answer = json.dumps({"itemsReceived": len(envelopes), "itemsAccepted": len(envelopes), "errors": []})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(answer.encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", received
    server.shutdown()
    server.server_close()


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from opentelemetry import metrics, trace
    from redis.asyncio import Redis
    from analyzer import telemetry

    async def main(redis_url, stream):
        redis = Redis.from_url(redis_url, decode_responses=True)
        await redis.xadd(stream, {"payload": "{}"}, id="1-0")  # very old: a large lag
        stop = asyncio.Event()
        settings = telemetry.TelemetrySettings(_env_file=None, pipeline_lag_group="ForwardStreamEntry")
        task = asyncio.create_task(
            telemetry.run_process_telemetry(redis, stream, telemetry.ANALYZER_SERVICE_NAME, stop, settings)
        )
        for _ in range(200):  # configuring the exporter blocks the loop a moment: wait for the first sample
            if telemetry.pipeline_metrics().pipeline_lag_samples():
                break
            await asyncio.sleep(0.05)
        telemetry.pipeline_metrics().entries_dead_lettered(2, source="analyzer")
        with telemetry.pipeline_metrics().entry_span("analyse entry", "1-0"):
            pass
        metrics.get_meter_provider().force_flush()
        trace.get_tracer_provider().force_flush()
        stop.set()
        await task
        await redis.aclose()
        metrics.get_meter_provider().shutdown()
        trace.get_tracer_provider().shutdown()

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


@pytest.mark.slow
def test_the_azure_monitor_exporter_sends_what_the_alerts_query(ingestion, redis_url: str, stream_key: str) -> None:
    """configure_telemetry with a connection string: the real exporter posts spans and the metrics the
    alerts read, under the analyzer's role name (a child process: global providers are set once)."""
    endpoint, received = ingestion
    env = {
        **os.environ,
        "APPLICATION_INSIGHTS_CONNECTION_STRING": (
            f"InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={endpoint}"
        ),
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "PYTHONPATH": str(REPO_ROOT),
    }
    result = subprocess.run(
        [sys.executable, "-c", CHILD, redis_url, stream_key],
        env=env, capture_output=True, text=True, timeout=120, check=False, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    # The exporter's own delivery statistics ("Item_*" metrics) come under its own resource.
    ours = [
        e
        for e in received
        if not (
            e["data"]["baseType"] == "MetricData" and e["data"]["baseData"]["metrics"][0]["name"].startswith("Item_")
        )
    ]
    assert ours and {e.get("tags", {}).get("ai.cloud.role") for e in ours} == {telemetry.ANALYZER_SERVICE_NAME}
    metrics_sent = {
        m["name"]: m
        for e in received
        if e["data"]["baseType"] == "MetricData"
        for m in e["data"]["baseData"]["metrics"]
    }
    assert telemetry.PIPELINE_LAG_METRIC in metrics_sent and metrics_sent[telemetry.PIPELINE_LAG_METRIC]["value"] > 1e6
    lag_props = next(
        e["data"]["baseData"].get("properties", {})
        for e in received
        if e["data"]["baseType"] == "MetricData"
        and e["data"]["baseData"]["metrics"][0]["name"] == telemetry.PIPELINE_LAG_METRIC
    )
    assert lag_props["group"] == "ForwardStreamEntry"
    assert metrics_sent[telemetry.DEAD_LETTERED_METRIC]["value"] == 2
    spans = [e for e in received if e["data"]["baseType"] in ("RemoteDependencyData", "RequestData")]
    assert any(s["data"]["baseData"].get("properties", {}).get(ENTRY_ID_ATTRIBUTE) == "1-0" for s in spans)
