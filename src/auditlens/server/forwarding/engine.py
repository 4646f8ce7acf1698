"""The delivery loop of one forwarder: read committed entries from the cursor, send, advance.

Decisions:

* Reads use the read engine only (a snapshot of committed entries, bounded by the newest signed
  checkpoint, whose note travels with the batch): forwarding never holds a lock ingest needs.
  The only writes are one small cursor update per acknowledged batch and error reports.
* Batching by size and time: a batch leaves as soon as it has the destination's
  ``max_records``, or once ``max_wait_seconds`` (default 1 s) passed since entries were first
  seen waiting, whichever comes first.
* Back-off: "full jitter" exponential (a uniform draw in ``[0, min(60, 0.5·2^n)]`` seconds),
  never shorter than a Retry-After the destination sent (capped at one hour).
* At least once: the cursor moves only after the acknowledgement. A broken connection or an
  outage resends at most the batch that was in flight; a crashed process resends what was
  acknowledged since the cursor was last stored (at most ``CURSOR_FLUSH_SECONDS``' worth, see
  :meth:`ForwarderWorker._acknowledged`). Every event carries its id and log index so the
  SIEM can drop the repeats.
* A filter (``types``: event types or categories; ``outcome``) skips entries in SQL; the cursor
  still moves over them.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.core.events import CATEGORIES
from auditlens.server.db import Database
from auditlens.server.forwarding import registry, store
from auditlens.server.forwarding.bookkeeping import Bookkeeping
from auditlens.server.forwarding.destination import (
    Batch,
    DeliveryError,
    Destination,
    FatalError,
    Record,
    RefusedError,
    RetryError,
)
from auditlens.server.forwarding.vault import SecretUnreadableError, Vault
from auditlens.server.schema import entries, organizations, users

log = logging.getLogger("auditlens.forwarding")

BACKOFF_BASE = 0.5
BACKOFF_CAP = 60.0
RETRY_AFTER_CAP = 3600.0
CURSOR_FLUSH_SECONDS = 0.5


def backoff_delay(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, ...)."""
    delay = rng.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(attempt, 30)))
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return delay


def filter_clause(config: dict[str, Any], org_id: str = "") -> list[Any]:
    """SQL conditions of a forwarder's filter: the audit-log query filters (``types``: event
    types or categories, ``outcome``, ``user_email``, ``task_id``, ``agent_id``), combined
    with AND; ``since``/``until`` have no meaning for a stream (replay chooses the start)."""
    clauses: list[Any] = []
    wanted = config.get("types") or []
    if wanted:
        cats = [t for t in wanted if t in CATEGORIES]
        types = [t for t in wanted if t not in CATEGORIES]
        clauses.append(sa.or_(entries.c.category.in_(cats), entries.c.type.in_(types)))
    if config.get("outcome"):
        clauses.append(entries.c.outcome == config["outcome"])
    for name in ("task_id", "agent_id"):
        if config.get(name):
            clauses.append(entries.c[name] == config[name])
    if config.get("user_email"):
        clauses.append(
            entries.c.user_id.in_(
                sa.select(users.c.id).where(
                    users.c.org_id == org_id,
                    users.c.email == config["user_email"].strip().lower(),
                )
            )
        )
    return clauses


def read_batch(
    conn: Connection, fwd: store.Forwarder, limit: int
) -> tuple[Batch, int, list[tuple[int, str, str]]]:
    """The next batch from ``fwd``'s cursor, the cursor after it, and pruned entries skipped."""
    size, note = store.log_size(conn, fwd.org_id)
    origin = conn.execute(
        sa.select(organizations.c.origin).where(organizations.c.id == fwd.org_id)
    ).scalar_one()
    rows = conn.execute(
        sa.select(entries.c.idx, entries.c.id, entries.c.type, entries.c.ts, entries.c.body)
        .where(
            entries.c.org_id == fwd.org_id,
            entries.c.idx >= fwd.cursor,
            entries.c.idx < size,
            *filter_clause(fwd.config, fwd.org_id),
        )
        .order_by(entries.c.idx)
        .limit(limit)
    ).all()
    records, pruned = [], []
    for idx, event_id, kind, ts, body in rows:
        if body is None:
            pruned.append((int(idx), event_id, "removed by the retention policy before delivery"))
        else:
            records.append(Record(int(idx), event_id, kind, int(ts), bytes(body)))
    after = size if len(rows) < limit else int(rows[-1].idx) + 1
    return Batch(fwd.id, origin, note, size, records), after, pruned


