"""The JSON Schema files are generated from the models and must not drift from them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.api import AnalyzeRequest
from schemas.generate import JSON_DIR, MODELS, render
from schemas.payload import SensorPayload


@pytest.mark.parametrize("name", sorted(MODELS))
def test_schema_file_matches_model(name: str) -> None:
    path = JSON_DIR / f"{name}.schema.json"
    assert path.exists(), f"{path} missing: run python -m schemas.generate"
    assert path.read_text() == render(MODELS[name]), f"{path} is stale: run python -m schemas.generate"


def test_no_orphan_schema_files() -> None:
    assert {p.name for p in JSON_DIR.glob("*.schema.json")} == {f"{n}.schema.json" for n in MODELS}


def test_payload_refuses_non_finite_values() -> None:
    with pytest.raises(ValidationError, match=r"non-finite values .*TI-101"):
        SensorPayload(timestamp=datetime.now(UTC), readings={"TI-101": float("nan")})


def test_payload_round_trips_to_the_wire_shape() -> None:
    payload = SensorPayload(timestamp=datetime(2026, 11, 23, 10, tzinfo=UTC), readings={"TI-101": 351.25})
    assert payload.to_wire() == {"timestamp": "2026-11-23T10:00:00.000Z", "TI-101": 351.25}


@pytest.mark.parametrize("entry_id", ["", "abc", "1-2-3", "1763892000000"])
def test_analyze_request_needs_a_stream_entry_id(entry_id: str) -> None:
    with pytest.raises(ValidationError):
        AnalyzeRequest(entry_id=entry_id, payload={})
