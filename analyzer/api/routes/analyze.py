from __future__ import annotations

import orjson
from fastapi import APIRouter, HTTPException, status

from analyzer.api.deps import ApiKeyDep, ServicesDep
from analyzer.keys import PAYLOAD_FIELD
from schemas.api import AnalyzeRequest, ErrorResponse
from schemas.results import AnalysisResult

router = APIRouter(prefix="/api/v1", tags=["analyze"], dependencies=[ApiKeyDep])


@router.post(
    "/analyze",
    response_model=AnalysisResult,
    responses={
        409: {"model": ErrorResponse, "description": "the entry is behind the analysis and was never in the stream"},
        422: {"model": ErrorResponse, "description": "malformed payload (dead-lettered)"},
    },
)
async def analyze(body: AnalyzeRequest, services: ServicesDep) -> AnalysisResult:
    """Analyse the stream up to this entry and return its stored result.

    The stream is folded in order whatever order entries arrive in (the Azure trigger and the sweep
    may deliver them out of order), so an entry analysed already gets its stored result back. The
    payload in the body is used only if the stream no longer holds the entry.
    """
    fields = {PAYLOAD_FIELD: orjson.dumps(body.payload).decode()}
    outcome = await services.pipeline.analyze_entries([(body.entry_id, fields)])
    if outcome.results:
        return outcome.results[0]
    if outcome.rejected:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"entry {body.entry_id}: {outcome.rejected[0].reason}"
        )
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        f"entry {body.entry_id} is older than the analysis position and is not in the stream: it cannot be "
        "analysed in order",
    )
