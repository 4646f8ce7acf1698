"""``POST /v1/audit-logs/exports``: the viewer records an export as an ``audit.exported`` event.

Whoever takes data out of the log must show up in it. The viewer cannot append
events itself (only ingest keys can, and an ingest key would not say *who* exported), so it
asks the server: the server appends ``audit.exported`` with ``user_id`` = the caller, the
caller's ``event.request`` ({ip, user_agent}) and the fields the exporter sends
(:func:`auditlens.export.record.export_event_payload`).

Since evidence v2 the record is also the log's word on the export's completeness: the server
computes the matching set for the filter over the export's tree size itself
(:mod:`auditlens.server.attestation`) and records the canonical filter, the tree size, the
count, the digest and the retention floor. The export carries the record with its inclusion
proof, so a verifier can tell a complete answer from a partial one.

Decisions:

* Only owners and admins (a login session or their read key) may record: they are the only
  people who can read, hence export, the log. Members get 403, ingest keys 403, no credential
  401 (the matrix in :mod:`.deps`).
* The body is validated strictly, field by field, each failure a 422 problem naming the field:
  unknown members are refused (a misspelt ``sha256`` must not silently record an event without
  the hash), ``format`` is ``json | ndjson | csv``, ``count``, ``bytes`` and ``tree_size`` are
  non-negative integers, ``sha256`` and ``evidence_sha256`` are lowercase hex SHA-256 digests,
  ``file_name`` is a bare file name (no directories: the recipient's paths are none of the
  log's business), ``filter`` is an export filter (:mod:`auditlens.core.export_filter`: unknown
  keys, unknown types and a ``user_email`` nobody has are 422 ``filter.<key>``). The resulting
  event must also pass the ordinary event rules (no floats, size limit), reported under the
  body's own field names.
* ``tree_size`` is required (the attestation is "the answer at this size") and may not exceed
  the organization's log: an export cannot cover entries that do not exist yet.
* ``count`` is what the exporter found. The recorded ``count`` is the server's; when the
  exporter's differs it is kept as ``exporter_count`` (the discrepancy is itself evidence),
  and the answer lets the exporter see it before it publishes anything.
* ``sha256``/``bytes``/``evidence_sha256`` are optional: a v2 JSON export embeds the record
  in the file, so it cannot know its own hash before asking; the events are bound by the
  digest instead.
* The server adds ``credential`` (``session`` or ``read_key``, plus ``key_id`` for a key) so the
  log says how the person was signed in.
* A hand-picked selection (``filter`` = ``{selected_rows, indexes}``, what the viewer records
  for selected rows) has no filter the server could recompute: it is recorded as stated, with
  the exporter's ``count`` (required then) and no ``attestation``; the answer says
  ``attested: false``.
* The answer is 201 ``{index, id, checkpoint, entry, proof, attested, filter, tree_size, count,
  digest, min_index}`` (the last two only when attested): where the record sits, its exact
  bytes (``entry``, the canonical JSON text), the signed checkpoint of size ``index + 1``
  that covers it, the RFC 9162 inclusion proof of the record in it (base64 hashes), and what
  was attested.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from auditlens.core.canonical import MAX_SAFE_INTEGER
from auditlens.core.events import EventError
from auditlens.core.export_filter import FilterError, canonical_filter
from auditlens.server.accounts import Principal
from auditlens.server.attestation import (
    ATTESTATION_FORMAT,
    UnknownUserError,
    attest,
    resolve_user,
    unattestable,
)
from auditlens.server.deps import ReaderDep, StateDep, request_info
from auditlens.server.models import problems
from auditlens.server.problems import invalid
from auditlens.server.responses import JSONBytes
from auditlens.server.routes_events import (
    _check_content_type,
    parse_json_body,
    read_limited_body,
)
from auditlens.server.schema import entries, organizations
from auditlens.server.sequencer import validate_batch
from auditlens.server.state import ServerState
from auditlens.server.tree import TreeReader

router = APIRouter(prefix="/v1", tags=["audit log"])

MAX_BODY_BYTES = 64 * 1024
"""An export record is small; the event it becomes is capped at 65,535 bytes anyway."""

FORMATS = ("json", "ndjson", "csv")
REQUIRED = ("format", "filter", "tree_size")
OPTIONAL = ("count", "sha256", "bytes", "file_name", "evidence_sha256")
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


SELECTION_KEYS = ("selected_rows", "indexes")
"""The "filter" of rows picked by hand in the viewer: recorded, but no filter to attest."""


def _selection(body: dict[str, Any]) -> None:
    rows, runs = body["filter"]["selected_rows"], body["filter"]["indexes"]
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise invalid("filter.selected_rows", "must be a non-negative integer")
    if not isinstance(runs, str) or len(runs) > 4096:
        raise invalid("filter.indexes", "must be the selected index ranges as text")
    if "count" not in body:
        raise invalid("count", "is required for a selection (there is no filter to count)")


def is_selection(flt: dict[str, Any]) -> bool:
    """True for a hand-picked selection (recorded as stated, not attested)."""
    return set(flt) == set(SELECTION_KEYS)


def parse_export_record(raw: bytes) -> dict[str, Any]:
    """The validated export fields of a request body (filter canonical); ProblemError otherwise."""
    body = parse_json_body(raw)
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object with format, filter and tree_size")
    _check_field_names(body)
    if body["format"] not in FORMATS:
        raise invalid("format", f"must be one of {', '.join(FORMATS)}, got {body['format']!r}")
    for name in ("count", "bytes", "tree_size"):
        if name in body:
            _count(body, name)
    _canonicalize_filter(body)
    for name in ("sha256", "evidence_sha256"):
        if name in body:
            _digest(body, name)
    if "file_name" in body:
        _file_name(body["file_name"])
    if "count" in body and body["count"] > body["tree_size"]:
        raise invalid("count", f"is larger than tree_size ({body['tree_size']})")
    return body


def _check_field_names(body: dict[str, Any]) -> None:
    """Every required field is there and nothing else: an unknown one is a client's mistake."""
    unknown = sorted(set(body) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        allowed = ", ".join((*REQUIRED, *OPTIONAL))
        raise invalid(unknown[0], f"is not a field of an export record; use {allowed}")
    for name in REQUIRED:
        if name not in body:
            raise invalid(name, "is required")


def _canonicalize_filter(body: dict[str, Any]) -> None:
    """Check ``body["filter"]`` and replace it by its canonical form (a selection stays as is)."""
    if not isinstance(body["filter"], dict):
        raise invalid("filter", "must be a JSON object (the filter the export applied)")
    if set(body["filter"]) == set(SELECTION_KEYS):
        _selection(body)
        return
    try:
        body["filter"] = canonical_filter(body["filter"])
    except FilterError as exc:
        raise invalid(f"filter.{exc.key}" if exc.key else "filter", str(exc)) from None


def _file_name(name: object) -> None:
    """The export's bare file name, recorded so a reader can match the file to the record."""
    if not isinstance(name, str) or not 1 <= len(name) <= 255:
        raise invalid("file_name", "must be a file name of 1 to 255 characters")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise invalid("file_name", "must be a bare file name, without directories")


def export_event(fields: dict[str, Any], principal: Principal, request: Request) -> dict[str, Any]:
    """The ``audit.exported`` submission for ``fields`` exported by ``principal``.

    ``fields`` holds the attested ``count``, ``digest`` and ``min_index`` (and, when the
    exporter's count differed, ``exporter_count``).
    """
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


def _attest(state: ServerState, org_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with the server's count, digest and retention floor (a read transaction).

    A hand-picked selection has no filter to recompute: it is recorded as the exporter states
    it, without ``attestation``, and the exporter is told it was not attested.
    """
    with state.db.read() as conn:
        size = conn.execute(
            sa.select(organizations.c.tree_size).where(organizations.c.id == org_id)
        ).scalar_one()
        if fields["tree_size"] > size:
            raise invalid("tree_size", f"is larger than this organization's log ({size})")
        if is_selection(fields["filter"]):
            return dict(fields)
        refused = unattestable(fields["filter"])
        if refused is not None:
            raise invalid(f"filter.{refused[0]}", refused[1])
        try:
            flt = resolve_user(conn, org_id, fields["filter"])
        except UnknownUserError as exc:
            raise invalid("filter.user_email", str(exc)) from None
        except ValueError as exc:
            raise invalid("filter.user_id", str(exc)) from None
        got = attest(conn, org_id, flt, fields["tree_size"])
    out = {k: v for k, v in fields.items() if k != "count"}
    out["filter"] = flt
    out.update(
        attestation=ATTESTATION_FORMAT, count=got.count, digest=got.digest, min_index=got.min_index
    )
    if "count" in fields and fields["count"] != got.count:
        out["exporter_count"] = fields["count"]
    return out


def _append(state: ServerState, org_id: str, event: dict[str, Any]) -> dict[str, Any]:
    try:
        validate_batch([event], prefix="record")
    except EventError as exc:
        # ``record[0].event.filter.x`` -> ``filter.x``: name the field as the caller sent it.
        field = exc.field.removeprefix("record[0]").removeprefix(".").removeprefix("event.")
        raise invalid(field or "body", exc.reason) from None
    with state.db.write() as conn:
        appended = state.sequencer.append_in(conn, org_id, [event])
        index = appended.first_index
        entry = conn.execute(
            sa.select(entries.c.body).where(entries.c.org_id == org_id, entries.c.idx == index)
        ).scalar_one()
        size = index + 1
        proof = TreeReader(conn, org_id, size).inclusion_proof(index, size)
    return {
        "index": index,
        "id": appended.ids[0],
        "checkpoint": appended.checkpoint,
        "entry": bytes(entry).decode("utf-8"),
        "proof": [base64.b64encode(h).decode("ascii") for h in proof],
    }


@router.post(
    "/audit-logs/exports",
    status_code=201,
    summary="Record an export (appends audit.exported, attesting the export's completeness)",
    openapi_extra=_OPENAPI_BODY,
    responses=problems(400, 401, 403, 413, 415, 422),
)
async def record_export(request: Request, state: StateDep, principal: ReaderDep) -> Response:
    _check_content_type(request)
    raw = await read_limited_body(request, MAX_BODY_BYTES)
    fields = parse_export_record(raw)
    attested = await run_in_threadpool(_attest, state, principal.org.id, fields)
    event = export_event(attested, principal, request)
    answer = await run_in_threadpool(_append, state, principal.org.id, event)
    answer["attested"] = "attestation" in attested  # a hand-picked selection is not
    keys = ("filter", "tree_size", "count", "digest", "min_index")
    answer.update({k: attested[k] for k in keys if k in attested})
    return JSONBytes(answer, status_code=201)
