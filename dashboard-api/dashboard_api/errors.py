"""Every error as JSON with a message (:class:`~schemas.public.ErrorPublic`), never a bare 500:
Redis or the store away is 503 with the reason, a bad continuation token 400."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException

from analyzer.store.protocol import InvalidContinuationError, StoreError
from schemas.public import ErrorPublic, FieldErrorPublic

log = logging.getLogger(__name__)


def _error(status_code: int, detail: str, *, errors: list[FieldErrorPublic] | None = None, **kw: Any) -> JSONResponse:
    body = ErrorPublic(detail=detail, errors=errors).model_dump(mode="json")
    return JSONResponse(jsonable_encoder(body), status_code=status_code, **kw)


def install(app: FastAPI) -> None:
    @app.exception_handler(HTTPException)
    async def _http(_: Request, error: HTTPException) -> JSONResponse:
        return _error(error.status_code, str(error.detail), headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        fields = [
            FieldErrorPublic(location=".".join(str(part) for part in e.get("loc", ())), message=str(e.get("msg")))
            for e in error.errors()
        ]
        first = f"{fields[0].location}: {fields[0].message}" if fields else "invalid request"
        more = f" (and {len(fields) - 1} more)" if len(fields) > 1 else ""
        return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, f"invalid request: {first}{more}", errors=fields)

    @app.exception_handler(InvalidContinuationError)
    async def _continuation(_: Request, error: InvalidContinuationError) -> JSONResponse:
        return _error(status.HTTP_400_BAD_REQUEST, f"{error}; start again without a continuation")

    @app.exception_handler(StoreError)
    async def _store(_: Request, error: StoreError) -> JSONResponse:
        log.error("store error: %s", error)
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, f"the store is unavailable: {_short(error)}")

    @app.exception_handler(RedisError)
    async def _redis(_: Request, error: RedisError) -> JSONResponse:
        log.error("Redis error: %s", error)
        return _error(status.HTTP_503_SERVICE_UNAVAILABLE, f"Redis is unavailable: {type(error).__name__}")

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=error)
        return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error; the server log has the details")


def _short(error: Exception) -> str:
    text = str(error).removeprefix("the store is unavailable: ")
    return text.splitlines()[0][:300] if text else type(error).__name__


_DESCRIBED = {
    400: "bad request, e.g. a continuation token this API did not issue",
    401: "missing or invalid credentials (see WWW-Authenticate)",
    403: "the caller's role may not do this",
    404: "not found",
    409: "changed concurrently; read again and retry",
    412: "If-Match names an older version (the response carries the current ETag)",
    422: "invalid request; `errors` lists the fields",
    503: "Redis or the store is unavailable; `detail` says which and why",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries, shared so every route documents the errors it can return."""
    return {code: {"model": ErrorPublic, "description": _DESCRIBED[code]} for code in codes}


def json_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The same for a route whose success is not JSON (an event stream): errors still are."""
    ref = {"schema": {"$ref": f"#/components/schemas/{ErrorPublic.__name__}"}}
    return {code: {"description": _DESCRIBED[code], "content": {"application/json": ref}} for code in codes}
