from __future__ import annotations

import re

import orjson
from fastapi import APIRouter, HTTPException, Request, status

from analyzer.api.body import read_body
from analyzer.api.deps import ApiKeyDep, ServicesDep
from analyzer.keys import PAYLOAD_FIELD
from analyzer.reading import PayloadError, check_document, parse_json
from schemas.api import AnalyzeRequest, ErrorResponse
from schemas.results import AnalysisResult

router = APIRouter(prefix="/api/v1", tags=["analyze"], dependencies=[ApiKeyDep])

#: Room for ``{"entry_id": ..., "payload": ...}`` around the largest payload.
ENVELOPE_BYTES = 1024
_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


@router.post(
    "/analyze",
    response_model=AnalysisResult,
    responses={
        409: {"model": ErrorResponse, "description": "the entry is behind the analysis and was never in the stream"},
        413: {"model": ErrorResponse, "description": "the request is larger than a payload may be"},
        422: {"model": ErrorResponse, "description": "malformed payload (dead-lettered when it reached the fold)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": AnalyzeRequest.model_json_schema()}},
        }
    },
)
async def analyze(request: Request, services: ServicesDep) -> AnalysisResult:
    """Analyse the stream up to this entry and return its stored result.

    The stream is folded in order whatever order entries arrive in (the Azure trigger and the sweep
    may deliver them out of order), so an entry analysed already gets its stored result back. The
    payload in the body is used only if the stream no longer holds the entry.

    The body is read within the payload size limit and checked by the same rules as the landing and
    the worker (``analyzer/reading.py``), with the same messages.
    """
    raw = await read_body(request, services.settings.max_payload_bytes + ENVELOPE_BYTES)
    try:
        entry_id, payload = _envelope(raw)
    except PayloadError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    fields = {PAYLOAD_FIELD: orjson.dumps(payload).decode()}
    outcome = await services.pipeline.analyze_entries([(entry_id, fields)])
    if outcome.results:
        return outcome.results[0]
    if outcome.rejected:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"entry {entry_id}: {outcome.rejected[0].reason}")
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        f"entry {entry_id} is older than the analysis position and is not in the stream: it cannot be "
        "analysed in order",
    )


def _envelope(raw: bytes) -> tuple[str, dict[str, object]]:
    """``(entry_id, payload)`` of an :class:`AnalyzeRequest` body, by the payload rules."""
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise PayloadError(f"body must be a JSON object with entry_id and payload, got {type(body).__name__}")
    check_document(body, raw)  # nesting and duplicate keys over the whole body
    extra = sorted(set(body) - {"entry_id", "payload"})
    if extra:
        raise PayloadError(f"unexpected fields: {', '.join(extra)}")
    entry_id = body.get("entry_id")
    if not isinstance(entry_id, str) or not _ENTRY_ID.match(entry_id):
        raise PayloadError("field 'entry_id' must be a stream entry id like '1763892000000-0'")
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise PayloadError(f"field 'payload' must be a JSON object, got {type(payload).__name__}")
    return entry_id, check_document(payload)