def deliver(destination: Destination, batch: Batch) -> list[tuple[int, str, str]]:
    """Send ``batch``; return the dead letters (refused events). Raises RetryError / FatalError."""
    dead: list[tuple[int, str, str]] = []
    queue = [batch.records]
    while queue:
        records = queue.pop(0)
        if not records:
            continue
        try:
            destination.send(batch.sub(records))
        except RefusedError as exc:
            if len(records) == 1:
                dead.append((records[0].index, records[0].id, exc.reason))
            elif exc.position is not None and exc.position < len(records):
                bad = records[exc.position]
                dead.append((bad.index, bad.id, exc.reason))
                queue.insert(0, records[exc.position + 1 :])
            else:  # refused without saying which: find the bad ones one at a time
                queue[0:0] = [[r] for r in records[exc.accepted :]]
    return dead


class ForwarderWorker:
    """Delivers one forwarder until stopped, paused, failed or removed."""

    def __init__(
        self,
        db: Database,
        vault: Vault,
        forwarder_id: str,
        *,
        poll_seconds: float = 0.2,
        rng: random.Random | None = None,
        sleep: Callable[[float], bool] | None = None,
        books: Bookkeeping | None = None,
    ) -> None:
        self.db = db
        self.vault = vault
        self.forwarder_id = forwarder_id
        self.poll_seconds = poll_seconds
        self.stop_event = threading.Event()
        self.rng = rng or random.Random()
        self.sleep = sleep or self.stop_event.wait
        self._own_books = books is None
        self.books = books or Bookkeeping(db)
        self.destination: Destination | None = None
        self._opened_for: tuple[int, int] | None = None
        self._pending: tuple[int, int] | None = None
        self._flushed_at = time.monotonic()

    def stop(self) -> None:
        self.stop_event.set()

    def _open(self, fwd: store.Forwarder) -> Destination:
        key = (fwd.generation, fwd.updated_at)
        if self.destination is None or self._opened_for != key:
            self._close()
            module = registry.module(fwd.kind)
            secret = self.vault.open_secret(fwd.secret) if fwd.secret is not None else None
            self.destination = module.connect(fwd.config, secret)
            self._opened_for = key
        return self.destination

    def _close(self) -> None:
        if self.destination is not None:
            try:
                self.destination.close()
            finally:
                self.destination = None

    def run(self) -> None:
        try:
            self._loop()
        except Exception:
            log.exception("forwarder %s stopped on an unexpected error", self.forwarder_id)
            raise
        finally:
            self._close()
            if self._own_books:
                self.books.dispose()

    def _flush(self, dead: list[tuple[int, str, str]] | None = None) -> None:
        """Store the acknowledged cursor (and dead letters) now."""
        if self._pending is not None:
            generation, cursor = self._pending
            with self.books.write() as wconn:
                store.advance(wconn, self.forwarder_id, generation, cursor, dead or [])
            self._pending = None
        self._flushed_at = time.monotonic()

    def _acknowledged(self, fwd: store.Forwarder, after: int, dead: list[Any]) -> None:
        """Remember the new cursor; store it at most every CURSOR_FLUSH_SECONDS (and at once
        with dead letters), so a busy forwarder costs the database a few small commits a
        second, not one per batch. A crash resends at most that long's batches."""
        self._pending = (fwd.generation, after)
        if dead or time.monotonic() - self._flushed_at >= CURSOR_FLUSH_SECONDS:
            self._flush(dead)

    def _fail(self, fwd_id: str, reason: str) -> None:
        """Stop as ``failed`` with ``reason``: retrying cannot help until an admin acts."""
        log.error("forwarder %s stopped: %s", fwd_id, reason)
        self._flush()
        with self.books.write() as wconn:
            store.report_error(wconn, fwd_id, reason, fail=True)

    def _loop(self) -> None:
        try:
            self._deliver_loop()
        finally:
            self._flush()

    def _deliver_loop(self) -> None:
        """Read a batch past the cursor, wait for it to fill, send it, advance; until stopped.

        A retryable failure backs off and sends the same batch again (the cursor has not
        moved); a fatal one stops the forwarder as ``failed``; a forwarder paused, removed or
        changed by an admin is noticed on the next read."""
        attempt = 0
        waiting_since: float | None = None
        while not self.stop_event.is_set():
            read = self._read_next()
            if read is None:
                return
            fwd, destination, batch, after, pruned = read
            if after == fwd.cursor:
                waiting_since = None
                self._flush()
                self.sleep(self.poll_seconds)
                continue
            if batch.records and len(batch.records) < destination.max_records:
                now = time.monotonic()
                waiting_since = waiting_since or now
                max_wait = float(fwd.config.get("max_wait_seconds", 1.0))
                if now - waiting_since < max_wait:
                    self.sleep(min(self.poll_seconds, max_wait - (now - waiting_since)))
                    continue
            sent = self._send(fwd, destination, batch, attempt)
            if sent is None:
                return
            if isinstance(sent, int):
                attempt = sent
                continue
            attempt = 0
            waiting_since = None
            self._acknowledged(fwd, after, pruned + sent)

    def _read_next(self) -> tuple[store.Forwarder, Destination, Batch, int, list[Any]] | None:
        """The forwarder as stored (with a not-yet-stored cursor applied), its destination and
        the next batch; None when it should stop (paused, removed, or its secret unreadable)."""
        with self.db.read() as conn:
            fwd = store.get(conn, self.forwarder_id)
            if fwd is None or fwd.state != "active":
                return None
            if self._pending is not None:
                generation, cursor = self._pending
                if generation != fwd.generation:
                    self._pending = None  # replayed or changed: the stored cursor rules
                elif cursor > fwd.cursor:
                    fwd = dataclasses.replace(fwd, cursor=cursor)
            try:
                destination = self._open(fwd)
            except (SecretUnreadableError, ValueError) as exc:
                with self.books.write() as wconn:
                    store.report_error(wconn, fwd.id, str(exc), fail=True)
                return None
            batch, after, pruned = read_batch(conn, fwd, destination.max_records)
        return fwd, destination, batch, after, pruned

    def _send(
        self, fwd: store.Forwarder, destination: Destination, batch: Batch, attempt: int
    ) -> list[tuple[int, str, str]] | int | None:
        """Deliver ``batch``: its dead letters when acknowledged, the new attempt number after a
        retryable failure (having slept the back-off), or None when the forwarder failed."""
        try:
            return deliver(destination, batch) if batch.records else []
        except RetryError as exc:
            attempt += 1
            delay = backoff_delay(attempt, exc.after, self.rng)
            log.warning("forwarder %s: %s; retrying in %.1f s", fwd.id, exc.reason, delay)
            self._flush()
            with self.books.write() as wconn:
                store.report_error(wconn, fwd.id, exc.reason)
            self.sleep(delay)
            return attempt
        except (FatalError, DeliveryError) as exc:
            self._fail(fwd.id, exc.reason)
            return None
        except Exception as exc:  # a destination bug or a value it cannot use: say so
            log.exception("forwarder %s: unexpected error", fwd.id)
            self._fail(fwd.id, f"unexpected error: {type(exc).__name__}: {exc}")
            return None
