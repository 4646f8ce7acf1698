"""Recording an export in the log itself: the ``audit.exported`` event (who took data out).

DESIGN.md §3 lists ``audit.exported`` with ``format, count, filter, sha256``. The viewer cannot
append to the log (only ingest keys can, and the server must vouch for *who* exported), so it
asks the server to record it: ``POST /v1/audit-logs/exports`` with the payload below, as the
signed-in user (or their read key). The server (:mod:`auditlens.server.routes_exports`) validates
the payload strictly and appends the event with ``user_id`` = that user and the payload as
``event``, plus ``outcome: "success"``, ``credential`` (``session`` / ``read_key``, and
``key_id``) and ``request: {ip, user_agent}``; it answers 201 ``{index, id, checkpoint}``.
Recording happens after the files are complete; if it fails (offline, or a server without the
route) the export still stands and the caller tells the person it was not recorded. The
``sha256`` binds the exact file (and ``evidence_sha256`` the sidecar) to the log, which is what
makes the unsigned parts of the evidence (filter, time) attributable later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx
import orjson

from auditlens.export.writer import ExportResult

EXPORTS_ROUTE = "/v1/audit-logs/exports"


class _HasCredential(Protocol):
    @property
    def base_url(self) -> str: ...

    @property
    def token(self) -> str | None: ...


@dataclass(frozen=True)
class RecordOutcome:
    """Whether the server recorded the export, and a sentence for the person."""

    recorded: bool
    message: str
    event: Mapping[str, object] | None = None


def export_event_payload(result: ExportResult) -> dict[str, object]:
    """The ``event`` fields of ``audit.exported`` for ``result`` (DESIGN.md §3 names)."""
    payload: dict[str, object] = {
        "format": result.format,
        "count": result.count,
        "filter": dict(result.filter),
        "sha256": result.sha256,
        "bytes": result.bytes,
        "tree_size": result.tree_size,
        "file_name": result.path.name,
    }
    if result.evidence_sha256 is not None:
        payload["evidence_sha256"] = result.evidence_sha256
    return payload


def record_export(
    client: _HasCredential,
    result: ExportResult,
    *,
    transport: httpx.BaseTransport | None = None,
    timeout: float = 15.0,
) -> RecordOutcome:
    """POST the ``audit.exported`` payload; never raises for server or network failures."""
    if not client.token:
        return RecordOutcome(False, "The export was not recorded on the server: not signed in.")
    url = client.base_url.rstrip("/") + EXPORTS_ROUTE
    try:
        with httpx.Client(timeout=timeout, transport=transport) as http:
            response = http.post(
                url,
                content=orjson.dumps(export_event_payload(result)),
                headers={
                    "Authorization": f"Bearer {client.token}",
                    "Content-Type": "application/json",
                },
            )
    except httpx.HTTPError as exc:
        return RecordOutcome(
            False,
            f"The export was not recorded on the server ({type(exc).__name__}); the files are "
            "complete and verified. Record it by hand if your policy requires it.",
        )
    if response.status_code in (200, 201):
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        event = body if isinstance(body, dict) else None
        where = f" at index {event['index']}" if event and "index" in event else ""
        return RecordOutcome(True, f"Recorded as an audit.exported event{where}.", event)
    if response.status_code in (404, 405):
        why = "this server does not support recording exports (no POST /v1/audit-logs/exports)"
    elif response.status_code in (401, 403):
        why = "the server refused (sign in again as an owner or admin)"
    else:
        why = f"the server answered HTTP {response.status_code}"
    return RecordOutcome(
        False, f"The export was not recorded on the server: {why}. The files are complete."
    )
