"""Reading the audit log as events: filtered pages, one event by id, the user directory.

Decisions (see :mod:`.queries` for the paging rules):

* Default order is newest first (``desc``), default ``limit`` 100, at most 1,000.
* An unknown query parameter is a 422 naming it and the accepted ones: a misspelt filter must
  not silently return the whole log.
* Each item is ``{"index": <log index>, "event": <event>}``, the event being the exact stored
  canonical bytes, so a client can hash what it receives.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from auditlens.core.errors import FormatError
from auditlens.core.timestamps import parse_timestamp
from auditlens.server import accounts, models, queries
from auditlens.server.deps import CredentialsDep, ReaderDep, StateDep, authenticate, check_reader
from auditlens.server.models import problems
from auditlens.server.problems import ProblemError, invalid
from auditlens.server.queries import AuditFilter, QueryError
from auditlens.server.responses import JSONBytes, splice_page

router = APIRouter(prefix="/v1", tags=["audit log"])

_PARAMS = frozenset(
    {"since", "until", "user_email", "type", "task_id", "agent_id", "outcome", "order", "limit"}
    | {"cursor"}
)


def _time(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except FormatError as exc:
        raise invalid(name, f"must be an RFC 3339 time like 2026-11-26T07:13:13Z ({exc})") from None


@router.get(
    "/audit-logs",
    summary="Filtered page of audit events, keyset-paginated",
    response_model=models.AuditPage,
    responses=problems(401, 403, 422),
)
def audit_logs(
    request: Request,
    state: StateDep,
    credentials: CredentialsDep,
    *,
    since: Annotated[str | None, Query(description="RFC 3339; inclusive")] = None,
    until: Annotated[str | None, Query(description="RFC 3339; exclusive")] = None,
    user_email: Annotated[str | None, Query(max_length=320)] = None,
    type: Annotated[
        str | None, Query(max_length=64, description="exact type (agent.action) or category")
    ] = None,
    task_id: Annotated[str | None, Query(max_length=256)] = None,
    agent_id: Annotated[str | None, Query(max_length=256)] = None,
    outcome: Annotated[Literal["success", "failure"] | None, Query()] = None,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 100,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    # The busiest read: the credential is checked in the page's own transaction (one
    # transaction per page; see deps.authenticate), and before any parameter is looked at.
    with state.db.read() as conn:
        org = check_reader(authenticate(request, conn, credentials)).org
        unknown = sorted(set(request.query_params) - _PARAMS)
        if unknown:
            raise invalid(unknown[0], f"is not a filter; use one of {', '.join(sorted(_PARAMS))}")
        flt = AuditFilter(
            since_ms=_time("since", since),
            until_ms=_time("until", until),
            user_email=user_email,
            type=type,
            task_id=task_id,
            agent_id=agent_id,
            outcome=outcome,
        )
        fingerprint = flt.fingerprint(order)
        try:
            after = (
                queries.decode_cursor(state.cursor_key, org.id, cursor, order, fingerprint)
                if cursor
                else None
            )
            items, more = queries.page(
                conn,
                org.id,
                min_index=org.min_index,
                flt=flt,
                order=order,
                limit=limit,
                after=after,
            )
        except QueryError as exc:
            raise invalid(exc.name, exc.reason) from None
    next_cursor = (
        queries.encode_cursor(state.cursor_key, org.id, items[-1][0], order, fingerprint)
        if more and items
        else None
    )
    headers = {}
    if next_cursor:
        url = request.url.include_query_params(cursor=next_cursor)
        headers["Link"] = f'<{url}>; rel="next"'
    return JSONBytes(splice_page(items, next_cursor), headers=headers)


@router.get(
    "/audit-logs/{event_id}",
    summary="One audit event by id",
    response_model=models.AuditItem,
    responses=problems(401, 403, 404, 410),
)
def audit_log(event_id: str, state: StateDep, principal: ReaderDep) -> Response:
    with state.db.read() as conn:
        found = queries.entry_by_id(conn, principal.org.id, event_id)
    if found is None:
        raise ProblemError(404, f"there is no event {event_id!r} in this organization's log")
    index, body = found
    if body is None:
        raise ProblemError(
            410,
            f"event {event_id} (index {index}) was removed by the retention policy; its hash "
            "remains in the log",
            slug="pruned",
        )
    return JSONBytes(b'{"index":%d,"event":%s}' % (index, body))


@router.get(
    "/users",
    summary="The organization's people (maps user ids to emails)",
    response_model=models.UserListOut,
    responses=problems(401, 403),
)
def list_users(state: StateDep, principal: ReaderDep) -> Response:
    with state.db.read() as conn:
        people = accounts.list_users(conn, principal.org.id)
    return JSONBytes({"items": [u.to_dict() for u in people]})
