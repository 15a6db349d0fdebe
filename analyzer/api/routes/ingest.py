from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from analyzer.api.body import read_body
from analyzer.api.deps import ApiKeyDep, ServicesDep
from analyzer.reading import PayloadError, check_document, parse_json
from schemas.api import ErrorResponse, IngestResponse

router = APIRouter(prefix="/api/v1", tags=["ingest"], dependencies=[ApiKeyDep])

#: A batch may hold this many payloads.
MAX_BATCH = 1000


@router.post(
    "/ingest",
    response_model=IngestResponse,
    status_code=status.HTTP_201_CREATED,
    responses={
        413: {"model": ErrorResponse},
        422: {"model": ErrorResponse, "description": "invalid payload; nothing was landed"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"oneOf": [{"type": "object"}, {"type": "array"}]}}},
        }
    },
)
async def ingest(request: Request, services: ServicesDep) -> IngestResponse:
    """Land one payload (a JSON object) or a batch (an array of them) on the stream, as the plant feed does.

    All payloads of a batch are validated first; if any is invalid nothing is landed.
    """
    body = await read_body(request, services.settings.max_payload_bytes * MAX_BATCH)
    try:
        documents = _payloads_of(body)
        entry_ids = await services.lander.land_documents(documents)
    except PayloadError as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    return IngestResponse(entry_ids=entry_ids, landed=len(entry_ids))


def _payloads_of(body: bytes) -> list[Any]:
    document = parse_json(body)
    if isinstance(document, dict):
        check_document(document, body)
        return [document]
    if not isinstance(document, list):
        raise PayloadError(f"body must be a payload object or an array of them, got {type(document).__name__}")
    if not document:
        raise PayloadError("batch is empty")
    if len(document) > MAX_BATCH:
        raise PayloadError(f"batch holds {len(document)} payloads; the limit is {MAX_BATCH}")
    check_document({"batch": document}, body)  # nesting and duplicate keys over the whole body
    return document
