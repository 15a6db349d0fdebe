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
