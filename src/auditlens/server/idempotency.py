"""Safe retries of ``POST /v1/events`` with an ``Idempotency-Key`` header.

A platform service that loses the answer to a batch (a timeout, a server killed mid-request)
cannot tell whether the batch was stored. If it sent an ``Idempotency-Key``, it simply sends
the same request again: the server answers 201 with the *original* indexes, ids and checkpoint
(and ``Idempotent-Replayed: true``) instead of appending the events twice.

Decisions:

* The receipt (key, SHA-256 of the body, index range) is written in the same transaction as the
  batch, so it exists exactly when the batch does, whatever the moment of a crash.
* The same key with a different body is a client bug: 409, nothing stored.
* Keys are scoped to the organization, 1 to 128 visible ASCII characters, and kept forever
  (about 100 bytes each).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.server.schema import checkpoints, entries, ingest_receipts
from auditlens.server.sequencer import Appended, now_ms

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


def find(conn: Connection, org_id: str, key: str) -> Receipt | None:
    row = conn.execute(
        sa.select(
            ingest_receipts.c.body_sha256,
            ingest_receipts.c.first_index,
            ingest_receipts.c.last_index,
        ).where(ingest_receipts.c.org_id == org_id, ingest_receipts.c.key == key)
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
