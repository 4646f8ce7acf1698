"""Recording an export in the log itself: the ``audit.exported`` event (who took data out).

Two ways, one route. :func:`attester` is what an export made against a server uses: the writer
asks it, before it finishes the evidence, for the server's completeness record (the server
computes the filter's matching set itself, :mod:`auditlens.server.attestation`), and the record
with its inclusion proof goes into the evidence. Both `auditlens export --server` and the
viewer's export dialog use it. A hand-picked selection of rows is recorded but cannot be
attested (:class:`RecordedNotAttestedError` says where it was recorded). :func:`record_export`
records an export after the fact (its evidence then says that completeness is not attested); it
is kept for callers that finish the files first.

``audit.exported`` carries ``format, count, filter, sha256``. The viewer cannot
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
from typing import Any, Protocol

from auditlens.client.errors import ApiError
from auditlens.core.completeness import Completeness
from auditlens.core.errors import FormatError
from auditlens.core.export_filter import PREFIX
from auditlens.export.writer import (
    AttestationUnavailableError,
    Attester,
    AttestRequest,
    ExportResult,
)

EXPORTS_ROUTE = "/v1/audit-logs/exports"


class ExportRecorder(Protocol):
    """What records an export: :class:`auditlens.client.api.AuditApiClient`, signed in.

    Going through the client means the record request has the same TLS settings (a custom CA,
    for one), timeouts and error sentences as every other request to that server.
    """

    @property
    def token(self) -> str | None: ...

    def record_export(
        self, payload: Mapping[str, object], *, timeout: float | None = None
    ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RecordOutcome:
    """Whether the server recorded the export, and a sentence for the person."""

    recorded: bool
    message: str
    event: Mapping[str, object] | None = None


def export_event_payload(result: ExportResult) -> dict[str, object]:
    """The ``event`` fields of ``audit.exported`` for ``result``, recorded after the fact."""
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
    client: ExportRecorder, result: ExportResult, *, timeout: float = 15.0
) -> RecordOutcome:
    """Record ``result`` on the server; never raises for server or network failures."""
    if not client.token:
        return RecordOutcome(False, "The export was not recorded on the server: not signed in.")
    try:
        event = client.record_export(export_event_payload(result), timeout=timeout)
    except ApiError as exc:
        if exc.status is None:  # no answer: unreachable, TLS refused, or not the audit API
            return RecordOutcome(
                False,
                f"The export was not recorded on the server: {exc} The files are complete and "
                "verified. Record it by hand if your policy requires it.",
            )
        return RecordOutcome(
            False,
            f"The export was not recorded on the server: {_refusal(exc)}. The files are complete.",
        )
    where = f" at index {event['index']}" if "index" in event else ""
    return RecordOutcome(True, f"Recorded as an audit.exported event{where}.", event)


def attest_payload(request: AttestRequest) -> dict[str, object]:
    """The request body asking the server to record and attest an export."""
    payload: dict[str, object] = {
        "format": request.format,
        "filter": dict(request.filter),
        "tree_size": request.tree_size,
        "count": request.count,
        "file_name": request.file_name,
    }
    if request.sha256 is not None:
        payload["sha256"] = request.sha256
    if request.bytes is not None:
        payload["bytes"] = request.bytes
    return payload


def attester(client: ExportRecorder, *, timeout: float = 120.0) -> Attester:
    """An :data:`~auditlens.export.writer.Attester` that records the export on the server."""

    def attest(request: AttestRequest) -> Completeness:
        if not client.token:
            raise AttestationUnavailableError("not signed in, so the export was not recorded.")
        try:
            body = client.record_export(attest_payload(request), timeout=timeout)
        except ApiError as exc:
            raise AttestationUnavailableError(
                f"{_refusal(exc)}; the export was not recorded."
            ) from None
        try:
            if body.get("attested") is False:
                raise RecordedNotAttestedError(body.get("index"))
            return (
                Completeness.from_obj(
                    {k: body.get(k) for k in ("record", "index", "checkpoint", "proof")}
                    | {"record": body.get("entry")}
                )
                or _missing()
            )
        except (AttributeError, FormatError) as exc:
            raise AttestationUnavailableError(
                f"the server recorded the export but its answer carries no usable completeness "
                f"record ({exc}); an older server?"
            ) from None

    return attest


class RecordedNotAttestedError(AttestationUnavailableError):
    """The server recorded the export but could not attest it: a hand-picked selection of rows.

    Rows picked by hand have no filter the server could recount, so the log holds the record
    (who exported which indexes) without a count or digest. ``index`` is where it sits.
    """

    def __init__(self, index: object) -> None:
        self.index = index if isinstance(index, int) and not isinstance(index, bool) else None
        where = f" at index {self.index}" if self.index is not None else ""
        super().__init__(
            "a hand-picked selection of rows has no filter the server can recount; it was "
            f"recorded as an audit.exported event{where}, without attestation."
        )


EMAIL_PREFIX_REASON = "the server cannot attest an email prefix (give the full email)"
IP_REASON = "the server cannot attest a filter on request addresses"
SELECTION_REASON = "rows picked by hand have no filter the server can recount"


def attestation_limits(flt: Mapping[str, object]) -> dict[str, str]:
    """The keys of ``flt`` the server will not attest, each with the reason, before asking it.

    This is the reference server's rule (docs/evidence-format.md §7: no ``ip``, no
    ``user_email`` prefix; a hand-picked selection is recorded without attestation), so that
    the export dialog can say it before the person clicks Export. The server's answer remains
    the word that counts: the result of the export says what it actually did.
    """
    limits: dict[str, str] = {}
    if set(flt) == {"selected_rows", "indexes"}:
        limits["selected_rows"] = SELECTION_REASON
        return limits
    email = flt.get("user_email")
    if isinstance(email, str) and email.endswith(PREFIX):
        limits["user_email"] = EMAIL_PREFIX_REASON
    if "ip" in flt:
        limits["ip"] = IP_REASON
    return limits


def _missing() -> Completeness:
    raise FormatError("no record in the answer")


def _refusal(exc: ApiError) -> str:
    """Why the server did not record the export, in words (the client's sentence otherwise)."""
    if exc.status in (404, 405):
        return "this server does not support recording exports (no POST /v1/audit-logs/exports)"
    if exc.status in (401, 403):
        return "the server refused (sign in again as an owner or admin)"
    if exc.status is None:
        return f"the server could not be reached or understood ({exc})"
    return f"the server answered HTTP {exc.status} ({exc})"
