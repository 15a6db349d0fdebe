"""Landing payloads in Redis, as the production feed (Microsoft Fabric) does.

Each payload becomes one stream entry (field ``payload`` = the JSON document) added with ``XADD``
and the stream trimmed in the same command to the last 24 hours *by entry time* (``MINID``), not
by count: a feed that slows down keeps its whole day. The latest value and time of every sensor go
to the hash ``{stream}:latest`` for the dashboard's live view. The stream key never gets a TTL: the
consumer groups live inside it.

Invalid payloads are refused before anything is written, with a message naming the problem.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from redis.asyncio import Redis

from analyzer.catalog.index import SensorIndex
from analyzer.keys import PAYLOAD_FIELD, RedisKeys
from analyzer.reading import PayloadError, PayloadLimits, Reading, decode_json, to_reading
from analyzer.settings import Settings
from schemas.payload import wire_timestamp


def payload_limits(settings: Settings) -> PayloadLimits:
    """The payload rules of these settings (the landing's and the fold's are the same)."""
    return PayloadLimits(
        max_bytes=settings.max_payload_bytes,
        max_sensors=settings.max_sensors_per_payload,
        window_s=settings.window_s,
        future_skew_s=settings.max_future_skew_s,
    )


class Lander:
    """Validates payloads and lands them on the stream."""

    def __init__(self, redis: Redis, keys: RedisKeys, index: SensorIndex, settings: Settings) -> None:
        self.redis = redis
        self.keys = keys
        self.index = index
        self.limits = payload_limits(settings)
        self.window = timedelta(seconds=settings.window_s)

    def validate(self, document: Any, *, now: datetime | None = None) -> Reading:
        """Check one payload object; raises :class:`PayloadError` naming the problem."""
        if not isinstance(document, dict):
            raise PayloadError(f"payload must be a JSON object, got {type(document).__name__}")
        try:
            size: int | None = len(orjson.dumps(document))
        except (TypeError, orjson.JSONEncodeError):  # an int beyond 64 bits, a surrogate: the rules say which
            size = None
        if size is not None and size > self.limits.max_bytes:
            raise PayloadError(f"payload is {size} bytes; the limit is {self.limits.max_bytes} bytes")
        bounds = self.limits.bounds(now or datetime.now(UTC))
        reading = to_reading(document, "0-0", self.index, max_sensors=self.limits.max_sensors, bounds=bounds)
        if size is None:
            raise PayloadError("payload cannot be encoded as JSON")
        return reading

    def validate_json(self, text: bytes | str) -> Reading:
        return self.validate(decode_json(text, max_bytes=self.limits.max_bytes))

    async def land(self, readings: Sequence[Reading], *, at_reading_times: bool = False) -> list[str]:
        """Land validated readings in one round trip; returns the stream entry ids in order.

        ``at_reading_times`` (a backfill of history, e.g. the demo's simulated day): each entry's id
        is its reading time (``<ms>-*``), so the stream orders and trims the history as if it had
        arrived live. Used only when the readings are in time order and all after the stream's last
        entry; otherwise the ids are the arrival times, as for live data.
        """
        if not readings:
            return []
        min_id = f"{int((time.time() - self.window.total_seconds()) * 1000)}-0"
        ids = ["*"] * len(readings)
        if at_reading_times:
            ids = await self._reading_time_ids(readings)
        async with self.redis.pipeline(transaction=False) as pipe:
            for reading, wanted_id in zip(readings, ids, strict=True):
                document = {"timestamp": wire_timestamp(reading.timestamp), **reading.raw}
                pipe.xadd(
                    self.keys.stream,
                    {PAYLOAD_FIELD: orjson.dumps(document)},
                    id=wanted_id,
                    minid=min_id,
                    approximate=False,
                )
            entry_ids: list[str] = [str(i) for i in await pipe.execute()]
            for reading, entry_id in zip(readings, entry_ids, strict=True):
                stamp = wire_timestamp(reading.timestamp)
                latest = {
                    name: orjson.dumps({"value": value, "timestamp": stamp, "entry_id": entry_id})
                    for name, value in reading.raw.items()
                }
                pipe.hset(self.keys.latest, mapping=latest)  # type: ignore[arg-type]
            await pipe.execute()
        return entry_ids

    async def _reading_time_ids(self, readings: Sequence[Reading]) -> list[str]:
        ms = [int(r.timestamp.timestamp() * 1000) for r in readings]
        in_order = all(a < b for a, b in itertools.pairwise(ms))
        last: list[tuple[str, Any]] = await self.redis.xrevrange(self.keys.stream, count=1)  # type: ignore[assignment]
        last_ms = int(str(last[0][0]).split("-")[0]) if last else -1
        if not in_order or ms[0] <= last_ms:
            return ["*"] * len(readings)
        return [f"{m}-*" for m in ms]

    async def land_documents(self, documents: Sequence[Any]) -> list[str]:
        """Validate every document first and land them only if all are valid."""
        readings = []
        for position, document in enumerate(documents):
            try:
                readings.append(self.validate(document))
            except PayloadError as error:
                where = f"payload {position}: " if len(documents) > 1 else ""
                raise PayloadError(f"{where}{error}") from None
        return await self.land(readings)
