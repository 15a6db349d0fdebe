"""The anomaly queue and the operators' workflow: list, read, acknowledge, shelve, unshelve, resolve
and reopen.

Every write is a transition of the alarm lifecycle (:class:`analyzer.alarms.service.AlarmService`,
the one owner of alarm state): a compare-and-set on the live alarm in Redis that never waits for
the worker and never loses a reading it counted at the same moment. Who acted comes from the
credentials, never from the body.

Concurrency, as clients see it:

* ``If-Match: "<etag>"`` (the ``ETag`` of the last read): the action applies only if nobody acted
  since; otherwise 409 with the anomaly as it is now (``current``) and its ``ETag``.
* Without ``If-Match``, two operators at once: exactly one wins; the other gets 409 with the state
  the winner left (``acknowledged_by: alice``).
* Asking again for what one already did (same person, same state) is a harmless 200; an
  ``Idempotency-Key`` replays the first answer exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.asyncio import Redis

from analyzer.alarms.operations import MAX_SHELVE_S, TransitionError
from analyzer.alarms.service import AlarmConflict, AlarmNotFound, AlarmService
from analyzer.keys import RedisKeys
from analyzer.store.summaries import summarize
from dashboard_api.api.params import Continuation, End, Limit, Sensor, Start, aware_now, check_range, unprocessable
from dashboard_api.deps import AlarmsDep, ConfigDep, KeysDep, OperatorDep, RedisDep, StoreDep, ViewerDep
from dashboard_api.errors import responses
from dashboard_api.idempotency import IdempotentRequest
from dashboard_api.identity.principal import Principal
from dashboard_api.mapping import anomaly_public, context_public, result_public
from dashboard_api.queue import AnomalySort, QueueQuery, queue_page
from schemas.alarms import AlarmRecord, ResolvedAlarm, RootCause, Tier
from schemas.public import (
    AcknowledgeCreate,
    AnomaliesPublic,
    AnomalyConflictPublic,
    AnomalyEvidencePublic,
    AnomalyPublic,
    AnomalyState,
    ReopenCreate,
    ResolveCreate,
    ShelveCreate,
    UnshelveCreate,
)
from schemas.results import Severity

router = APIRouter(prefix="/api/v1/anomalies", tags=["anomalies"], responses=responses(401, 403, 422, 503))

AnomalyId = Annotated[
    str,
    Path(
        min_length=3,
        max_length=200,
        description="the anomaly's id (`<alarm>@<first analysis id>`)",
        examples=["high_high:TI-101@1763884800000-0"],
    ),
]
IfMatch = Annotated[
    str | None,
    Header(max_length=200, description="act only if the anomaly is still at this ETag (from the last read)"),
]
IdempotencyKey = Annotated[
    str | None,
    Header(min_length=8, max_length=200, description="a client-chosen key: the same request again changes nothing"),
]

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": AnomalyConflictPublic,
        "description": "someone else acted first, or the action does not apply to the anomaly's state; "
        "`current` is how it is now",
    }
}
_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": AnomalyPublic, "description": "the anomaly after the action (its new `ETag` in the header)"},
    **responses(404, 422),
    **_CONFLICT,
}


def _etag(record: AlarmRecord) -> str:
    return f'"{record.etag}"'


def _version(if_match: str | None) -> str | None:
    """The etag an ``If-Match`` header names (``*`` or absent: any)."""
    if if_match is None or if_match.strip() == "*":
        return None
    return if_match.strip().removeprefix("W/").strip('"')


def _respond(record: AlarmRecord, status_code: int = status.HTTP_200_OK) -> JSONResponse:
    body = anomaly_public(record, history=True).model_dump(mode="json")
    return JSONResponse(body, status_code=status_code, headers={"ETag": _etag(record)})


def _conflict(message: str, current: AlarmRecord) -> JSONResponse:
    body = AnomalyConflictPublic(detail=message, current=anomaly_public(current, history=True))
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status.HTTP_409_CONFLICT, headers={"ETag": _etag(current)}
    )


# -- reading -------------------------------------------------------------------------------------


@router.get("", response_model=AnomaliesPublic, responses=responses(400, 422))
async def list_anomalies(
    _: ViewerDep,
    store: StoreDep,
    config: ConfigDep,
    severity: Annotated[Severity | None, Query(description="only anomalies of this severity")] = None,
    sensor: Annotated[Sensor, Query(description="only anomalies involving this sensor")] = None,
    tier: Annotated[Tier | None, Query(description="only anomalies raised by this tier")] = None,
    state: Annotated[
        AnomalyState | None,
        Query(description="only anomalies in this state (`resolved` ones: `/api/v1/resolved-anomalies`)"),
    ] = None,
    since: Annotated[Start, Query(description="only anomalies last seen at or after this time")] = None,
    until: Annotated[End, Query(description="only anomalies opened before this time")] = None,
    sort: Annotated[AnomalySort, Query(description="order: a field, `-` for descending; ties newest first")] = (
        AnomalySort.OPENED_AT_DESC
    ),
    limit: Limit = 100,
    continuation: Continuation = None,
) -> AnomaliesPublic:
    """The queue of open (unresolved) anomalies, filtered, sorted and paged (`continuation` for the
    next page; `null` on the last). `history` and `evidence` are filled by `GET /anomalies/{id}`."""
    check_range(since, until)
    if state == AnomalyState.RESOLVED:
        raise unprocessable("the queue holds open anomalies; resolved ones are at /api/v1/resolved-anomalies")
    query = QueueQuery(
        severity=severity,
        sensor=sensor,
        tier=tier,
        state=state,
        since=since,
        until=until,
        sort=sort,
        limit=limit,
        continuation=continuation,
    )
    page = await queue_page(store, query, config.anomalies_max_scan)
    data = [anomaly_public(record) for record in page.items]
    return AnomaliesPublic(data=data, count=len(data), continuation=page.continuation)


@router.get("/{anomaly_id}", response_model=AnomalyPublic, responses=responses(404))
async def get_anomaly(anomaly_id: AnomalyId, _: ViewerDep, alarms: AlarmsDep, store: StoreDep) -> JSONResponse:
    """One anomaly, open or resolved (`status`), with its history of transitions and its evidence:
    the analyses that opened it and last counted into it, the most involved sensors, and tier 3's
    context when there is one. The `ETag` header is what `If-Match` sends back."""
    record = await _get(alarms, anomaly_id)
    ids = list(dict.fromkeys([record.first_entry_id, record.last_entry_id]))
    found = await asyncio.gather(*(store.get_result(result_id) for result_id in ids))
    evidence = AnomalyEvidencePublic(
        results=[result_public(summarize(result)) for result in found if result is not None],
        context=context_public(record.llm) if record.llm is not None else None,
    )
    body = anomaly_public(record, history=True, evidence=evidence).model_dump(mode="json")
    return JSONResponse(body, headers={"ETag": _etag(record)})


async def _get(alarms: AlarmService, anomaly_id: str) -> AlarmRecord:
    try:
        return await alarms.get(anomaly_id)
    except AlarmNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no anomaly {anomaly_id!r}") from None


# -- the workflow ----------------------------------------------------------------------------------

Action = Callable[[], Awaitable[AlarmRecord]]


@dataclass(frozen=True)
class Workflow:
    """One operator's write request on one anomaly: who, the concurrency headers, and what it needs."""

    request: Request
    operator: Principal
    alarms: AlarmService
    redis: Redis
    keys: RedisKeys
    ttl_s: int
    if_match: str | None
    idempotency_key: str | None

    @property
    def by(self) -> str:
        return self.operator.name

    @property
    def expected(self) -> str | None:
        return _version(self.if_match)

    async def perform(
        self,
        anomaly_id: str,
        body: BaseModel,
        action: Action,
        done_by_caller: Callable[[AlarmRecord], bool],
        verb: str,
    ) -> JSONResponse:
        """Run ``action`` with the workflow's rules: idempotency, 404/409 mapping, and the check that
        the state the caller asked for is theirs (else someone else won: 409)."""
        idempotent = None
        if self.idempotency_key is not None:
            fingerprint = {
                "path": self.request.url.path,
                "body": body.model_dump(mode="json"),
                "if_match": self.if_match,
            }
            idempotent = IdempotentRequest(
                self.redis, self.keys, self.by, self.idempotency_key, fingerprint, self.ttl_s
            )
            remembered = await idempotent.begin()
            if remembered is not None:
                headers = {"ETag": remembered.etag} if remembered.etag else None
                return JSONResponse(remembered.body, status_code=remembered.status_code, headers=headers)
        try:
            response = await _outcome(self.alarms, anomaly_id, action, done_by_caller, verb)
        except BaseException:
            if idempotent is not None:
                await idempotent.forget()
            raise
        if idempotent is not None:
            if response.status_code in (status.HTTP_200_OK, status.HTTP_409_CONFLICT):
                await idempotent.finish(response.status_code, _json(response), response.headers.get("ETag"))
            else:
                await idempotent.forget()
        return response


