"""Safe retries of ``POST /v1/events`` with an ``Idempotency-Key`` header.

A platform service that loses the answer to a batch (a timeout, a server killed mid-request)
cannot tell whether the batch was stored. If it sent an ``Idempotency-Key``, it simply sends
the same request again: the server answers 201 with the *original* indexes, ids and checkpoint
(and ``Idempotent-Replayed: true``) instead of appending the events twice.

Decisions:

* The receipt (key, SHA-256 of the body, index range) is written in the same transaction as the
  batch, so it exists exactly when the batch does, whatever the moment of a crash.
* The same key with a different body is a client bug: 409, nothing stored.
* Keys are scoped to the organization and are 1 to 128 visible ASCII characters.
* A receipt replays for ``idempotency_ttl_seconds`` (24 hours by default: far longer than any
  client retries, as with Stripe's keys). After that the key is forgotten: the same request is
  a new batch. The retention loop (and ``auditlens server prune``) deletes expired receipts.
* Receipts are rows of the server database, so every API process on it shares them. The lookup
  takes the organization's log lock first (:func:`.sequencer.lock_log`, which the append then
  holds), so two processes that receive the same retry at once append it only once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.server.db import Database
from auditlens.server.schema import checkpoints, entries, ingest_receipts
from auditlens.server.sequencer import Appended, lock_log, now_ms

_KEY = re.compile(r"[\x21-\x7e]{1,128}")


class KeyConflictError(Exception):
    """The idempotency key was used before for a different request body."""


def valid_key(key: str) -> bool:
    return bool(_KEY.fullmatch(key))


@dataclass(frozen=True)
class Receipt:
    body_sha256: bytes
    first_index: int
    last_index: int


def body_digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def find(conn: Connection, org_id: str, key: str, ttl_seconds: float) -> Receipt | None:
    """The live receipt of ``key`` (younger than ``ttl_seconds``), or None."""
    lock_log(conn, org_id)
    row = conn.execute(
        sa.select(
            ingest_receipts.c.body_sha256,
            ingest_receipts.c.first_index,
            ingest_receipts.c.last_index,
        ).where(
            ingest_receipts.c.org_id == org_id,
            ingest_receipts.c.key == key,
            ingest_receipts.c.created_at > now_ms() - int(ttl_seconds * 1000),
        )
    ).first()
    return Receipt(bytes(row[0]), int(row[1]), int(row[2])) if row else None


def replay(conn: Connection, org_id: str, receipt: Receipt, raw: bytes) -> Appended:
    """The original answer to the request ``receipt`` records; KeyConflictError if it differs."""
    if receipt.body_sha256 != body_digest(raw):
        raise KeyConflictError
    ids = list(
        conn.execute(
            sa.select(entries.c.id)
            .where(entries.c.org_id == org_id)
            .where(entries.c.idx >= receipt.first_index, entries.c.idx <= receipt.last_index)
            .order_by(entries.c.idx)
        ).scalars()
    )
    size = receipt.last_index + 1
    note = conn.execute(
        sa.select(checkpoints.c.note).where(
            checkpoints.c.org_id == org_id, checkpoints.c.size == size
        )
    ).scalar_one()
    return Appended(receipt.first_index, receipt.last_index, ids, note, size)


def record(conn: Connection, org_id: str, key: str, raw: bytes, appended: Appended) -> None:
    """Store the receipt of a new batch (replacing an expired receipt of the same key)."""
    conn.execute(
        sa.delete(ingest_receipts).where(
            ingest_receipts.c.org_id == org_id, ingest_receipts.c.key == key
        )
    )
    conn.execute(
        sa.insert(ingest_receipts).values(
            org_id=org_id,
            key=key,
            body_sha256=body_digest(raw),
            first_index=appended.first_index,
            last_index=appended.last_index,
            created_at=now_ms(),
        )
    )


def purge_expired(db: Database, ttl_seconds: float) -> int:
    """Delete the receipts older than ``ttl_seconds``; return how many."""
    with db.write() as conn:
        result = conn.execute(
            sa.delete(ingest_receipts).where(
                ingest_receipts.c.created_at <= now_ms() - int(ttl_seconds * 1000)
            )
        )
    return int(result.rowcount or 0)
