"""Request dependencies: the server state, the bearer credential and the role checks.

Who may do what (docs/api.md, docs/security.md):

============================  =========  ======  ===========  ==========  ==========
route                         anonymous  member  owner/admin  read key*   ingest key
============================  =========  ======  ===========  ==========  ==========
POST /v1/auth/login           yes        yes     yes          —           —
POST /v1/auth/logout, /v1/me  401        yes     yes          me: yes     me: yes
API keys: list                401        403     yes          yes         403
API keys: create / delete     401        403     yes          403         403
POST /v1/events               401        403     403          403         yes
audit-logs, users, /v1/log/*  401        403     yes          yes         403
POST /v1/audit-logs/exports   401        403     yes          yes         403
============================  =========  ======  ===========  ==========  ==========

(*) a read key acts as its creator with the creator's current role. Every credential sees only
its own organization; another organization's event ids answer 404, as if they did not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Connection

from auditlens.server.accounts import Principal, resolve_credential
from auditlens.server.problems import ProblemError, unauthorized
from auditlens.server.state import ServerState

_bearer = HTTPBearer(
    auto_error=False,
    description="A session token from POST /v1/auth/login, or an API key.",
)


async def get_state(request: Request) -> ServerState:
    """The server's state (``async``: no I/O, so no hop to the thread pool; see below)."""
    state: ServerState = request.app.state.auditlens
    return state


StateDep = Annotated[ServerState, Depends(get_state)]


CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def authenticate(
    request: Request, conn: Connection, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """The principal of the request's bearer credential, read in ``conn``; 401 without one.

    A route that reads the database anyway calls this inside its own read transaction
    (``audit_logs``): one transaction for both is, on PostgreSQL, a pooled connection, a
    ``BEGIN`` and a ``COMMIT`` fewer per request, and the page sees exactly the organization
    the credential was checked against.
    """
    if credentials is None:
        if request.headers.get("authorization"):
            raise unauthorized("the Authorization header must be 'Bearer <token or API key>'")
        raise unauthorized("this request needs a bearer token or API key")
    principal = resolve_credential(conn, credentials.credentials)
    if principal is None:
        raise unauthorized("the token or API key is unknown, expired or revoked")
    return principal


def get_principal(request: Request, state: StateDep, credentials: CredentialsDep) -> Principal:
    """The principal of the request's bearer credential (its own read); 401 without one."""
    with state.db.read() as conn:
        return authenticate(request, conn, credentials)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


# The role checks below are ``async def`` because they do no I/O: FastAPI runs a plain ``def``
# dependency on its thread pool, a hop to a worker thread and back per request for a few
# comparisons (the credential lookup above does I/O and stays a ``def``).


async def require_session(principal: PrincipalDep) -> Principal:
    if principal.kind != "session":
        raise ProblemError(403, "this request needs a login session, not an API key")
    return principal


def check_reader(principal: Principal) -> Principal:
    """Owner or admin (session or read key) of the organization."""
    if principal.kind == "ingest_key":
        raise ProblemError(403, "an ingest key may only append events (POST /v1/events)")
    if not principal.can_read:
        role = principal.user.role if principal.user else "none"
        raise ProblemError(
            403, f"only owners and admins can read the audit log; this credential's role is {role}"
        )
    return principal


async def require_reader(principal: PrincipalDep) -> Principal:
    return check_reader(principal)


async def require_manager(principal: PrincipalDep) -> Principal:
    """Owner or admin with a login session (API keys cannot mint or revoke keys)."""
    check_reader(principal)
    if principal.kind != "session":
        raise ProblemError(403, "API keys are managed with a login session, not with an API key")
    return principal


async def require_ingest(principal: PrincipalDep) -> Principal:
    if principal.kind != "ingest_key":
        raise ProblemError(403, "appending events needs an API key with scope 'ingest'")
    return principal


SessionDep = Annotated[Principal, Depends(require_session)]
ReaderDep = Annotated[Principal, Depends(require_reader)]
ManagerDep = Annotated[Principal, Depends(require_manager)]
IngestDep = Annotated[Principal, Depends(require_ingest)]


def client_ip(request: Request) -> str:
    """The client's address: the peer's, or a trusted proxy's ``X-Forwarded-For`` entry.

    ``auditlens serve`` rewrites the peer address from proxy headers only for the proxies that
    ``--forwarded-allow-ips`` names (none by default), so a client cannot choose its address.
    """
    return request.client.host if request.client else "unknown"


def request_info(request: Request) -> dict[str, str]:
    """The ``event.request`` of an audit event caused by ``request``."""
    ip = client_ip(request)
    agent = request.headers.get("user-agent", "")[:512]
    return {"ip": ip, "user_agent": agent}
