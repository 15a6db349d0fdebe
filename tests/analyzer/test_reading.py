from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from analyzer.catalog.index import SensorIndex
from analyzer.reading import PayloadError, TimeBounds, decode_json, to_reading
from tests.utils.payloads import small_catalog

INDEX = SensorIndex.from_catalog(small_catalog())
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
BOUNDS = TimeBounds(NOW, timedelta(hours=24), timedelta(minutes=5))


def doc(**fields: object) -> dict[str, object]:
    return {"timestamp": "2026-11-23T11:59:00Z", "TI-1": 50.0, **fields}


def test_valid_payload_is_laid_out_in_catalogue_order_with_unknown_sensors_kept() -> None:
    reading = to_reading(doc(**{"FI-1": 3, "XX-9": 1.5}), "1-0", INDEX, bounds=BOUNDS)
    assert reading.timestamp == datetime(2026, 11, 23, 11, 59, tzinfo=UTC)
    np.testing.assert_array_equal(reading.values, [50.0, np.nan, 3.0])
    assert reading.unknown == ("XX-9",)
    assert reading.raw == {"TI-1": 50.0, "FI-1": 3.0, "XX-9": 1.5}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"TI-1": 1.0}, "no 'timestamp'"),
        ({"timestamp": "2026-11-23T11:59:00Z", "PI-1": 1.0}, "missing core sensors: TI-1"),
        (doc(**{"PI-1": "high"}), "non-numeric values for: PI-1"),
        (doc(**{"PI-1": True}), "non-numeric values for: PI-1"),
        (doc(**{"PI-1": None}), "non-numeric values for: PI-1"),
        (doc(**{"PI-1": float("nan"), "FI-1": float("inf")}), "non-finite values for: FI-1, PI-1"),
        (doc(timestamp="yesterday"), "not an ISO-8601 time"),
        (doc(timestamp="2026-11-23T11:59:00"), "no time zone"),
        (doc(timestamp="2026-11-23T12:06:00Z"), "in the future"),
        (doc(timestamp="2026-11-22T11:58:00Z"), "older than the 24 h window"),
    ],
)
def test_bad_payloads_are_refused_naming_the_problem(document: dict[str, object], message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        to_reading(document, "1-0", INDEX, bounds=BOUNDS)


def test_too_many_fields_are_refused() -> None:
    document = doc(**{f"X{i}": 1.0 for i in range(20)})
    with pytest.raises(PayloadError, match="21 sensor fields; the limit is 10"):
        to_reading(document, "1-0", INDEX, max_sensors=10)


def test_epoch_seconds_and_milliseconds_are_accepted() -> None:
    seconds = NOW.timestamp()
    assert to_reading(doc(timestamp=seconds), "1-0", INDEX).timestamp == NOW
    assert to_reading(doc(timestamp=seconds * 1000), "1-0", INDEX).timestamp == NOW


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "must be a JSON object, got list"), (b'"x"', "got str")],
)
def test_decode_refuses_non_objects(raw: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_json(raw, max_bytes=1000)


def test_decode_refuses_oversize_documents() -> None:
    with pytest.raises(PayloadError, match="payload is 2001 bytes; the limit is 2000 bytes"):
        decode_json(b" " * 2001, max_bytes=2000)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a" : 1, "b": "x:y", "a": 2}', "duplicate key 'a'"),  # whitespace and a ':' in a string
        (b'{"a": 1, "t": "\\u003a", "a": 2}', "duplicate key 'a'"),  # a ':' hidden in an escape
        (b'{"n": {"k": 1, "k": 2}}', "duplicate key 'k'"),  # nested
        (b'{"": 1}', "a sensor name is empty"),
        (b'{"A\\u0000B": 1}', "control characters"),
        (b'{"\\ud800": 1}', "surrogate"),
        (b"[" * 40 + b"]" * 40, "must be a JSON object"),
        (b'{"x": ' + b"[" * 40 + b"]" * 40 + b"}", "nested deeper than 32"),
        (b'{"x": ' + b"[" * 2000 + b"]" * 2000 + b"}", "nested deeper than 32"),
        (b'{"timestamp": 1e400}', "magnitude"),
    ],
)
def test_the_document_rules_name_the_problem(raw: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_json(raw, max_bytes=1 << 20)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"timestamp": "2026-11-23T11:59:00+00:00", "TI-1": 1, "PI-\\u00e9": 2}',
        b'{"timestamp": "2026-11-23T11:59:00Z", "a:b": 1, "c": "d:e"}',
    ],
)
def test_documents_within_the_rules_parse(raw: bytes) -> None:
    assert isinstance(decode_json(raw, max_bytes=1 << 20), dict)


def test_values_beyond_the_magnitude_limit_are_refused_exactly() -> None:
    with pytest.raises(PayloadError, match="magnitude limit 1e\\+12 for: FI-1, PI-1"):
        to_reading(doc(**{"PI-1": 2**70, "FI-1": -1.0000001e12}), "1-0", INDEX)
    assert to_reading(doc(**{"PI-1": 10**12}), "1-0", INDEX).raw["PI-1"] == 1e12
