"""Every sensor's latest reading (the ``{stream}:latest`` hash) with its age, staleness and current
alarm state (:mod:`dashboard_api.live.alarms`).

A sensor is *stale* when its latest reading is older than ``stale_factor`` x its catalogued update
interval (default 3: three missed updates, so one late payload does not flag a sensor), or when
the window holds no reading of it at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import orjson
from pydantic import ValidationError
from redis.asyncio import Redis

from analyzer.keys import RedisKeys
from dashboard_api.live.alarms import most_pressing
from schemas.alarms import AlarmRecord
from schemas.catalog import SensorSpec
from schemas.public import SensorLimitsPublic, SensorLivePublic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LatestReading:
    value: float
    timestamp: datetime
    entry_id: str


def parse_latest(sensor: str, raw: str) -> LatestReading | None:
    """One field of the hash: ``{"value", "timestamp", "entry_id"}``; ``None`` if malformed.

    >>> latest = parse_latest("TI-101", '{"value": 351.2, "timestamp": "2026-11-23T08:00:00.000Z", "entry_id": "1-0"}')
    >>> latest.value, latest.timestamp.isoformat(), latest.entry_id
    (351.2, '2026-11-23T08:00:00+00:00', '1-0')
    >>> parse_latest("TI-101", "not json") is None
    True
    """
    try:
        fields = orjson.loads(raw)
        moment = datetime.fromisoformat(fields["timestamp"])
        if moment.tzinfo is None:
            raise ValueError("timestamp without a UTC offset")
        return LatestReading(float(fields["value"]), moment, str(fields["entry_id"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning("ignoring a malformed latest value of %s: %.80r", sensor, raw)
        return None


async def read_latest(redis: Redis, keys: RedisKeys) -> dict[str, LatestReading]:
    raw = cast(dict[str, str], await redis.hgetall(keys.latest))  # the client decodes responses
    parsed = {sensor: parse_latest(sensor, value) for sensor, value in raw.items()}
    return {sensor: reading for sensor, reading in parsed.items() if reading is not None}


def sensor_live(
    spec: SensorSpec,
    latest: LatestReading | None,
    now: datetime,
    stale_factor: float,
    alarms: list[AlarmRecord] | None = None,
) -> SensorLivePublic:
    stale_after = spec.update_interval_s * stale_factor
    age = (now - latest.timestamp).total_seconds() if latest is not None else None
    try:
        limits = SensorLimitsPublic(low_low=spec.low_low, low=spec.low, high=spec.high, high_high=spec.high_high)
    except ValidationError:  # pragma: no cover - the catalogue validated these already
        limits = SensorLimitsPublic()
    return SensorLivePublic(
        name=spec.name,
        unit=spec.unit,
        description=spec.description,
        core=spec.core,
        update_interval_s=spec.update_interval_s,
        limits=limits,
        value=latest.value if latest is not None else None,
        timestamp=latest.timestamp if latest is not None else None,
        result_id=latest.entry_id if latest is not None else None,
        age_s=round(age, 3) if age is not None else None,
        stale=age is None or age > stale_after,
        stale_after_s=stale_after,
        alarm=most_pressing(alarms or []),
        open_anomalies=len(alarms or []),
    )
