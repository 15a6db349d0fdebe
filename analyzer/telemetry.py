"""Observability: OpenTelemetry traces, metrics and logs, exported to Azure Monitor when configured.

* :func:`configure_telemetry` turns the exporter on (``azure-monitor-opentelemetry``) when
  ``APPLICATION_INSIGHTS_CONNECTION_STRING`` is set, and does nothing otherwise: the OpenTelemetry
  API then stays a no-op, so instrumented code costs next to nothing locally.
* :func:`instrument_app` gives a FastAPI app request spans (health probes excluded);
  :func:`tag_request_span` adds the stream entry id to the request being served.
* :class:`PipelineMetrics` is the facade the worker and the pipeline call: entries analysed and
  dead-lettered, anomalies opened (counters), per-tier latency (histogram, attribute ``tier``), a
  span helper that records the entry id, and the analysis lag gauge.
* :class:`PipelineLagProbe` measures the lag: the age of the oldest entry a consumer group has not
  finished (pending, or not yet delivered), from ``XINFO GROUPS`` and ``XPENDING``. Observable-gauge
  callbacks run on the exporter's thread, so the probe samples Redis on the event loop and the
  callback only reads the last sample.

The metric names are what the alerts query (``infrastructure/monitoring.tf``; a test compares them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation
from opentelemetry.trace import Span, Tracer, TracerProvider
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from analyzer.keys import CONSUMER_GROUP

if TYPE_CHECKING:
    from fastapi import FastAPI
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

#: OpenTelemetry ``service.name`` of the analyzer = Application Insights ``cloud_RoleName``.
ANALYZER_SERVICE_NAME = "sensor-analyzer"
INSTRUMENTATION_NAME = "analyzer"

PIPELINE_LAG_METRIC = "analyzer.pipeline.lag"
ENTRIES_ANALYSED_METRIC = "analyzer.entries.analysed"
DEAD_LETTERED_METRIC = "analyzer.entries.dead_lettered"
ANOMALIES_OPENED_METRIC = "analyzer.anomalies.opened"
TIER_LATENCY_METRIC = "analyzer.tier.duration"
#: Span attribute holding the Redis stream entry id (``"<ms>-<seq>"``).
ENTRY_ID_ATTRIBUTE = "stream.entry_id"
#: Probes run every few seconds; tracing them would drown the requests that matter.
EXCLUDED_URLS = "/healthz,/readyz"


class TelemetrySettings(BaseSettings):
    """The telemetry's own settings (environment variables, ``.env``)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    application_insights_connection_string: SecretStr | None = None
    #: The consumer group whose lag is exported: the local worker's group, or in Azure the Redis
    #: trigger's group (named after its function, ``ForwardStreamEntry``).
    pipeline_lag_group: str = CONSUMER_GROUP
    pipeline_lag_interval_s: float = Field(15.0, gt=0)

    @property
    def connection_string(self) -> str | None:
        value = self.application_insights_connection_string
        return value.get_secret_value().strip() or None if value is not None else None


# --- Exporter ----------------------------------------------------------------------------------

_configure_lock = threading.Lock()
_configured: tuple[str, str] | None = None


def configure_telemetry(service_name: str, connection_string: str | None) -> None:
    """Export traces, metrics and logs to Application Insights when ``connection_string`` is set.

    Nothing happens without a connection string. Idempotent: the first configuration of a process
    wins (OpenTelemetry's global providers can be set once); a later call with other values logs a
    warning and changes nothing.
    """
    global _configured
    if not connection_string or not connection_string.strip():
        return
    with _configure_lock:
        if _configured is not None:
            if _configured != (service_name, connection_string):
                log.warning("telemetry already configured for %s; ignoring %s", _configured[0], service_name)
            return
        from azure.monitor.opentelemetry import configure_azure_monitor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource

        configure_azure_monitor(
            connection_string=connection_string,
            resource=Resource.create({SERVICE_NAME: service_name}),
            # FastAPI apps are instrumented explicitly (instrument_app), once, with the probes excluded.
            instrumentation_options={"fastapi": {"enabled": False}},
            enable_live_metrics=False,
        )
        _configured = (service_name, connection_string)
        log.info("telemetry exported to Azure Monitor as %s", service_name)


