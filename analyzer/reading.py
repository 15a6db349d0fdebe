"""A stream entry, validated and laid out for the tiers.

Validation is shared by the landing (``POST /api/v1/ingest``, ``sensor-analyzer ingest``) and the
analyzer (worker, ``POST /api/v1/analyze``), so both refuse the same payloads with the same words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from analyzer.catalog.index import SensorIndex
from analyzer.keys import PAYLOAD_FIELD


class PayloadError(ValueError):
    """A payload that cannot be analysed; the message says why, for the caller or the dead letter."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One payload ready for the tiers.

    ``values`` is aligned with :attr:`SensorIndex.names` (NaN = sensor absent from this payload);
    ``raw`` keeps every numeric field of the payload, catalogued or not.
    """

    entry_id: str
    timestamp: datetime
    values: np.ndarray
    raw: dict[str, float]
    unknown: tuple[str, ...]

    @property
    def epoch_s(self) -> float:
        return self.timestamp.timestamp()


@dataclass(frozen=True)
class TimeBounds:
    """Accepted reading times, relative to ``now``: not older than the window, not far in the future."""

    now: datetime
    window: timedelta
    future_skew: timedelta

    def check(self, moment: datetime) -> None:
        if moment > self.now + self.future_skew:
            raise PayloadError(
                f"timestamp {moment.isoformat()} is more than {self.future_skew.total_seconds():.0f} s "
                f"in the future (now {self.now.isoformat()})"
            )
        if moment < self.now - self.window:
            raise PayloadError(
                f"timestamp {moment.isoformat()} is older than the {self.window.total_seconds() / 3600:g} h "
                "window and would be trimmed at once"
            )


def decode_json(data: bytes | str, *, max_bytes: int) -> dict[str, Any]:
    """Parse one payload document, refusing oversize input and anything but a JSON object."""
    size = len(data.encode() if isinstance(data, str) else data)
    if size > max_bytes:
        raise PayloadError(f"payload is {size} bytes; the limit is {max_bytes} bytes")
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise PayloadError(f"payload is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise PayloadError(f"payload must be a JSON object, got {type(document).__name__}")
    return document


def parse_timestamp(value: object) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        # Epoch seconds are accepted; anything beyond year 9999 is epoch milliseconds.
        seconds = value / 1000 if value > 253_402_300_799 else value
        return datetime.fromtimestamp(seconds, tz=UTC)
    if not isinstance(value, str):
        raise PayloadError("field 'timestamp' must be an ISO-8601 string or epoch seconds")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise PayloadError(f"field 'timestamp' is not an ISO-8601 time: {value!r}") from None
    if moment.tzinfo is None:
        raise PayloadError(f"field 'timestamp' has no time zone: {value!r} (use Z or +00:00)")
    return moment.astimezone(UTC)


def to_reading(
    document: dict[str, Any],
    entry_id: str,
    index: SensorIndex,
    *,
    max_sensors: int = 1000,
    bounds: TimeBounds | None = None,
) -> Reading:
    """Validate a flat payload object and lay it out for the tiers.

    Raises :class:`PayloadError` naming every offending field: missing timestamp or core sensors,
    non-numeric or non-finite values, too many fields, a time outside ``bounds``.
    """
    if "timestamp" not in document:
        raise PayloadError("payload has no 'timestamp' field")
    timestamp = parse_timestamp(document["timestamp"])
    if bounds is not None:
        bounds.check(timestamp)
    if len(document) - 1 > max_sensors:
        raise PayloadError(f"payload has {len(document) - 1} sensor fields; the limit is {max_sensors}")
    raw: dict[str, float] = {}
    non_numeric: list[str] = []
    non_finite: list[str] = []
    for name, value in document.items():
        if name == "timestamp":
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            non_numeric.append(name)
        elif not math.isfinite(value):
            non_finite.append(name)
        else:
            raw[name] = float(value)
    problems = []
    missing = [name for name in index.core_names if name not in document]
    if missing:
        problems.append(f"missing core sensors: {', '.join(missing)}")
    if non_numeric:
        problems.append(f"non-numeric values for: {', '.join(sorted(non_numeric))}")
    if non_finite:
        problems.append(f"non-finite values for: {', '.join(sorted(non_finite))}")
    if problems:
        raise PayloadError("; ".join(problems))
    values = np.full(len(index), np.nan)
    unknown: list[str] = []
    position = index.position
    for name, value in raw.items():
        slot = position.get(name)
        if slot is None:
            unknown.append(name)
        else:
            values[slot] = value
    return Reading(entry_id=entry_id, timestamp=timestamp, values=values, raw=raw, unknown=tuple(unknown))


def parse_entry(entry_id: str, fields: Mapping[str, str], index: SensorIndex, *, max_bytes: int) -> Reading:
    """A stream entry (``{"payload": "<json>"}``) as a :class:`Reading`; :class:`PayloadError` if malformed."""
    document = fields.get(PAYLOAD_FIELD)
    if document is None:
        present = ", ".join(sorted(fields)) or "none"
        raise PayloadError(f"stream entry has no '{PAYLOAD_FIELD}' field (fields: {present})")
    return to_reading(decode_json(document, max_bytes=max_bytes), entry_id, index)
