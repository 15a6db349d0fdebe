"""Operators' corrections of stored readings, and the audit trail they leave (read-only: no route
edits or deletes a record)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status

from analyzer.store.protocol import (
    ConflictError,
    CorrectionRequest,
    InvalidCorrectionError,
    ModificationQuery,
    NotFoundError,
    VersionMismatchError,
)
from dashboard_api.api.params import Continuation, End, Limit, Sensor, Start, aware_now, check_range, unprocessable
from dashboard_api.deps import CatalogDep, OperatorDep, StoreDep, ViewerDep
from dashboard_api.errors import responses
from dashboard_api.mapping import modification_public
from schemas.public import ModificationCreate, ModificationPublic, ModificationsPublic

router = APIRouter(prefix="/api/v1/corrections", tags=["corrections"], responses=responses(401, 403, 422, 503))


def _version(if_match: str | None) -> str | None:
    """The version an ``If-Match`` header names (``*`` or absent: any)."""
    if if_match is None or if_match.strip() == "*":
        return None
    return if_match.strip().removeprefix("W/").strip('"')


@router.post(
    "",
    response_model=ModificationPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": ModificationPublic, "description": "a repeated request (same Idempotency-Key): no change"},
        **responses(404, 409, 412, 422),
    },
)
async def correct_value(
    body: ModificationCreate,
    operator: OperatorDep,
    store: StoreDep,
    catalog: CatalogDep,
    response: Response,
    if_match: Annotated[
        str | None,
        Header(max_length=200, description="apply only if the analysis is still at this ETag"),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=8,
            max_length=200,
            description="a client-chosen key: sending the same request again changes nothing",
        ),
    ] = None,
) -> ModificationPublic:
    """Correct one stored reading (sensor fault, calibration offset).

    The analysis keeps the value as landed; its history shows the new value marked as corrected;
    the audit trail records who (from the credentials, never from the body), when, the old and
    new value, the reason and the analysis. Answers `201` with the audit record and the analysis'
    new `ETag`; `412` if `If-Match` names an older version.
    """
    if body.sensor not in {spec.name for spec in catalog.sensors}:
        raise unprocessable(f"no sensor {body.sensor!r} in the catalogue")
    # Scoped by caller, so two operators' keys never collide.
    record_id = (
        hashlib.sha256(f"{operator.name}|{idempotency_key}".encode()).hexdigest()[:32]
        if idempotency_key
        else uuid.uuid4().hex
    )
    request = CorrectionRequest(
        id=record_id,
        result_id=body.result_id,
        sensor=body.sensor,
        new_value=body.value,
        reason=body.reason,
        modified_by=operator.name,
        modified_at=aware_now(),
        expected_version=_version(if_match),
    )
    try:
        outcome = await store.correct_value(request)
    except NotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no analysis {body.result_id!r}") from None
    except InvalidCorrectionError as error:
        raise unprocessable(str(error)) from None
    except VersionMismatchError as error:
        raise HTTPException(
            status.HTTP_412_PRECONDITION_FAILED,
            f"analysis {body.result_id} changed since you read it; read it again (current ETag attached)",
            headers={"ETag": f'"{error.current_version}"'},
        ) from None
    except ConflictError:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"analysis {body.result_id} is being changed by others; try again"
        ) from None
    response.headers["ETag"] = f'"{outcome.version}"'
    response.headers["Location"] = f"{router.prefix}/{outcome.record.id}"
    if not outcome.applied:
        response.status_code = status.HTTP_200_OK
    return modification_public(outcome.record)


@router.get("", response_model=ModificationsPublic, responses=responses(400, 422))
async def list_corrections(
    _: ViewerDep,
    store: StoreDep,
    modified_by: Annotated[
        str | None, Query(min_length=1, max_length=200, description="only corrections by this person")
    ] = None,
    sensor: Sensor = None,
    result_id: Annotated[str | None, Query(max_length=64, description="only corrections of this analysis")] = None,
    start: Start = None,
    end: End = None,
    limit: Limit = 100,
    continuation: Continuation = None,
) -> ModificationsPublic:
    """The audit trail of corrections by time made (newest first), by person, sensor or analysis."""
    check_range(start, end)
    query = ModificationQuery(
        modified_by=modified_by,
        sensor=sensor,
        result_id=result_id,
        start=start,
        end=end,
        limit=limit,
        continuation=continuation,
    )
    page = await store.query_modifications(query)
    data = [modification_public(record) for record in page.items]
    return ModificationsPublic(data=data, count=len(data), continuation=page.continuation)


@router.get("/{correction_id}", response_model=ModificationPublic, responses=responses(404))
async def get_correction(
    correction_id: Annotated[str, Path(max_length=64, description="the audit record's id")],
    _: ViewerDep,
    store: StoreDep,
) -> ModificationPublic:
    """One audit record."""
    record = await store.get_modification(correction_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no correction {correction_id!r}")
    return modification_public(record)
