"""Filtered, keyset-paginated reads of one organization's log (``GET /v1/audit-logs``).

Decisions:

* Index order is time order (timestamps never decrease with the index), so a page is ordered
  by ``idx`` alone and a ``since``/``until`` window is first turned into an index window with
  one seek on ``(org_id, ts, idx)``. Every other filter is an equality on an indexed
  ``(org_id, <column>, idx)``, so the first page of any single filter is one index range scan,
  whatever the size of the log. ``type`` is either an exact type or a whole category (its own
  column, see :mod:`.schema`).
* ``since`` is inclusive, ``until`` exclusive: ``[since, until)``, so consecutive windows
  never overlap or leave a gap.
* The cursor is opaque to clients and signed: ``base64url(payload) "." base64url(tag)``, the
  payload ``{"v": 2, "k": last index, "o": order, "f": fingerprint of the filters}`` and the
  tag the first 16 bytes of HMAC-SHA256 over the organization id and the payload, keyed by
  :func:`derive_cursor_key` (derived from the log key, so cursors survive a restart and work
  on every server process sharing the key, and die with a key change). A cursor that was
  edited, forged or issued for another organization is refused (422) before anything reads
  it; a genuine one replayed with different filters or order is refused too, rather than
  silently paging a different query. Every field is checked (``k`` a non-negative integer
  within ±(2^53−1), so no value can overflow a database integer). New entries appended while
  a client pages never shift its pages (keyset, not offset).
* Entries below ``min_index`` (pruned) are not listed; an unknown ``user_email`` gives an empty
  page, not an error (it names no one in this organization's directory).
* Filter values are bound parameters, never SQL text: ``type=' OR 1=1 --`` is simply an
  unknown type (422) and ``task_id=' OR 1=1 --`` an empty page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.core.canonical import MAX_SAFE_INTEGER
from auditlens.core.events import CATEGORIES, EVENT_TYPES, OUTCOMES
from auditlens.server.schema import entries, users

Order = Literal["asc", "desc"]
MAX_LIMIT = 1000


class QueryError(ValueError):
    """A filter or cursor is invalid; ``name`` is the query parameter."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"{name}: {reason}")


