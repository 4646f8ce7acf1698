"""The server's word on an export's completeness: how many events match a filter, and which.

An export's evidence proves that each exported event is in the signed log; it cannot prove
that none was left out, because the events that were not exported are not in the file. So when
an export is recorded, the server recomputes the answer itself: the events of the log, below
the export's tree size and at or above the retention floor (``min_index``: older entries were
pruned and are no longer retained), that match the canonical filter
(:mod:`auditlens.core.export_filter`). It records their count and a digest in the
``audit.exported`` event, which the export then carries with its inclusion proof; a verifier
recomputes both from the export's (proven) leaf hashes.

The digest (normative, docs/evidence-format.md "Completeness attestation"): SHA-256 over, for
each matching retained event in ascending index order, the 8-byte big-endian index followed by
the event's 32-byte RFC 9162 leaf hash; lowercase hex. No event: the SHA-256 of nothing.

Cost: one range read of ``(idx, leaf_hash)`` over the filter's indexed columns, in windows of
:data:`WINDOW` indexes so memory stays flat; the leaf hashes are stored with every entry, so
nothing is re-hashed from the bodies. It runs in its own read transaction, before the write
that appends the record, so a large export does not hold the log's write lock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection

from auditlens.core.events import CATEGORIES
from auditlens.core.export_filter import PREFIX, is_prefix
from auditlens.core.summaries import REFUSAL_TYPES, verdict_of
from auditlens.core.timestamps import parse_timestamp
from auditlens.server.schema import entries, organizations, users

ATTESTATION_FORMAT = "auditlens-completeness/1"
"""The ``attestation`` field of an ``audit.exported`` event that carries count and digest."""

WINDOW = 1 << 18
"""Indexes read per query: ~262k rows of 40 bytes, so a 1M-event answer is four reads."""


def unattestable(flt: dict[str, Any]) -> tuple[str, str] | None:
    """``(key, why)`` when this server cannot recompute ``flt``'s matching set, else None.

    Request addresses are not an indexed column of the log, and an email prefix names people
    only through a directory that changes; such exports are recorded by the exporter's word only
    if at all, never attested.
    """
    if "ip" in flt:
        return "ip", "this server cannot attest a filter on request addresses"
    email = flt.get("user_email")
    if isinstance(email, str) and is_prefix(email):
        return "user_email", "this server cannot attest an email prefix; give the full email"
    return None


class UnknownUserError(LookupError):
    """``user_email`` names nobody in the organization's directory."""


@dataclass(frozen=True)
class Attested:
    """What the server attests about a filter at a tree size."""

    count: int
    digest: str
    min_index: int


def resolve_user(conn: Connection, org_id: str, flt: dict[str, Any]) -> dict[str, Any]:
    """Return ``flt`` with ``user_id`` set from ``user_email`` (which events do not carry).

    Raises UnknownUserError when nobody has that email, and ValueError when ``user_id`` is
    also given and names someone else (the filter would match nothing, which is never what an
    investigator meant).
    """
    email = flt.get("user_email")
    if email is None:
        return flt
    user_id = conn.execute(
        sa.select(users.c.id).where(users.c.org_id == org_id, users.c.email == email)
    ).scalar()
    if user_id is None:
        raise UnknownUserError(f"{email!r} is nobody in this organization's directory")
    if flt.get("user_id") not in (None, user_id):
        raise ValueError(f"user_id {flt['user_id']!r} is not the user of {email!r}")
    return dict(sorted({**flt, "user_id": user_id}.items()))


def _conditions(flt: dict[str, Any]) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = []
    if "since" in flt:
        where.append(entries.c.ts >= parse_timestamp(flt["since"]))
    if "until" in flt:
        where.append(entries.c.ts < parse_timestamp(flt["until"]))
    for key in ("user_id", "task_id", "agent_id"):
        if key in flt:
            value = flt[key]
            if is_prefix(value):  # case-sensitive on both databases (LIKE is not on SQLite)
                head = value.rstrip(PREFIX)
                where.append(sa.func.substr(entries.c[key], 1, len(head)) == head)
            else:
                where.append(entries.c[key] == value)
    verdict = flt.get("outcome")
    refusals = sorted(REFUSAL_TYPES)
    if verdict == "success":
        where.append(entries.c.outcome == "success")
        where.append(entries.c.type.not_in(refusals))
    elif verdict in ("failure", "denied"):  # refined per event from its body (see attest)
        failed = entries.c.outcome == "failure"
        where.append(
            sa.or_(failed, entries.c.type.in_(refusals)) if verdict == "denied" else failed
        )
    if "type" in flt:
        categories = [t for t in flt["type"] if t in CATEGORIES]
        types = [t for t in flt["type"] if t not in CATEGORIES]
        either: list[sa.ColumnElement[bool]] = []
        if types:
            either.append(entries.c.type.in_(types))
        if categories:
            either.append(entries.c.category.in_(categories))
        where.append(sa.or_(*either))
    return where


