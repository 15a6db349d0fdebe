"""Reading a request body within a limit: refused with 413 as soon as it is over, never read whole.

A declared ``Content-Length`` over the limit is refused before reading anything; a chunked body is
counted while it streams in, so a 64 MB body costs at most ``limit`` bytes of memory.
"""

from __future__ import annotations

from fastapi import HTTPException, Request, status


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE, f"request is {int(declared)} bytes; the limit is {limit} bytes"
        )
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(
                status.HTTP_413_CONTENT_TOO_LARGE, f"request is over the limit of {limit} bytes (stopped reading)"
            )
        parts.append(chunk)
    return b"".join(parts)
