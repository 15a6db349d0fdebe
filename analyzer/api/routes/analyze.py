from __future__ import annotations

import orjson
from fastapi import APIRouter, HTTPException, status

from analyzer.api.deps import ApiKeyDep, ServicesDep
from analyzer.keys import PAYLOAD_FIELD
from analyzer.reading import PayloadError
from analyzer.runtime.dead_letter import dead_letter
from schemas.api import AnalyzeRequest, ErrorResponse
from schemas.results import AnalysisResult

router = APIRouter(prefix="/api/v1", tags=["analyze"], dependencies=[ApiKeyDep])


@router.post(
    "/analyze",
    response_model=AnalysisResult,
    responses={422: {"model": ErrorResponse, "description": "malformed payload (dead-lettered)"}},
)
async def analyze(body: AnalyzeRequest, services: ServicesDep) -> AnalysisResult:
    """Analyse one stream entry and store its result (idempotent: the result id is the entry id)."""
    try:
        return await services.pipeline.analyze_document(body.entry_id, body.payload)
    except PayloadError as error:
        fields = {PAYLOAD_FIELD: orjson.dumps(body.payload).decode()}
        await dead_letter(services.redis, services.keys, [(body.entry_id, str(error), fields)])
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"entry {body.entry_id}: {error}") from None
