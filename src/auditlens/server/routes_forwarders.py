"""SIEM forwarders: ``/v1/forwarders`` (Owner/Admin) and each one's status.

Decisions:

* Listing and status need an Owner or Admin (a session or their read key); adding, changing and
  removing need an Owner or Admin with a login session, like API keys.
* Secrets are write-only: answers say ``has_secret`` and nothing more.
* ``PATCH`` changes the name, configuration (merged over the stored one) and secret, pauses or
  resumes (``state``), and replays (``replay_from``: deliver again from that log index).
* Every change is an audit event in the organization's log (see
  :mod:`auditlens.server.forwarding.store`).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from auditlens.server.deps import ManagerDep, ReaderDep, StateDep, request_info
from auditlens.server.forwarding import control, store
from auditlens.server.forwarding.destination import ConfigError
from auditlens.server.models import problems
from auditlens.server.problems import ProblemError, invalid
from auditlens.server.responses import JSONBytes
from auditlens.server.state import ServerState

router = APIRouter(prefix="/v1/forwarders", tags=["forwarding"])


class ForwarderIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field(description="splunk_hec | datadog | syslog | webhook | securityhub")
    config: dict[str, Any] = Field(default_factory=dict)
    secret: str | None = Field(default=None, max_length=4096, description="write-only")
    start: Literal["beginning", "end"] = "end"


class ForwarderPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    secret: str | None = Field(default=None, min_length=1, max_length=4096)
    state: Literal["active", "paused"] | None = None
    replay_from: int | None = Field(default=None, ge=0)


def _find(state: ServerState, org_id: str, forwarder_id: str) -> store.Forwarder:
    with state.db.read() as conn:
        fwd = store.get(conn, forwarder_id, org_id)
    if fwd is None:
        raise ProblemError(404, f"there is no forwarder {forwarder_id!r} in this organization")
    return fwd


def _via(request: Request) -> dict[str, Any]:
    return {"via": "api", "request": request_info(request)}


@router.get("", summary="List the SIEM forwarders", responses=problems(401, 403))
def list_forwarders(state: StateDep, principal: ReaderDep) -> Response:
    with state.db.read() as conn:
        items = store.list_all(conn, principal.org.id)
    return JSONBytes({"items": [f.to_dict() for f in items]})


@router.post(
    "", status_code=201, summary="Add a SIEM forwarder", responses=problems(400, 401, 403, 422)
)
def add_forwarder(
    body: ForwarderIn, request: Request, state: StateDep, principal: ManagerDep
) -> Response:
    assert principal.user is not None
    try:
        fwd = control.add(
            state, principal.org.id, name=body.name, kind=body.kind, config=body.config,
            secret=body.secret, start=body.start, user_id=principal.user.id, **_via(request),
        )  # fmt: skip
    except ConfigError as exc:
        raise invalid(exc.field, exc.reason) from None
    return JSONBytes(fwd.to_dict(), status_code=201)


@router.get("/{forwarder_id}", summary="One SIEM forwarder", responses=problems(401, 403, 404))
def get_forwarder(forwarder_id: str, state: StateDep, principal: ReaderDep) -> Response:
    return JSONBytes(_find(state, principal.org.id, forwarder_id).to_dict())


@router.patch(
    "/{forwarder_id}",
    summary="Change, pause, resume or replay a SIEM forwarder",
    responses=problems(400, 401, 403, 404, 422),
)
def patch_forwarder(
    forwarder_id: str,
    body: ForwarderPatch,
    request: Request,
    state: StateDep,
    principal: ManagerDep,
) -> Response:
    assert principal.user is not None
    fwd = _find(state, principal.org.id, forwarder_id)
    who = {"user_id": principal.user.id, **_via(request)}
    try:
        if body.replay_from is not None:  # refuse before changing anything else
            control.check_replay(state, fwd, body.replay_from)
        if body.name is not None or body.config is not None or body.secret is not None:
            fwd = control.change(
                state, fwd, name=body.name, config=body.config, secret=body.secret, **who
            )
        if body.replay_from is not None:
            fwd = control.replay(state, fwd, body.replay_from, **who)
        if body.state is not None and body.state != fwd.state:
            fwd = control.set_state(state, fwd, body.state, **who)
    except ConfigError as exc:
        name = "replay_from" if exc.field == "from_index" else exc.field
        raise invalid(name, exc.reason) from None
    return JSONBytes(fwd.to_dict())


@router.delete(
    "/{forwarder_id}",
    status_code=204,
    summary="Remove a SIEM forwarder",
    responses=problems(401, 403, 404),
)
def delete_forwarder(
    forwarder_id: str, request: Request, state: StateDep, principal: ManagerDep
) -> Response:
    assert principal.user is not None
    fwd = _find(state, principal.org.id, forwarder_id)
    control.remove(state, fwd, user_id=principal.user.id, **_via(request))
    return Response(status_code=204)


@router.get(
    "/{forwarder_id}/status",
    summary="Lag, last success, last error and dead letters of a forwarder",
    description=(
        "`lag_events`: log entries at or past the cursor (filtered-out ones included). "
        "`lag_seconds`: how long the oldest of them has been in the log, measured from when "
        "it was appended (its checkpoint's time), not from the event's own timestamp, so "
        "backdated events (a demo seed, an import) do not show days of lag; 0 when caught up. "
        "`last_success_at`: when the cursor last moved forward (ms since the epoch, stored at "
        "most every 0.5 s), null before the first delivery. `last_error`/`last_error_at`: "
        "the latest failure, cleared by the next success."
    ),
    responses=problems(401, 403, 404),
)
def forwarder_status(forwarder_id: str, state: StateDep, principal: ReaderDep) -> Response:
    fwd = _find(state, principal.org.id, forwarder_id)
    with state.db.read() as conn:
        return JSONBytes(store.status(conn, fwd))
