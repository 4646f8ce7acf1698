"""Pydantic models that document the API's answers in ``/openapi.json``.

The routes build their JSON directly (orjson; audit pages are spliced from stored bytes), so
these models are used for documentation only: FastAPI does not validate a ``Response`` a route
returns itself. Keep them in step with the routes; the tests compare a few.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Problem(BaseModel):
    """RFC 9457 problem details (media type ``application/problem+json``)."""

    type: str = Field(examples=["urn:auditlens:problem:forbidden"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    invalid_params: list[dict[str, str]] | None = Field(
        default=None, description="[{name, reason}] for validation problems"
    )


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    role: str = Field(description="owner | admin | member")


class OrganizationOut(BaseModel):
    id: str
    name: str
    plan: str = Field(description="business | enterprise")
    origin: str = Field(description="the log's checkpoint origin, <server>/<slug>")
    vkey: str = Field(description="signed-note verifier key of the server's log key")


class LoginOut(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: str
    user: UserOut
    organization: OrganizationOut


class MeOut(BaseModel):
    user: UserOut | None
    organization: OrganizationOut
    credential: str = Field(description="session | read_key | ingest_key")


class ApiKeyOut(BaseModel):
    id: str
    name: str
    scope: str = Field(description="read | ingest")
    prefix: str
    created_by: str | None
    created_at: str


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="the secret; shown only in this answer")


class ApiKeyListOut(BaseModel):
    items: list[ApiKeyOut]


class UserListOut(BaseModel):
    items: list[UserOut]


class IngestOut(BaseModel):
    accepted: int
    first_index: int
    last_index: int
    ids: list[str]
    checkpoint: str = Field(description="signed checkpoint covering the batch")


class AuditItem(BaseModel):
    index: int = Field(description="the event's leaf index in the log")
    event: dict[str, Any] = Field(description="the event exactly as stored (RFC 8785 JSON)")


class AuditPage(BaseModel):
    items: list[AuditItem]
    next_cursor: str | None


class LogInfoOut(BaseModel):
    origin: str
    vkey: str
    size: int
    min_index: int = Field(description="entries below it were pruned by retention")


class InclusionOut(BaseModel):
    index: int
    size: int
    proof: list[str] = Field(description="base64 hashes, RFC 9162 order")


class ConsistencyOut(BaseModel):
    from_: int = Field(alias="from")
    to: int
    proof: list[str]


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem answers a route may give."""
    return {
        status: {
            "model": Problem,
            "content": {"application/problem+json": {}},
            "description": "problem details",
        }
        for status in statuses
    }
