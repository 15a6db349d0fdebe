"""A stream entry, validated and laid out for the tiers.

Validation is shared by the landing (``POST /api/v1/ingest``, ``sensor-analyzer ingest``) and the
analyzer (worker, ``POST /api/v1/analyze``), so both refuse the same payloads with the same words.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from analyzer.catalog.index import SensorIndex
from analyzer.keys import PAYLOAD_FIELD

#: The largest magnitude a sensor value may have. Far beyond any instrument, and small enough that
#: deviations, squares and sums over a day of readings stay finite (1e308 made them infinite).
MAX_MAGNITUDE = 1e12
#: Sensor names: at most this many characters, printable, valid Unicode, unique within a payload.
MAX_NAME_CHARS = 128
#: JSON nesting (a payload is flat; the /analyze body nests it once).
MAX_DEPTH = 32


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


@dataclass(frozen=True)
class PayloadLimits:
    """What a payload may be, at every entrance (landing, ``/analyze``, the worker's parse).

    The defaults are the documented ones (README, "Payload rules"); the settings override the size,
    field count, window and skew.
    """

    max_bytes: int = 64 * 1024
    max_sensors: int = 1000
    window_s: float = 24 * 3600
    future_skew_s: float = 300

    def bounds(self, now: datetime) -> TimeBounds:
        return TimeBounds(now, timedelta(seconds=self.window_s), timedelta(seconds=self.future_skew_s))

    def bounds_of_entry(self, entry_id: str) -> TimeBounds | None:
        """The bounds against the entry's landing time (its id is the Redis clock at XADD): the same
        verdict whoever parses the entry and whenever, so 1 or 4 workers and a replay agree."""
        head = entry_id.split("-", 1)[0]
        if not head.isdigit() or int(head) == 0:
            return None
        return self.bounds(datetime.fromtimestamp(int(head) / 1000, tz=UTC))


def check_document(document: object, raw: bytes | None = None) -> dict[str, Any]:
    """The rules on the document's shape: a JSON object, nested at most ``MAX_DEPTH`` levels, valid
    sensor names, and (when ``raw``, the text it was parsed from, is given) no duplicate keys."""
    if not isinstance(document, dict):
        raise PayloadError(f"payload must be a JSON object, got {type(document).__name__}")
    keys, colons = _walk(document) if raw is not None or _nested(document) else (0, 0)
    # orjson keeps the last of duplicate keys silently. Every key occurrence is followed by one ':'
    # outside strings, so without \u escapes (which could hide a ':') the text holds exactly
    # keys + colons-inside-strings ':' unless a key repeats; only then the exact (slow) check runs.
    if raw is not None and (b"\\u" in raw or raw.count(b":") != keys + colons):
        _refuse_duplicates(raw)
    if not _names_plainly_valid(document):
        problems = [problem for name in document if (problem := name_problem(name)) is not None]
        if problems:
            raise PayloadError("; ".join(problems[:5]))
    return document


def _names_plainly_valid(document: dict[str, Any]) -> bool:
    """The common case in C-level string methods: every name printable ASCII (so no control
    characters, no surrogates) and of an accepted length; anything else gets the per-name check."""
    joined = "".join(document)
    return (
        joined.isascii()
        and joined.isprintable()
        and (not document or (min(map(len, document)) > 0 and max(map(len, document)) <= MAX_NAME_CHARS))
    )


def _nested(document: dict[str, Any]) -> bool:
    # map(type) runs in C: no Python step per value (a payload has ~100).
    return not _CONTAINERS.isdisjoint(map(type, document.values()))


_CONTAINERS = frozenset((dict, list))
_NUMBERS = frozenset((float, int))


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a sensor name, or ``None``."""
    if name == "":
        return "a sensor name is empty"
    if len(name) > MAX_NAME_CHARS:
        return f"sensor name {name[:20]!r}... has {len(name)} characters; the limit is {MAX_NAME_CHARS}"
    if not name.isprintable() and any(unicodedata.category(c) == "Cc" for c in name):
        return f"sensor name {name[:40]!r} contains control characters"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return f"sensor name {name[:40]!r} contains surrogate code points (not valid Unicode)"
    return None


def _walk(document: dict[str, Any]) -> tuple[int, int]:
    """(keys in every object, ':' inside keys and string values); refuses nesting beyond ``MAX_DEPTH``."""
    if not _nested(document):  # a flat payload: string methods, no per-item Python work beyond one pass
        texts = "".join(document) + "".join(v for v in document.values() if type(v) is str)
        return len(document), texts.count(":")
    keys = colons = 0
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise PayloadError(f"payload is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            keys += len(value)
            for key, item in value.items():
                colons += key.count(":")
                if isinstance(item, str):
                    colons += item.count(":")
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1))
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, str):
                    colons += item.count(":")
                elif isinstance(item, dict | list):
                    stack.append((item, depth + 1))
    return keys, colons


def _refuse_duplicates(raw: bytes) -> None:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise PayloadError(f"payload has a duplicate key {key[:40]!r}")
            seen.add(key)
        return dict(items)

    try:
        json.loads(raw, object_pairs_hook=pairs)
    except PayloadError:
        raise
    except (ValueError, RecursionError):  # orjson parsed it; the stdlib's stricter limits are not ours
        return


