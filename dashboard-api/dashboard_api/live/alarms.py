"""Each sensor's current alarm state, from the live alarms in Redis (``{stream}:alarms``: alarm key
-> the alarm with its open record), the same state the worker and the workflow change.

Read from Redis rather than the store: the live view must show an alarm the moment the fold opens
it, before its record reaches the store.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import cast

from redis.asyncio import Redis

from analyzer.alarms.codec import load_alarm
from analyzer.keys import RedisKeys
from dashboard_api.mapping import anomaly_state
from schemas.alarms import AlarmRecord, ProcessState
from schemas.public import SensorAlarmPublic

log = logging.getLogger(__name__)


async def read_sensor_alarms(redis: Redis, keys: RedisKeys) -> dict[str, list[AlarmRecord]]:
    """Sensor -> the open records that involve it (a sensor's own alarms and plant-wide ones naming it)."""
    raw = cast(dict[str, str], await redis.hgetall(keys.alarms))
    found: dict[str, list[AlarmRecord]] = defaultdict(list)
    for key, value in raw.items():
        try:
            record = load_alarm(value).record
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed live alarm %s", key)
            continue
        if record is not None:
            for sensor in dict.fromkeys(record.sensors):
                found[sensor].append(record)
    return found


def most_pressing(records: list[AlarmRecord]) -> SensorAlarmPublic | None:
    """The record an operator should see first: most severe, then active, then newest.

    >>> most_pressing([]) is None
    True
    """
    if not records:
        return None
    record = max(
        records,
        key=lambda r: (r.severity_level.rank, r.process == ProcessState.ACTIVE, r.opened_at, r.id),
    )
    return SensorAlarmPublic(
        anomaly_id=record.id,
        alarm_type=record.kind.value,
        severity=record.severity_level,
        state=anomaly_state(record).value,
        active=record.process == ProcessState.ACTIVE,
    )
