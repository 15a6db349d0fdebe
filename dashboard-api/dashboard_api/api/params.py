"""Query parameters several routes share, and their cross-field checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import HTTPException, Query, status
from pydantic import AfterValidator, AwareDatetime

#: Times outside these years are refused (422): no plant data lies there, and date arithmetic on
#: them (a default range of "the last hour") would overflow.
EARLIEST, LATEST = datetime(1970, 1, 2, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)


def _plausible(moment: datetime | None) -> datetime | None:
    if moment is not None and not EARLIEST <= moment <= LATEST:
        raise ValueError(f"times must lie between {EARLIEST.year} and {LATEST.year}")
    return moment


Start = Annotated[
    AwareDatetime | None,
    AfterValidator(_plausible),
    Query(description="from this time on (inclusive), ISO 8601 with a UTC offset", examples=["2026-11-23T08:00:00Z"]),
]
End = Annotated[
    AwareDatetime | None,
    AfterValidator(_plausible),
    Query(description="up to this time (exclusive), ISO 8601 with a UTC offset", examples=["2026-11-23T09:00:00Z"]),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="items per page")]
Continuation = Annotated[
    str | None,
    Query(max_length=4096, description="the `continuation` of the previous page, unchanged"),
]
Sensor = Annotated[
    str | None, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$", description="a sensor name")
]


def unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


def check_range(start: datetime | None, end: datetime | None, *, longest: timedelta | None = None) -> None:
    """422 unless ``start < end`` and, where given, the range is at most ``longest``."""
    if start is not None and end is not None:
        if start >= end:
            raise unprocessable(f"start ({start.isoformat()}) must be before end ({end.isoformat()})")
        if longest is not None and end - start > longest:
            raise unprocessable(f"the range may cover at most {longest}; it covers {end - start}")


def aware_now() -> datetime:
    return datetime.now(UTC)