def _workflow(
    request: Request,
    operator: OperatorDep,
    alarms: AlarmsDep,
    redis: RedisDep,
    keys: KeysDep,
    config: ConfigDep,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Workflow:
    return Workflow(request, operator, alarms, redis, keys, config.idempotency_ttl_s, if_match, idempotency_key)


WorkflowDep = Annotated[Workflow, Depends(_workflow)]


def _json(response: JSONResponse) -> Any:
    return orjson.loads(bytes(response.body))


async def _outcome(
    alarms: AlarmService,
    anomaly_id: str,
    action: Action,
    done_by_caller: Callable[[AlarmRecord], bool],
    verb: str,
) -> JSONResponse:
    try:
        record = await action()
    except AlarmConflict as conflict:
        if done_by_caller(conflict.current):
            return _respond(conflict.current)  # the caller's own earlier request: harmless
        return _conflict(str(conflict), conflict.current)
    except AlarmNotFound:
        try:
            current = await alarms.get(anomaly_id)
        except AlarmNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no anomaly {anomaly_id!r}") from None
        if done_by_caller(current):
            return _respond(current)
        state = "resolved" if isinstance(current, ResolvedAlarm) else "open"
        return _conflict(f"anomaly {anomaly_id} is {state}; it cannot be {verb}", current)
    except TransitionError as error:
        try:
            current = await alarms.get(anomaly_id)
        except AlarmNotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no anomaly {anomaly_id!r}") from None
        return _conflict(str(error), current)
    if not done_by_caller(record):
        return _conflict(f"anomaly {anomaly_id} was {verb} by someone else first", record)
    return _respond(record)


@router.post("/{anomaly_id}/acknowledge", response_model=AnomalyPublic, responses=_WRITE_RESPONSES)
async def acknowledge(
    anomaly_id: AnomalyId, workflow: WorkflowDep, body: AcknowledgeCreate | None = None
) -> JSONResponse:
    """Acknowledge an open anomaly (someone is on it), with an optional note. The same operator
    acknowledging again changes nothing; another operator gets 409 naming who acknowledged."""
    body = body or AcknowledgeCreate()
    by, alarms = workflow.by, workflow.alarms
    return await workflow.perform(
        anomaly_id,
        body,
        action=lambda: alarms.acknowledge(anomaly_id, by=by, note=body.note, if_match=workflow.expected),
        done_by_caller=lambda r: not isinstance(r, ResolvedAlarm) and r.acknowledged_by == by,
        verb="acknowledged",
    )


@router.post("/{anomaly_id}/shelve", response_model=AnomalyPublic, responses=_WRITE_RESPONSES)
async def shelve(anomaly_id: AnomalyId, body: ShelveCreate, workflow: WorkflowDep) -> JSONResponse:
    """Shelve an open anomaly for `minutes` or `until` a time (at most 7 days, ISA-18.2): it stays
    evaluated and counted, and unshelves itself when the time is over."""
    now = aware_now()
    until = body.until if body.until is not None else now + timedelta(minutes=body.minutes or 0)
    if until <= now:
        raise unprocessable(f"until ({until.isoformat()}) must be in the future")
    if until - now > timedelta(seconds=MAX_SHELVE_S):
        raise unprocessable(f"shelving is limited to {MAX_SHELVE_S // 3600} h")
    by, alarms = workflow.by, workflow.alarms
    return await workflow.perform(
        anomaly_id,
        body,
        action=lambda: alarms.shelve(anomaly_id, by=by, until=until, reason=body.reason, if_match=workflow.expected),
        done_by_caller=lambda r: (
            not isinstance(r, ResolvedAlarm)
            and r.shelf is not None
            and r.shelf.by == by
            and r.shelf.reason == body.reason
        ),
        verb="shelved",
    )


@router.post("/{anomaly_id}/unshelve", response_model=AnomalyPublic, responses=_WRITE_RESPONSES)
async def unshelve(anomaly_id: AnomalyId, workflow: WorkflowDep, body: UnshelveCreate | None = None) -> JSONResponse:
    """Put a shelved anomaly back in view; an anomaly that is not shelved is left as it is."""
    body = body or UnshelveCreate()
    by, alarms = workflow.by, workflow.alarms
    return await workflow.perform(
        anomaly_id,
        body,
        action=lambda: alarms.unshelve(anomaly_id, by=by, note=body.note, if_match=workflow.expected),
        done_by_caller=lambda r: not isinstance(r, ResolvedAlarm) and r.shelf is None,
        verb="unshelved",
    )


@router.post("/{anomaly_id}/resolve", response_model=AnomalyPublic, responses=_WRITE_RESPONSES)
async def resolve(anomaly_id: AnomalyId, body: ResolveCreate, workflow: WorkflowDep) -> JSONResponse:
    """Resolve an anomaly with a note and a root cause from the documented list (`RootCausePublic`):
    it leaves the queue for the history (`/api/v1/resolved-anomalies`), and the next occurrence of
    the condition opens a new anomaly."""
    cause = RootCause(body.root_cause.value)
    by, alarms = workflow.by, workflow.alarms
    return await workflow.perform(
        anomaly_id,
        body,
        action=lambda: alarms.resolve(anomaly_id, by=by, note=body.note, root_cause=cause, if_match=workflow.expected),
        done_by_caller=lambda r: (
            isinstance(r, ResolvedAlarm)
            and r.resolved_by == by
            and r.resolution_note == body.note
            and r.root_cause == cause
        ),
        verb="resolved",
    )


@router.post("/{anomaly_id}/reopen", response_model=AnomalyPublic, responses=_WRITE_RESPONSES)
async def reopen(anomaly_id: AnomalyId, body: ReopenCreate, workflow: WorkflowDep) -> JSONResponse:
    """Put a resolved anomaly back in the queue (unacknowledged, returned to normal), its history
    kept; one that is open already is left as it is."""
    expected, alarms = workflow.expected, workflow.alarms

    async def action() -> AlarmRecord:
        if expected is not None:
            current = await alarms.get(anomaly_id)
            if current.etag != expected:
                raise AlarmConflict(
                    f"anomaly {anomaly_id} changed since you read it (etag {current.etag}, you sent {expected})",
                    current,
                )
        return await alarms.reopen(anomaly_id, by=workflow.by, note=body.note)

    return await workflow.perform(
        anomaly_id,
        body,
        action=action,
        done_by_caller=lambda r: not isinstance(r, ResolvedAlarm),
        verb="reopened",
    )
