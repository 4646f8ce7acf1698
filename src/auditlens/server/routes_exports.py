"""``POST /v1/audit-logs/exports``: the viewer records an export as an ``audit.exported`` event.

Whoever takes data out of the log must show up in it (issue 5). The viewer cannot append
events itself (only ingest keys can, and an ingest key would not say *who* exported), so it
asks the server: the server appends ``audit.exported`` with ``user_id`` = the caller, the
caller's ``event.request`` ({ip, user_agent}) and the fields the exporter sends
(:func:`auditlens.export.record.export_event_payload`).

Decisions:

* Only owners and admins (a login session or their read key) may record: they are the only
  people who can read, hence export, the log. Members get 403, ingest keys 403, no credential
  401 (the matrix in :mod:`.deps`).
* The body is validated strictly, field by field, each failure a 422 problem naming the field:
  unknown members are refused (a misspelt ``sha256`` must not silently record an event without
  the hash), ``format`` is ``json | ndjson | csv``, ``count``, ``bytes`` and ``tree_size`` are
  non-negative integers, ``sha256`` and ``evidence_sha256`` are lowercase hex SHA-256 digests,
  ``file_name`` is a bare file name (no directories: the recipient's paths are none of the
  log's business), ``filter`` is a JSON object. The resulting event must also pass the ordinary
  event rules (no floats, size limit), reported under the body's own field names.
* ``tree_size`` larger than the organization's log is refused: an export cannot cover
  entries that do not exist yet.
* The server adds ``credential`` (``session`` or ``read_key``, plus ``key_id`` for a key) so the
  log says how the person was signed in.
* The answer is 201 ``{index, id, checkpoint}``: where the record sits and the signed
  checkpoint that covers it, so the exporter can keep proof that it was recorded.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from auditlens.core.canonical import MAX_SAFE_INTEGER
from auditlens.core.events import EventError
from auditlens.server.accounts import Principal
from auditlens.server.deps import ReaderDep, StateDep, request_info
from auditlens.server.models import problems
from auditlens.server.problems import invalid
from auditlens.server.responses import JSONBytes
from auditlens.server.routes_events import (
    _check_content_type,
    parse_json_body,
    read_limited_body,
)
from auditlens.server.schema import organizations
from auditlens.server.sequencer import validate_batch
from auditlens.server.state import ServerState

router = APIRouter(prefix="/v1", tags=["audit log"])

MAX_BODY_BYTES = 64 * 1024
"""An export record is small; the event it becomes is capped at 65,535 bytes anyway."""

FORMATS = ("json", "ndjson", "csv")
REQUIRED = ("format", "count", "filter", "sha256")
OPTIONAL = ("bytes", "tree_size", "file_name", "evidence_sha256")
_HEX64 = re.compile(r"[0-9a-f]{64}")

_OPENAPI_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": list(REQUIRED),
                    "additionalProperties": False,
                    "properties": {
                        "format": {"enum": list(FORMATS)},
                        "count": {"type": "integer", "minimum": 0},
                        "filter": {"type": "object"},
                        "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                        "bytes": {"type": "integer", "minimum": 0},
                        "tree_size": {"type": "integer", "minimum": 0},
                        "file_name": {"type": "string", "maxLength": 255},
                        "evidence_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                    },
                }
            }
        },
    }
}


def _count(body: dict[str, Any], name: str) -> None:
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(name, f"must be a non-negative integer, got {type(value).__name__}")
    if not 0 <= value <= MAX_SAFE_INTEGER:
        raise invalid(name, f"must be between 0 and {MAX_SAFE_INTEGER}, got {value}")


def _digest(body: dict[str, Any], name: str) -> None:
    value = body[name]
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        raise invalid(name, "must be a SHA-256 digest: 64 lowercase hexadecimal characters")


def parse_export_record(raw: bytes) -> dict[str, Any]:
    """The validated export fields of a request body; ProblemError (400 / 422) otherwise."""
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object with format, count, filter and sha256")
    unknown = sorted(set(body) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        allowed = ", ".join((*REQUIRED, *OPTIONAL))
        raise invalid(unknown[0], f"is not a field of an export record; use {allowed}")
    for name in REQUIRED:
        if name not in body:
            raise invalid(name, "is required")
    if body["format"] not in FORMATS:
        raise invalid("format", f"must be one of {', '.join(FORMATS)}, got {body['format']!r}")
    for name in ("count", "bytes", "tree_size"):
        if name in body:
            _count(body, name)
    if not isinstance(body["filter"], dict):
        raise invalid("filter", "must be a JSON object (the filter the export applied)")
    for name in ("sha256", "evidence_sha256"):
        if name in body:
            _digest(body, name)
    if "file_name" in body:
        name = body["file_name"]
        if not isinstance(name, str) or not 1 <= len(name) <= 255:
            raise invalid("file_name", "must be a file name of 1 to 255 characters")
        if "/" in name or "\\" in name or name in (".", ".."):
            raise invalid("file_name", "must be a bare file name, without directories")
    if "tree_size" in body and body["count"] > body["tree_size"]:
        raise invalid("count", f"is larger than tree_size ({body['tree_size']})")
    return body


def export_event(fields: dict[str, Any], principal: Principal, request: Request) -> dict[str, Any]:
    """The ``audit.exported`` submission for ``fields`` exported by ``principal``."""
    assert principal.user is not None  # require_reader: sessions and read keys have a user
    body: dict[str, Any] = {"outcome": "success", **fields, "credential": principal.kind}
    if principal.key_id is not None:
        body["key_id"] = principal.key_id
    body["request"] = request_info(request)
    return {
        "type": "audit.exported",
        "user_id": principal.user.id,
        "task_id": None,
        "agent_id": None,
        "event": body,
    }


def _append(state: ServerState, org_id: str, event: dict[str, Any]) -> tuple[int, str, str]:
    try:
        validate_batch([event], prefix="record")
    except EventError as exc:
        # ``record[0].event.filter.x`` -> ``filter.x``: name the field as the caller sent it.
        field = exc.field.removeprefix("record[0]").removeprefix(".").removeprefix("event.")
        raise invalid(field or "body", exc.reason) from None
    claimed = event["event"].get("tree_size")
    with state.db.write() as conn:
        if claimed is not None:
            size = conn.execute(
                sa.select(organizations.c.tree_size).where(organizations.c.id == org_id)
            ).scalar_one()
            if claimed > size:
                raise invalid("tree_size", f"is larger than this organization's log ({size})")
        appended = state.sequencer.append_in(conn, org_id, [event])
    return appended.first_index, appended.ids[0], appended.checkpoint


@router.post(
    "/audit-logs/exports",
    status_code=201,
    summary="Record an export of the audit log (appends audit.exported as the caller)",
    openapi_extra=_OPENAPI_BODY,
    responses=problems(400, 401, 403, 413, 415, 422),
)
async def record_export(request: Request, state: StateDep, principal: ReaderDep) -> Response:
    _check_content_type(request)
    raw = await read_limited_body(request, MAX_BODY_BYTES)
    fields = parse_export_record(raw)
    event = export_event(fields, principal, request)
    index, event_id, checkpoint = await run_in_threadpool(_append, state, principal.org.id, event)
    return JSONBytes({"index": index, "id": event_id, "checkpoint": checkpoint}, status_code=201)