@dataclass(frozen=True)
class AuditFilter:
    """The filters of an audit-log query; every field optional, all combined with AND."""

    since_ms: int | None = None
    until_ms: int | None = None
    user_email: str | None = None
    type: str | None = None
    task_id: str | None = None
    agent_id: str | None = None
    outcome: str | None = None

    def check(self) -> None:
        """Raise :class:`QueryError` for a value no event can have."""
        if self.type is not None and self.type not in EVENT_TYPES and self.type not in CATEGORIES:
            raise QueryError(
                "type",
                f"{self.type!r} is neither an event type (e.g. agent.action) nor a category "
                f"({', '.join(CATEGORIES)})",
            )
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise QueryError("outcome", f"must be one of {', '.join(OUTCOMES)}")

    def fingerprint(self, order: Order) -> str:
        data = orjson.dumps({**asdict(self), "order": order}, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(data).hexdigest()[:16]


CURSOR_VERSION = 2
_CURSOR_TAG_BYTES = 16
_CURSOR_FIELDS = frozenset({"v", "k", "o", "f"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_CURSOR_KEY_MESSAGE = b"auditlens\x00cursor-hmac-key\x00v1"


def derive_cursor_key(sign: Callable[[bytes], bytes]) -> bytes:
    """The 32-byte HMAC key of cursors, derived from the log key by signing a fixed message.

    Ed25519 signatures are deterministic (RFC 8032), so the same log key always gives the same
    cursor key without reading the private key's bytes; the message holds NUL bytes, which no
    signed note (text) ever does, so no checkpoint signature can reveal the cursor key.
    """
    return hashlib.sha256(sign(_CURSOR_KEY_MESSAGE)).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    if not _BASE64URL.fullmatch(text):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None


def _cursor_tag(key: bytes, org_id: str, payload: bytes) -> bytes:
    mac = hmac.new(key, org_id.encode("utf-8") + b"\x00" + payload, hashlib.sha256)
    return mac.digest()[:_CURSOR_TAG_BYTES]


def encode_cursor(key: bytes, org_id: str, last_index: int, order: Order, fingerprint: str) -> str:
    """A signed cursor resuming after ``last_index`` for this organization and query."""
    payload = orjson.dumps({"v": CURSOR_VERSION, "k": last_index, "o": order, "f": fingerprint})
    return f"{_b64(payload)}.{_b64(_cursor_tag(key, org_id, payload))}"


def decode_cursor(key: bytes, org_id: str, cursor: str, order: Order, fingerprint: str) -> int:
    """The last index of the previous page; QueryError when the cursor is not ours."""
    payload_text, dot, tag_text = cursor.partition(".")
    payload = _unb64(payload_text) if dot else None
    tag = _unb64(tag_text) if dot else None
    if (
        payload is None
        or tag is None
        or not hmac.compare_digest(tag, _cursor_tag(key, org_id, payload))
    ):
        raise QueryError(
            "cursor", "is not a cursor this server issued for this organization; start over"
        )
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = None
    last = data.get("k") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or set(data) != _CURSOR_FIELDS
        or data["v"] != CURSOR_VERSION
        or type(last) is not int
        or not 0 <= last <= MAX_SAFE_INTEGER
    ):
        # Only reachable with the key: checked anyway, so no value can reach the database.
        raise QueryError("cursor", "is not a cursor this server issued (malformed)")
    if data["o"] != order or data["f"] != fingerprint:
        raise QueryError(
            "cursor", "belongs to a different query (filters or order changed); start over"
        )
    return last


def first_index_at(conn: Connection, org_id: str, ts: int) -> int | None:
    return conn.execute(
        sa.select(entries.c.idx)
        .where(entries.c.org_id == org_id, entries.c.ts >= ts)
        .order_by(entries.c.ts, entries.c.idx)
        .limit(1)
    ).scalar()


def page(
    conn: Connection,
    org_id: str,
    *,
    min_index: int,
    flt: AuditFilter,
    order: Order,
    limit: int,
    after: int | None,
) -> tuple[list[tuple[int, bytes]], bool]:
    """Return up to ``limit`` ``(index, canonical bytes)`` and whether more follow."""
    flt.check()
    window = _index_window(conn, org_id, flt, min_index=min_index, order=order, after=after)
    fields = None if window is None else _field_conditions(conn, org_id, flt)
    if window is None or fields is None:
        return [], False
    lo, hi = window
    query = sa.select(entries.c.idx, entries.c.body).where(
        entries.c.org_id == org_id, entries.c.idx >= lo, *fields
    )
    if hi is not None:
        query = query.where(entries.c.idx < hi)
    query = query.order_by(entries.c.idx.desc() if order == "desc" else entries.c.idx)
    rows = conn.execute(query.limit(limit + 1)).all()
    more = len(rows) > limit
    return [(int(i), bytes(b)) for i, b in rows[:limit] if b is not None], more


def _index_window(
    conn: Connection,
    org_id: str,
    flt: AuditFilter,
    *,
    min_index: int,
    order: Order,
    after: int | None,
) -> tuple[int, int | None] | None:
    """``[lo, hi)`` of log indexes the time range and the cursor leave; None when empty.

    Timestamps never decrease along the log, so a time range is an index range, found with
    the ``ts`` index once instead of tested on every row.
    """
    lo, hi = min_index, None
    if flt.since_ms is not None:
        first = first_index_at(conn, org_id, flt.since_ms)
        if first is None:
            return None
        lo = max(lo, first)
    if flt.until_ms is not None:
        hi = first_index_at(conn, org_id, flt.until_ms)
    if after is not None:
        if order == "desc":
            hi = after if hi is None else min(hi, after)
        else:
            lo = max(lo, after + 1)
    if hi is not None and hi <= lo:
        return None
    return lo, hi


def _field_conditions(
    conn: Connection, org_id: str, flt: AuditFilter
) -> list[sa.ColumnElement[bool]] | None:
    """The filter's field equalities; None when they can match nothing (an unknown email)."""
    conds: list[sa.ColumnElement[bool]] = []
    if flt.user_email is not None:
        user_id = conn.execute(
            sa.select(users.c.id).where(
                users.c.org_id == org_id, users.c.email == flt.user_email.strip().lower()
            )
        ).scalar()
        if user_id is None:
            return None
        conds.append(entries.c.user_id == user_id)
    if flt.type is not None:
        column = entries.c.category if flt.type in CATEGORIES else entries.c.type
        conds.append(column == flt.type)
    equalities = (
        (entries.c.task_id, flt.task_id),
        (entries.c.agent_id, flt.agent_id),
        (entries.c.outcome, flt.outcome),
    )
    conds.extend(column == value for column, value in equalities if value is not None)
    return conds


def entry_by_id(conn: Connection, org_id: str, event_id: str) -> tuple[int, bytes | None] | None:
    """``(index, bytes or None when pruned)`` of an event of ``org_id``, or None."""
    row = conn.execute(
        sa.select(entries.c.idx, entries.c.body).where(
            entries.c.id == event_id, entries.c.org_id == org_id
        )
    ).first()
    if row is None:
        return None
    return int(row.idx), (bytes(row.body) if row.body is not None else None)
