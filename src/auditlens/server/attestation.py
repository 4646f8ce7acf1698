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

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.engine import Connection

from auditlens.core.events import CATEGORIES, parse_timestamp
from auditlens.server.schema import entries, organizations, users

ATTESTATION_FORMAT = "auditlens-completeness/1"
"""The ``attestation`` field of an ``audit.exported`` event that carries count and digest."""

WINDOW = 1 << 18
"""Indexes read per query: ~262k rows of 40 bytes, so a 1M-event answer is four reads."""


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
    for key in ("user_id", "task_id", "agent_id", "outcome"):
        if key in flt:
            where.append(entries.c[key] == flt[key])
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
    for lo in range(min_index, tree_size, WINDOW):
        hi = min(tree_size, lo + WINDOW)
        bound = [entries.c.org_id == org_id, entries.c.idx >= lo, entries.c.idx < hi, *where]
        n, data = window(conn, bound)
        digest.update(data)
        count += n
    return Attested(count=count, digest=digest.hexdigest(), min_index=min_index)


def _python_window(conn: Connection, where: list[sa.ColumnElement[bool]]) -> tuple[int, bytes]:
    """The digest input of one window: the rows fetched as plain tuples, packed by numpy.

    The driver's own cursor (same connection, same transaction) skips SQLAlchemy's row
    objects, and numpy interleaves the 8-byte big-endian indexes with the hashes in one copy:
    per event, only the driver's tuple costs Python time.
    """
    import numpy as np  # a dependency already (CSV export); imported when first attesting

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
