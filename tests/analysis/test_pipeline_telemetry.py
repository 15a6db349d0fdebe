"""The pipeline's metrics through the OpenTelemetry SDK's in-memory reader: entries analysed and
dead-lettered, alarms opened per tier, per-stage latency."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from analyzer import telemetry
from analyzer.runtime.services import Services, open_services
from analyzer.settings import Settings
from tests.integration.helpers import land, payloads

pytestmark = pytest.mark.redis


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    opened = await open_services(settings, statistical=False)
    yield opened
    await opened.close()


async def test_the_pipeline_counts_what_it_analysed(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = InMemoryMetricReader()
    metrics = telemetry.PipelineMetrics(meter_provider=MeterProvider(metric_readers=[reader]))
    monkeypatch.setattr(telemetry, "_pipeline_metrics", metrics)
    ids = await land(services.lander, payloads(5, breach=lambda i: i >= 3))
    await services.redis.xadd(services.keys.stream, {"payload": "{broken"})
    entries = await services.redis.xrange(services.keys.stream)
    await services.pipeline.analyze_entries(entries)

    data = reader.get_metrics_data()
    points = {
        (metric.name, tuple(sorted(point.attributes.items()))): point
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    }
    assert points[("analyzer.entries.analysed", (("source", "worker"),))].value == len(ids)
    assert points[("analyzer.entries.dead_lettered", (("source", "analyzer"),))].value == 1
    # a High-High breach opens two alarms (High, and High-High escalating it), both tier 1
    assert points[("analyzer.anomalies.opened", (("tier", "heuristic"),))].value == 2
    stages = {dict(attrs)["tier"] for name, attrs in points if name == "analyzer.tier.duration"}
    assert {"heuristic", "alarms", "results", "store"} <= stages
