"""Request and response bodies of the analyzer's HTTP API."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class AnalyzeRequest(BaseModel):
    """One stream entry to analyse: what the Azure Function forwards."""

    model_config = ConfigDict(extra="forbid")

    entry_id: str = Field(pattern=r"^\d{1,20}-\d{1,20}$", examples=["1763892000000-0"])
    #: The landed payload, flat: ``{"timestamp": "...Z", "TI-101": 351.2, ...}``.
    payload: dict[str, Any]


class IngestResponse(BaseModel):
    entry_ids: list[str]
    landed: int


class SweepResponse(BaseModel):
    scanned: int
    analysed: int
    already_done: int
    dead_lettered: int


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded"]
    checks: dict[str, str] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    detail: str


class Page(BaseModel, Generic[T]):
    """One page of a query; pass ``continuation`` back to get the next page (``None`` = last)."""

    items: list[T]
    continuation: str | None = None