def instrument_app(
    app: FastAPI, *, tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> None:
    """Request spans (and HTTP server metrics) for every route but the health probes.

    Without providers it uses the global ones, which may be set later by :func:`configure_telemetry`
    (the API hands out proxies until then), so it can run when the app is built.
    """
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=tracer_provider, meter_provider=meter_provider, excluded_urls=EXCLUDED_URLS
    )


def tag_request_span(entry_id: str) -> None:
    """Record the stream entry id on the span of the request being served (no-op without one)."""
    trace.get_current_span().set_attribute(ENTRY_ID_ATTRIBUTE, entry_id)


# --- Pipeline lag ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


async def oldest_unanalysed_entry_id(redis: Redis, stream: str, group: str) -> str | None:
    """The id of the oldest entry ``group`` has not finished: the oldest pending entry or the first
    one not yet delivered, whichever is older. Without the group, nothing was consumed: the oldest
    entry of the stream. None when nothing waits."""
    if not await redis.exists(stream):
        return None
    groups = {_text(info["name"]): info for info in await redis.xinfo_groups(stream)}
    if group not in groups:
        oldest = await redis.xrange(stream, "-", "+", count=1)
        return _text(oldest[0][0]) if oldest else None
    candidates: list[str] = []
    if int(groups[group]["pending"]):
        summary = await redis.xpending(stream, group)
        if summary.get("min") is not None:
            candidates.append(_text(summary["min"]))
    last_delivered = _text(groups[group]["last-delivered-id"])
    undelivered = await redis.xrange(stream, f"({last_delivered}", "+", count=1)
    if undelivered:
        candidates.append(_text(undelivered[0][0]))
    return min(candidates, key=lambda i: tuple(int(p) for p in i.split("-"))) if candidates else None


async def oldest_unanalysed_age_s(redis: Redis, stream: str, group: str, *, now_ms: int | None = None) -> float:
    """Seconds since the oldest unfinished entry of ``group`` landed (0 when nothing waits)."""
    entry_id = await oldest_unanalysed_entry_id(redis, stream, group)
    if entry_id is None:
        return 0.0
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return max(0.0, (now - _entry_ms(entry_id)) / 1000)


@dataclass
class PipelineLagProbe:
    """Samples the lag of some ``(stream, group)`` pairs; the gauge callback reads the samples."""

    redis: Redis
    targets: Sequence[tuple[str, str]]
    samples: dict[tuple[str, str], float] = field(default_factory=dict)

    async def sample(self) -> dict[tuple[str, str], float]:
        for stream, group in self.targets:
            try:
                self.samples[(stream, group)] = await oldest_unanalysed_age_s(self.redis, stream, group)
            except Exception as error:  # a Redis hiccup must not stop the probe; the gauge keeps the last value
                log.warning("could not measure the lag of %s/%s: %s", stream, group, error)
        return dict(self.samples)

    async def run(self, stop: asyncio.Event, interval_s: float) -> None:
        while not stop.is_set():
            await self.sample()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    def observe(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(age, {"stream": stream, "group": group}) for (stream, group), age in self.samples.items()]


# --- The metrics facade ------------------------------------------------------------------------