def decode_json(data: bytes | str, *, max_bytes: int) -> dict[str, Any]:
    """Parse one payload document, refusing oversize input and anything but a JSON object."""
    raw = data.encode("utf-8", errors="surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise PayloadError(f"payload is {len(raw)} bytes; the limit is {max_bytes} bytes")
    return check_document(parse_json(raw), raw)


def parse_json(raw: bytes) -> Any:
    """orjson's parse with the analyzer's words for what it refuses."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        text = str(error)
        if "depth limit" in text:
            raise PayloadError(f"payload is nested deeper than {MAX_DEPTH} levels") from None
        if "surrogate" in text:
            raise PayloadError(f"payload contains surrogate code points (not valid Unicode): {text}") from None
        if "infinity" in text:
            raise PayloadError(f"a value exceeds the magnitude limit {MAX_MAGNITUDE:g}: {text}") from None
        raise PayloadError(f"payload is not valid JSON: {text}") from None


def parse_timestamp(value: object) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        # Epoch seconds are accepted; anything beyond year 9999 is epoch milliseconds.
        seconds = value / 1000 if value > 253_402_300_799 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, ValueError, OSError):
            raise PayloadError(f"field 'timestamp' is out of range: {value!r}") from None
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
    checked: bool = False,
) -> Reading:
    """Validate a flat payload object and lay it out for the tiers.

    Raises :class:`PayloadError` naming every offending field: missing timestamp or core sensors,
    non-numeric, non-finite or too large values, bad sensor names, too many fields, a time outside
    ``bounds``.
    """
    if not checked:  # decode_json checked it already
        check_document(document)
    if "timestamp" not in document:
        raise PayloadError("payload has no 'timestamp' field")
    timestamp = parse_timestamp(document["timestamp"])
    problems = []
    if bounds is not None:
        try:
            bounds.check(timestamp)
        except PayloadError as error:
            problems.append(str(error))
    if len(document) - 1 > max_sensors:
        raise PayloadError(f"payload has {len(document) - 1} sensor fields; the limit is {max_sensors}")
    raw: dict[str, float] = {}
    non_numeric: list[str] = []
    non_finite: list[str] = []
    too_large: list[str] = []
    names = [name for name in document if name != "timestamp"]
    items = [document[name] for name in names]
    if _NUMBERS.issuperset(map(type, items)):
        # Every value a plain number (the usual payload): one vectorised pass instead of ~100 checks.
        try:
            array = np.array(items, dtype=float)
        except OverflowError:  # an int too large even for a float: the per-value pass names it
            array = None
        if array is not None:
            with np.errstate(invalid="ignore", over="ignore"):
                bad = ~(np.abs(array) <= MAX_MAGNITUDE)
            if not bad.any():
                raw = dict(zip(names, array.tolist(), strict=True))
    for name, value in zip(names, items, strict=True) if not raw else ():
        if isinstance(value, bool) or not isinstance(value, int | float):
            non_numeric.append(name)
        elif isinstance(value, float) and not math.isfinite(value):
            non_finite.append(name)
        elif not -MAX_MAGNITUDE <= value <= MAX_MAGNITUDE:  # exact for ints of any size
            too_large.append(name)
        else:
            raw[name] = float(value)
    missing = [name for name in index.core_names if name not in document]
    if missing:
        problems.append(f"missing core sensors: {', '.join(missing)}")
    if non_numeric:
        problems.append(f"non-numeric values for: {', '.join(sorted(non_numeric))}")
    if non_finite:
        problems.append(f"non-finite values for: {', '.join(sorted(non_finite))}")
    if too_large:
        problems.append(f"values beyond the magnitude limit {MAX_MAGNITUDE:g} for: {', '.join(sorted(too_large))}")
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


def parse_entry(
    entry_id: str, fields: Mapping[str, str], index: SensorIndex, limits: PayloadLimits | None = None
) -> Reading:
    """A stream entry (``{"payload": "<json>"}``) as a :class:`Reading`; :class:`PayloadError` if malformed.

    The reading's time is checked against the entry's landing time (its id), not the parser's clock.
    """
    limits = limits or PayloadLimits()
    document = fields.get(PAYLOAD_FIELD)
    if document is None:
        present = ", ".join(sorted(fields)) or "none"
        raise PayloadError(f"stream entry has no '{PAYLOAD_FIELD}' field (fields: {present})")
    return to_reading(
        decode_json(document, max_bytes=limits.max_bytes),
        entry_id,
        index,
        max_sensors=limits.max_sensors,
        bounds=limits.bounds_of_entry(entry_id),
        checked=True,
    )


def out_of_magnitude(values: np.ndarray) -> np.ndarray:
    """Rows of a (rows x sensors) array holding a value the payload rules refuse (evaluation's CSV rows)."""
    with np.errstate(invalid="ignore"):
        return np.any(np.abs(values) > MAX_MAGNITUDE, axis=-1) | np.any(np.isinf(values), axis=-1)
