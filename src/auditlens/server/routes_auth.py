"""Login, logout, who-am-I and API keys; each security-relevant action is itself audited.

Decisions:

* A successful login, a logout, an API key's creation and deletion are appended to the
  organization's log with ``event.request = {ip, user_agent}``, in the same transaction as the
  change they record.
* Failed logins for an existing account are logged in aggregate, so an anonymous caller cannot
  grow the log at will: per (email, source) and window, the first failure is an ``auth.login``
  event with outcome ``failure`` (``failure_reason``, ``failed_attempts: 1``), and so is the
  failure that spends the pair's budget (``failed_attempts: 5, locked_out: true``); the
  failures in between are only counted, and the next successful login reports the count
  (``failed_attempts``). A failed login for an unknown email belongs to no organization, so it
  is only counted. Attempts refused with 429 or 503 are neither checked nor logged.
* Every login runs on the password gate (:mod:`.password_gate`): a few threads of its own
  with a short queue, 503 with ``Retry-After`` beyond it. The failed-login budgets
  (:mod:`.ratelimit`) are checked there before any password is, and answer 429 with
  ``Retry-After``.
* A failed login answers 401 after a delay that grows with the recent failures of that
  (email, source) pair (capped at 2 s), spent on the event loop, not on a gate thread.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from auditlens.core.timestamps import format_timestamp
from auditlens.server import accounts, models
from auditlens.server.accounts import AccountError, Principal
from auditlens.server.deps import (
    ManagerDep,
    PrincipalDep,
    ReaderDep,
    SessionDep,
    StateDep,
    client_ip,
    request_info,
)
from auditlens.server.models import problems
from auditlens.server.password_gate import RETRY_AFTER_SECONDS, GateFullError, PasswordGate
from auditlens.server.problems import ProblemError, invalid, unauthorized
from auditlens.server.responses import JSONBytes

router = APIRouter(prefix="/v1", tags=["auth"])


class LoginRequest(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class ApiKeyRequest(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    scope: Literal["read", "ingest"] = Field(
        description="read: acts as its creator (owner or admin); ingest: may only append events"
    )


def auth_event(
    event_type: str, user_id: str | None, outcome: str, request: Request, **fields: Any
) -> dict[str, Any]:
    """An ``auth.*`` submission about ``user_id`` caused by ``request``."""
    body: dict[str, Any] = {"outcome": outcome, **fields, "request": request_info(request)}
    return {
        "type": event_type,
        "user_id": user_id,
        "task_id": None,
        "agent_id": None,
        "event": body,
    }


def _whoami(state: Any, principal: Principal) -> dict[str, Any]:
    return {
        "user": principal.user.to_dict() if principal.user else None,
        "organization": principal.org.to_dict(state.vkey),
        "credential": principal.kind,
    }


def _gate(request: Request) -> PasswordGate:
    gate: PasswordGate = request.app.state.password_gate
    return gate


@router.post(
    "/auth/login",
    summary="Log in with email and password; returns a bearer token",
    response_model=models.LoginOut,
    responses=problems(401, 422, 429, 503),
)
async def login(body: LoginRequest, request: Request, state: StateDep) -> Response:
    email = body.email.strip().lower()
    ip = client_ip(request)

    def attempt() -> tuple[accounts.User | None, int] | int:
        """``(user, failures)`` after checking the password, or the seconds to wait first."""
        wait = state.limiter.retry_after(email, ip)
        if wait is not None:
            return wait
        with state.db.read() as conn:
            found = accounts.user_for_login(conn, email)
        user, pw_hash = found if found else (None, None)
        if accounts.verify_password(pw_hash, body.password) and user is not None:
            return user, state.limiter.clear(email, ip)
        failures = state.limiter.record_failure(email, ip)
        if user is not None and failures in (1, state.settings.login_max_failures):
            event = auth_event(
                "auth.login", user.id, "failure", request,
                method="password", failure_reason="invalid_password", failed_attempts=failures,
                locked_out=failures >= state.settings.login_max_failures,
            )  # fmt: skip
            state.sequencer.append(user.org_id, [event])
        return None, failures

    try:
        outcome = await _gate(request).run(attempt)
    except GateFullError:
        raise ProblemError(
            503,
            "the server is checking too many passwords right now; retry shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    if isinstance(outcome, int):
        raise ProblemError(
            429,
            f"too many failed logins from this address; retry in {outcome} s",
            headers={"Retry-After": str(outcome)},
        )
    user, failures = outcome
    if user is None:
        delay = min(2.0, state.settings.login_failure_delay_seconds * failures)
        if delay > 0:
            await asyncio.sleep(delay)
        raise unauthorized("wrong email or password")
    found_user = user

    def start() -> tuple[str, int, accounts.Organization]:
        extra = {"failed_attempts": failures} if failures else {}
        event = auth_event(
            "auth.login", found_user.id, "success", request, method="password", **extra
        )
        with state.db.write() as conn:
            token, expires = accounts.create_session(
                conn, found_user, state.settings.session_ttl_seconds
            )
            state.sequencer.append_in(conn, found_user.org_id, [event])
            org = accounts.get_organization(conn, found_user.org_id)
        return token, expires, org

    token, expires, org = await run_in_threadpool(start)
    return JSONBytes(
        {
            "token": token,
            "token_type": "bearer",
            "expires_at": format_timestamp(expires),
            "user": found_user.to_dict(),
            "organization": org.to_dict(state.vkey),
        }
    )


@router.post(
    "/auth/logout",
    status_code=204,
    summary="End this login session",
    responses=problems(401, 403),
)
def logout(request: Request, state: StateDep, principal: SessionDep) -> Response:
    header = request.headers.get("authorization", "")
    token = header.split(" ", 1)[1].strip() if " " in header else ""
    assert principal.user is not None
    event = auth_event("auth.logout", principal.user.id, "success", request)
    with state.db.write() as conn:
        accounts.end_session(conn, token)
        state.sequencer.append_in(conn, principal.org.id, [event])
    return Response(status_code=204)


@router.get(
    "/me",
    summary="The user and organization of this credential",
    response_model=models.MeOut,
    responses=problems(401),
)
def me(state: StateDep, principal: PrincipalDep) -> Response:
    return JSONBytes(_whoami(state, principal))


@router.post(
    "/api-keys",
    status_code=201,
    tags=["api keys"],
    summary="Create an API key",
    response_model=models.ApiKeyCreatedOut,
    responses=problems(401, 403, 422),
)
def create_api_key(
    body: ApiKeyRequest, request: Request, state: StateDep, principal: ManagerDep
) -> Response:
    assert principal.user is not None
    try:
        with state.db.write() as conn:
            key, secret = accounts.create_api_key(
                conn, principal.org.id, body.name, body.scope, principal.user.id
            )
            event = auth_event(
                "auth.api_key.created", principal.user.id, "success", request,
                method="password", key_id=key.id, key_prefix=key.prefix, key_name=key.name,
                scope=key.scope,
            )  # fmt: skip
            state.sequencer.append_in(conn, principal.org.id, [event])
    except AccountError as exc:
        raise invalid(exc.field, str(exc)) from None
    return JSONBytes({**key.to_dict(), "key": secret}, status_code=201)


@router.get(
    "/api-keys",
    tags=["api keys"],
    summary="List the organization's live API keys",
    response_model=models.ApiKeyListOut,
    responses=problems(401, 403),
)
def list_api_keys(state: StateDep, principal: ReaderDep) -> Response:
    with state.db.read() as conn:
        keys = accounts.list_api_keys(conn, principal.org.id)
    return JSONBytes({"items": [k.to_dict() for k in keys]})


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    tags=["api keys"],
    summary="Revoke an API key",
    responses=problems(401, 403, 404),
)
def delete_api_key(
    key_id: str, request: Request, state: StateDep, principal: ManagerDep
) -> Response:
    assert principal.user is not None
    with state.db.write() as conn:
        key = accounts.revoke_api_key(conn, principal.org.id, key_id)
        if key is None:
            raise ProblemError(404, f"there is no live API key {key_id!r} in this organization")
        event = auth_event(
            "auth.api_key.deleted", principal.user.id, "success", request,
            key_id=key.id, key_prefix=key.prefix, key_name=key.name,
        )  # fmt: skip
        state.sequencer.append_in(conn, principal.org.id, [event])
    return Response(status_code=204)