class PipelineMetrics:
    """Counters, the tier latency histogram, entry spans and the lag gauge of the analysis pipeline.

    Without providers it uses the global ones (no-ops until :func:`configure_telemetry`).
    """

    def __init__(self, meter_provider: MeterProvider | None = None, tracer_provider: TracerProvider | None = None):
        self.meter: Meter = metrics.get_meter(INSTRUMENTATION_NAME, meter_provider=meter_provider)
        self.tracer: Tracer = trace.get_tracer(INSTRUMENTATION_NAME, tracer_provider=tracer_provider)
        self._analysed = self.meter.create_counter(
            ENTRIES_ANALYSED_METRIC, unit="{entry}", description="Stream entries analysed and stored"
        )
        self._dead_lettered = self.meter.create_counter(
            DEAD_LETTERED_METRIC, unit="{entry}", description="Stream entries sent to the dead-letter stream"
        )
        self._anomalies_opened = self.meter.create_counter(
            ANOMALIES_OPENED_METRIC, unit="{episode}", description="Anomaly episodes opened"
        )
        self._tier_latency = self.meter.create_histogram(
            TIER_LATENCY_METRIC, unit="s", description="Time one tier took for one batch or entry"
        )
        # One gauge for the process, reading every registered probe: an instrument can be created
        # once per name, and a process may start and stop several apps (tests, `sensor-analyzer run`).
        self._lag_probes: list[PipelineLagProbe] = []
        self._lag_gauge_created = False

    def entries_analysed(self, count: int, *, source: str = "worker") -> None:
        if count:
            self._analysed.add(count, {"source": source})

    def entries_dead_lettered(self, count: int, *, source: str = "analyzer") -> None:
        if count:
            self._dead_lettered.add(count, {"source": source})

    def anomalies_opened(self, count: int, *, tier: str) -> None:
        if count:
            self._anomalies_opened.add(count, {"tier": tier})

    def record_tier_latency(self, tier: str, seconds: float) -> None:
        self._tier_latency.record(seconds, {"tier": tier})

    @contextlib.contextmanager
    def time_tier(self, tier: str) -> Iterator[None]:
        """Record how long the block took as ``tier``'s latency (also when it raises)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.record_tier_latency(tier, time.perf_counter() - started)

    @contextlib.contextmanager
    def entry_span(self, name: str, entry_id: str, **attributes: str | int | float | bool) -> Iterator[Span]:
        """A span for work on one stream entry, with its id as ``stream.entry_id``."""
        with self.tracer.start_as_current_span(name, attributes={ENTRY_ID_ATTRIBUTE: entry_id, **attributes}) as span:
            yield span

    def observe_pipeline_lag(self, probe: PipelineLagProbe) -> Callable[[], None]:
        """Export the probe's samples as the gauge ``analyzer.pipeline.lag`` (seconds; attributes
        ``stream``, ``group``). Returns the function that stops exporting them."""
        self._lag_probes.append(probe)
        if not self._lag_gauge_created:
            self.meter.create_observable_gauge(
                PIPELINE_LAG_METRIC,
                callbacks=[self._observe_lag],
                unit="s",
                description="Age of the oldest stream entry the consumer group has not analysed yet",
            )
            self._lag_gauge_created = True
        return lambda: self._lag_probes.remove(probe) if probe in self._lag_probes else None

    def pipeline_lag_samples(self) -> dict[tuple[str, str], float]:
        """The lag the gauge reports now, per ``(stream, group)``."""
        return {target: age for probe in list(self._lag_probes) for target, age in probe.samples.items()}

    def _observe_lag(self, options: CallbackOptions) -> Iterable[Observation]:
        return [observation for probe in list(self._lag_probes) for observation in probe.observe(options)]


_pipeline_metrics: PipelineMetrics | None = None


def pipeline_metrics() -> PipelineMetrics:
    """The process's facade over the global providers (what the worker and the pipeline call)."""
    global _pipeline_metrics
    if _pipeline_metrics is None:
        _pipeline_metrics = PipelineMetrics()
    return _pipeline_metrics


async def run_process_telemetry(
    redis: Redis, stream: str, service_name: str, stop: asyncio.Event, settings: TelemetrySettings | None = None
) -> None:
    """What an analyzer process runs beside its work: configure the exporter, then export the lag
    of the configured consumer group, sampled until ``stop`` is set."""
    settings = settings or TelemetrySettings()
    configure_telemetry(service_name, settings.connection_string)
    probe = PipelineLagProbe(redis, [(stream, settings.pipeline_lag_group)])
    forget = pipeline_metrics().observe_pipeline_lag(probe)
    try:
        await probe.run(stop, settings.pipeline_lag_interval_s)
    finally:
        forget()
