"""What both stores do alike when an operator corrects a reading: the audit record, the corrected
analysis and its version. The stores add only the durable, crash-safe writes.

>>> from schemas.results import AnalysisResult
>>> result = AnalysisResult.model_validate(EXAMPLE)
>>> request = CorrectionRequest("mod-1", result.id, "TI-101", 349.0, "calibration offset", "alice", result.timestamp)
>>> record = audit_record(request, result)
>>> record.old_value, record.new_value
(351.5, 349.0)
>>> corrected = apply(result, record)
>>> effective_value(corrected, "TI-101"), corrected.raw_data["TI-101"]
(349.0, 351.5)
>>> version(corrected) != version(result)
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from analyzer.store.protocol import CorrectionRequest, InvalidCorrectionError
from schemas.anomalies import ModifiedValue
from schemas.results import AnalysisResult, ValueCorrection

#: A minimal analysis, for the examples in this module's docstring.
EXAMPLE: dict[str, Any] = {
    "id": "1763884800000-0",
    "source_entry_id": "1763884800000-0",
    "timestamp": "2026-11-23T08:00:00Z",
    "day": "2026-11-23",
    "raw_data": {"TI-101": 351.5},
    "heuristic": {"timestamp": "2026-11-23T08:00:00Z", "processing_time_ms": 0.2, "results": {}},
    "final_status": "normal",
    "overall_confidence": 0.9,
    "analyzed_at": "2026-11-23T08:00:00.040Z",
}


def version(result: AnalysisResult) -> str:
    """The operator-visible version of an analysis (its HTTP ``ETag``): it changes with every
    correction. Derived from the content, so both stores and every replica agree on it."""
    marks = sorted(f"{sensor}={c.modification_id}" for sensor, c in result.corrections.items())
    return hashlib.sha256("|".join([result.id, *marks]).encode()).hexdigest()[:20]


def effective_value(result: AnalysisResult, sensor: str) -> float | None:
    """The value operators see: the latest correction, else the reading as landed."""
    correction = result.corrections.get(sensor)
    return correction.value if correction is not None else result.raw_data.get(sensor)


def audit_record(request: CorrectionRequest, result: AnalysisResult) -> ModifiedValue:
    """The audit record of ``request`` against the analysis as it is now."""
    if request.sensor not in result.raw_data:
        raise InvalidCorrectionError(
            f"analysis {result.id} has no reading of sensor {request.sensor!r} (it has {len(result.raw_data)} readings)"
        )
    return ModifiedValue(
        id=request.id,
        modified_by=request.modified_by,
        modified_at=request.modified_at,
        result_id=result.id,
        sensor=request.sensor,
        old_value=effective_value(result, request.sensor),
        new_value=request.new_value,
        reason=request.reason,
        reading_time=result.timestamp,
    )


def same_request(record: ModifiedValue, request: CorrectionRequest) -> None:
    """A repeated request id must ask for the same change; raise if it does not."""
    if (record.result_id, record.sensor, record.new_value) != (request.result_id, request.sensor, request.new_value):
        raise InvalidCorrectionError(
            f"correction id {request.id!r} was already used for {record.sensor} of analysis {record.result_id} "
            f"(new value {record.new_value:g}); use a new idempotency key for another change"
        )


def apply(result: AnalysisResult, record: ModifiedValue) -> AnalysisResult:
    """``result`` showing ``record``'s value for its sensor; ``raw_data`` is left as landed."""
    mark = ValueCorrection(
        value=record.new_value,
        modification_id=record.id,
        modified_by=record.modified_by,
        modified_at=record.modified_at,
    )
    return result.model_copy(update={"corrections": {**result.corrections, record.sensor: mark}})


def shows(result: AnalysisResult, record: ModifiedValue) -> bool:
    correction = result.corrections.get(record.sensor)
    return correction is not None and correction.modification_id == record.id


def latest_per_reading(records: Iterable[ModifiedValue]) -> dict[tuple[str, str], ModifiedValue]:
    """The newest audit record of every (analysis, sensor): what the analysis must show."""
    latest: dict[tuple[str, str], ModifiedValue] = {}
    for record in records:
        key = (record.result_id, record.sensor)
        known = latest.get(key)
        if known is None or (record.modified_at, record.id) > (known.modified_at, known.id):
            latest[key] = record
    return latest
