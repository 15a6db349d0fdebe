"""The live view of every sensor: latest value, age, staleness, limits and alarm state; and one sensor's
readings over a time range, downsampled."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Path, Query, status

from analyzer.store._paging import to_micros
from dashboard_api.api.params import End, Start, aware_now, check_range, unprocessable
from dashboard_api.deps import CatalogDep, ConfigDep, KeysDep, RedisDep, StateDep, ViewerDep
from dashboard_api.errors import responses
from dashboard_api.live.alarms import read_sensor_alarms
from dashboard_api.live.latest import read_latest, sensor_live
from dashboard_api.live.series import Buckets, downsample, scan_stream
from schemas.catalog import SensorCatalog, SensorSpec
from schemas.public import ReadingBucketPublic, ReadingSeriesPublic, SensorLivePublic, SensorsLivePublic

router = APIRouter(prefix="/api/v1/live/sensors", tags=["live"], responses=responses(401, 403, 422, 503))

SensorName = Annotated[str, Path(max_length=64, description="a catalogued sensor", examples=["TI-101"])]


def _spec(catalog: SensorCatalog, name: str) -> SensorSpec:
    for spec in catalog.sensors:
        if spec.name == name:
            return spec
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sensor {name!r} in the catalogue")


@router.get("", response_model=SensorsLivePublic)
async def live_sensors(
    _: ViewerDep, redis: RedisDep, keys: KeysDep, catalog: CatalogDep, config: ConfigDep
) -> SensorsLivePublic:
    """Every catalogued sensor with its latest reading, its age, whether it is stale (no reading
    for longer than `stale_factor` x its update interval; default factor 3) and its current alarm
    state: `alarm` is its most pressing open anomaly (`null`: normal), `open_anomalies` how many."""
    latest, alarms = await asyncio.gather(read_latest(redis, keys), read_sensor_alarms(redis, keys))
    now = aware_now()
    sensors = [
        sensor_live(spec, latest.get(spec.name), now, config.stale_factor, alarms.get(spec.name))
        for spec in catalog.sensors
    ]
    return SensorsLivePublic(
        data=sensors,
        count=len(sensors),
        read_at=now,
        stale_count=sum(sensor.stale for sensor in sensors),
        alarm_count=sum(sensor.alarm is not None for sensor in sensors),
    )


@router.get("/{sensor}", response_model=SensorLivePublic, responses=responses(404))
async def live_sensor(
    sensor: SensorName, _: ViewerDep, redis: RedisDep, keys: KeysDep, catalog: CatalogDep, config: ConfigDep
) -> SensorLivePublic:
    """One sensor's latest reading, age, staleness, limits and current alarm state."""
    spec = _spec(catalog, sensor)
    latest, alarms = await asyncio.gather(read_latest(redis, keys), read_sensor_alarms(redis, keys))
    return sensor_live(spec, latest.get(sensor), aware_now(), config.stale_factor, alarms.get(sensor))


@router.get("/{sensor}/readings", response_model=ReadingSeriesPublic, responses=responses(404, 422))
async def sensor_readings(
    sensor: SensorName,
    _: ViewerDep,
    state: StateDep,
    start: Start = None,
    end: End = None,
    points: Annotated[int, Query(ge=1, le=20_000, description="most points to return")] = 500,
) -> ReadingSeriesPublic:
    """One sensor's readings in `[start, end)` (default: the last hour), downsampled to at most
    `points` buckets, each with its min, max, mean and count, so a short spike stays visible.

    Ranges inside the 24 h window come from the stream (raw readings as landed); a range that
    starts earlier comes from the stored analyses (with operators' corrections applied).
    """
    config = state.config
    spec = _spec(state.catalog, sensor)
    end = end or aware_now()
    start = start or end - timedelta(hours=1)
    check_range(start, end, longest=timedelta(days=config.series_max_span_days))
    if points > config.series_max_points:
        raise unprocessable(f"points may be at most {config.series_max_points}")
    window_start = aware_now() - timedelta(seconds=state.settings.window_s)
    source: Literal["stream", "results"]
    if start >= window_start:
        scan = await scan_stream(
            state.redis,
            state.keys,
            sensor,
            start,
            end,
            max_entries=config.series_max_entries,
            early_s=state.settings.max_future_skew_s,
            late_s=config.series_landing_lag_s,
        )
        times, values, truncated, source = scan.times_us, scan.values, scan.truncated, "stream"
    else:
        store = await state.store.get()
        history = await store.sensor_history(sensor, start, end, config.series_max_entries)
        times = np.array(history.times_us, dtype=np.int64)
        values = np.array(history.values, dtype=float)
        truncated, source = history.truncated, "results"
    buckets = downsample(times, values, to_micros(start), to_micros(end), points)
    data = _public(buckets)
    return ReadingSeriesPublic(
        sensor=sensor,
        unit=spec.unit,
        start=start,
        end=end,
        source=source,
        readings=int(buckets.count.sum()),
        truncated=truncated,
        data=data,
        count=len(data),
    )


def _public(buckets: Buckets) -> list[ReadingBucketPublic]:
    epoch = datetime(1970, 1, 1, tzinfo=aware_now().tzinfo)
    return [
        ReadingBucketPublic(
            start=epoch + timedelta(microseconds=start),
            end=epoch + timedelta(microseconds=end),
            min=low,
            max=high,
            mean=mean,
            count=count,
        )
        for start, end, low, high, mean, count in zip(
            buckets.start_us.tolist(),
            buckets.end_us.tolist(),
            buckets.low.tolist(),
            buckets.high.tolist(),
            buckets.mean.tolist(),
            buckets.count.tolist(),
            strict=True,
        )
    ]