def attest(conn: Connection, org_id: str, flt: dict[str, Any], tree_size: int) -> Attested:
    """Count and digest the retained events of ``[0, tree_size)`` matching canonical ``flt``.

    ``flt`` is canonical (:func:`auditlens.core.export_filter.canonical_filter`) with
    ``user_email`` resolved (:func:`resolve_user`).
    """
    min_index = int(
        conn.execute(
            sa.select(organizations.c.min_index).where(organizations.c.id == org_id)
        ).scalar_one()
    )
    where = _conditions(flt)
    digest = hashlib.sha256()
    count = 0
    window = _postgres_window if conn.dialect.name == "postgresql" else _python_window
    if flt.get("outcome") in ("failure", "denied"):
        window = _verdict_window(str(flt["outcome"]))
    for lo in range(min_index, tree_size, WINDOW):
        hi = min(tree_size, lo + WINDOW)
        bound = [entries.c.org_id == org_id, entries.c.idx >= lo, entries.c.idx < hi, *where]
        n, data = window(conn, bound)
        digest.update(data)
        count += n
    return Attested(count=count, digest=digest.hexdigest(), min_index=min_index)


def _verdict_window(verdict: str) -> Any:
    """A window reader for ``failure``/``denied``: which failures are refusals is in the body
    (its reason), so the candidates' bodies are read and classified by
    :func:`auditlens.core.summaries.verdict_of`, the viewer's own rule."""

    def window(conn: Connection, where: list[sa.ColumnElement[bool]]) -> tuple[int, bytes]:
        rows = conn.execute(
            sa.select(entries.c.idx, entries.c.leaf_hash, entries.c.body)
            .where(*where)
            .order_by(entries.c.idx)
        ).all()
        kept = [
            int(i).to_bytes(8, "big") + bytes(h)
            for i, h, body in rows
            if body is not None and verdict_of(orjson.loads(body)) == verdict
        ]
        return len(kept), b"".join(kept)

    return window


def _python_window(conn: Connection, where: list[sa.ColumnElement[bool]]) -> tuple[int, bytes]:
    """The digest input of one window: the rows fetched as plain tuples, packed by numpy.

    The driver's own cursor (same connection, same transaction) skips SQLAlchemy's row
    objects, and numpy interleaves the 8-byte big-endian indexes with the hashes in one copy:
    per event, only the driver's tuple costs Python time. Without numpy (the viewer's bundle,
    whose embedded demo server attests too) the same bytes are joined by the standard library.
    """
    query = sa.select(entries.c.idx, entries.c.leaf_hash).where(*where).order_by(entries.c.idx)
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if compiled.positiontup is not None:
        params = tuple(compiled.params[name] for name in compiled.positiontup)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return 0, b""
    try:
        import numpy as np  # the server extra; imported when first attesting
    except ImportError:
        return len(rows), b"".join([int(i).to_bytes(8, "big") + bytes(h) for i, h in rows])
    indexes, hashes = zip(*rows, strict=True)
    packed = np.empty(len(rows), dtype=[("index", ">u8"), ("hash", "V32")])
    packed["index"] = indexes
    packed["hash"] = np.frombuffer(b"".join(map(bytes, hashes)), dtype="V32")
    return len(rows), packed.tobytes()


def _postgres_window(conn: Connection, where: list[sa.ColumnElement[bool]]) -> tuple[int, bytes]:
    """The same bytes, packed by PostgreSQL (``int8send`` is the 8-byte big-endian index): one
    value per window crosses to Python instead of a row object per event."""
    piece = sa.func.int8send(entries.c.idx).op("||")(entries.c.leaf_hash)
    packed = sa.func.string_agg(
        piece, aggregate_order_by(sa.literal(b"", sa.LargeBinary), entries.c.idx)
    )
    n, data = conn.execute(sa.select(sa.func.count(), packed).where(*where)).one()
    return int(n), bytes(data or b"")
