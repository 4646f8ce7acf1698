"""The operator's integrity check of the stored logs (``auditlens server verify``).

A third party verifies what the server *serves*; this check verifies what the database *holds*,
so an operator can tell after a crash, a restore or a suspected intrusion whether the log is
intact, and where it is not. For each organization it streams the entries in index order
(constant memory, ~1 s per 100,000 entries) and checks:

* indexes are consecutive from 0 (``EVENT_MISSING`` for each gap);
* every stored body hashes to its stored leaf hash, and *every* indexed column (``id``, ``ts``,
  ``type``, ``category``, ``user_id``, ``task_id``, ``agent_id``, ``outcome``) equals what the
  body says (``EVENT_MODIFIED``): the API answers filters from those columns, so a column
  changed behind the server's back would silently hide or misfile an event;
  pruned bodies below ``min_index`` are fine;
* timestamps never decrease (``EVENT_REORDERED``);
* bodies are missing only below ``min_index``, and ``min_index`` is exactly what the newest
  ``audit.retention_pruned`` event in the (signed) log says it is: a body erased above it, or a
  ``min_index`` raised without such an event, is ``EVENT_MISSING`` over the erased range
  (pruning is legitimate only when the log itself records and signs it);
* every stored tree node at a tile level equals the one recomputed from the leaves, and every
  stored checkpoint is validly signed for the organization's origin and has the root
  recomputed at its size (``LOG_FORKED`` otherwise: it would not be consistent with the log);
* the newest checkpoint covers every entry (``LOG_TRUNCATED`` or ``EVENT_INSERTED`` otherwise).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.core import note
from auditlens.core.errors import Code, Finding, FormatError, VerificationError
from auditlens.core.events import category_of
from auditlens.core.merkle import CompactRange, leaf_hash
from auditlens.core.tiles import TILE_HEIGHT
from auditlens.core.timestamps import parse_timestamp
from auditlens.server.accounts import Organization
from auditlens.server.schema import (
    RETENTION_EVENT,
    checkpoints,
    entries,
    organizations,
    tree_nodes,
)
from auditlens.server.state import ServerState

CHUNK = 10_000

_EntryRow = tuple[int, bytes, bytes | None, tuple[object, ...]]
"""``(idx, leaf_hash, body, indexed columns)``; the columns in :data:`_INDEXED` order."""

_INDEXED = (
    entries.c.id,
    entries.c.ts,
    entries.c.type,
    entries.c.category,
    entries.c.user_id,
    entries.c.task_id,
    entries.c.agent_id,
    entries.c.outcome,
)


@dataclass
class LogReport:
    """What the check of one organization's log found (no findings: intact)."""

    org: Organization
    size: int = 0
    checkpoints: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def _entries(conn: Connection, org_id: str) -> Iterator[_EntryRow]:
    last = -1
    while True:
        rows = conn.execute(
            sa.select(entries.c.idx, entries.c.leaf_hash, entries.c.body, *_INDEXED)
            .where(entries.c.org_id == org_id, entries.c.idx > last)
            .order_by(entries.c.idx)
            .limit(CHUNK)
        ).all()
        if not rows:
            return
        for r in rows:
            body = None if r[2] is None else bytes(r[2])
            yield int(r[0]), bytes(r[1]), body, tuple(r[3:])
        last = int(rows[-1][0])


def _columns_of(event: dict[str, Any]) -> tuple[object, ...]:
    """The indexed columns the sequencer derives from ``event``, in :data:`_INDEXED` order."""
    kind = event["type"]
    return (
        event["id"],
        parse_timestamp(event["timestamp"]),
        kind,
        category_of(kind),
        event["user_id"],
        event["task_id"],
        event["agent_id"],
        event["event"]["outcome"],
    )


def _body_problem(row: _EntryRow) -> str | None:
    idx, stored_hash, body, columns = row
    if body is None:
        return None
    if leaf_hash(body) != stored_hash:
        return f"entry {idx}: its bytes do not match its leaf hash"
    try:
        expected = _columns_of(orjson.loads(body))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, FormatError):
        return f"entry {idx}: its bytes are not an event"
    if expected != columns:
        names = [c.name for c, a, b in zip(_INDEXED, expected, columns, strict=True) if a != b]
        return f"entry {idx}: its indexed columns ({', '.join(names)}) differ from its bytes"
    return None


def _recorded_min_index(body: bytes, current: int) -> int:
    """The ``min_index`` a retention event records (``current`` if it records none)."""
    try:
        recorded = orjson.loads(body)["event"]["min_index"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return current
    return recorded if type(recorded) is int and recorded > current else current


def check_log(state: ServerState, org: Organization) -> LogReport:
    """Check one organization's stored log; see the module docstring for what is checked."""
    report = LogReport(org)
    with state.db.read() as conn:
        stored_size, min_index = conn.execute(
            sa.select(organizations.c.tree_size, organizations.c.min_index).where(
                organizations.c.id == org.id
            )
        ).one()
        walk = _Walk(state, org, report, _notes(conn, org.id), _tile_nodes(conn, org.id))
        walk.min_index = int(min_index)
        for row in _entries(conn, org.id):
            if not walk.entry(row):
                break  # the tree cannot be recomputed past a gap
    walk.finish(int(stored_size))
    return report


def _notes(conn: Connection, org_id: str) -> dict[int, tuple[bytes, str]]:
    """Every stored checkpoint by size: its stored root and its signed note."""
    return {
        int(size): (bytes(root), text)
        for size, root, text in conn.execute(
            sa.select(checkpoints.c.size, checkpoints.c.root, checkpoints.c.note).where(
                checkpoints.c.org_id == org_id
            )
        )
    }


def _tile_nodes(conn: Connection, org_id: str) -> dict[tuple[int, int], bytes]:
    """Every stored tree node by (level, index)."""
    return {
        (int(level), int(idx)): bytes(h)
        for level, idx, h in conn.execute(
            sa.select(tree_nodes.c.level, tree_nodes.c.idx, tree_nodes.c.hash).where(
                tree_nodes.c.org_id == org_id
            )
        )
    }


@dataclass
class _Walk:
    """One pass over a log's entries in index order, collecting what is wrong as it goes.

    The tree is recomputed leaf by leaf (a compact range), so each stored tile node and each
    checkpoint is compared at the moment the recomputed tree reaches it: constant memory.
    """

    state: ServerState
    org: Organization
    report: LogReport
    notes: dict[int, tuple[bytes, str]]
    nodes: dict[tuple[int, int], bytes]
    min_index: int = 0
    cr: CompactRange = field(default_factory=CompactRange)
    last_ts: int = -1
    modified: list[int] = field(default_factory=list)
    erased: list[int] = field(default_factory=list)
    signed_min: int = 0  # min_index recorded by the newest retention event seen so far

    def entry(self, row: _EntryRow) -> bool:
        """Check one entry; False at a gap, past which nothing can be recomputed."""
        idx = row[0]
        if idx != self.cr.size:
            self.report.findings.append(
                Finding.over(Code.EVENT_MISSING, "entries are missing", [(self.cr.size, idx - 1)])
            )
            return False
        if _body_problem(row) is not None:
            self.modified.append(idx)
        elif row[2] is None:
            if idx >= self.min_index:
                self.erased.append(idx)
        elif row[3][2] == RETENTION_EVENT:
            self.signed_min = _recorded_min_index(row[2], self.signed_min)
        ts = int(row[3][1])  # type: ignore[call-overload]
        if ts < self.last_ts:
            self.report.findings.append(
                Finding.at(Code.EVENT_REORDERED, f"entry {idx} is older than the one before", [idx])
            )
        self.last_ts = ts
        for level, n, h in self.cr.append(row[1]):
            if level and not level % TILE_HEIGHT and self.nodes.get((level, n)) != h:
                self.report.findings.append(
                    Finding.at(
                        Code.EVENT_MODIFIED,
                        f"stored tree node (height {level}, index {n}) differs from the leaves",
                        range(n << level, (n + 1) << level),
                    )
                )
        if self.cr.size in self.notes:
            _check_checkpoint(self.state, self.org, self.cr, self.notes[self.cr.size], self.report)
        return True

    def finish(self, stored_size: int) -> None:
        """The findings only the whole walk can make: erasures, min_index, the newest size."""
        findings = self.report.findings
        if self.modified:
            findings.insert(
                0,
                Finding.at(
                    Code.EVENT_MODIFIED,
                    "entries were changed after they were logged",
                    self.modified,
                ),
            )
        if self.erased:
            findings.append(
                Finding.at(
                    Code.EVENT_MISSING,
                    "entry bodies were erased above min_index (retention never removes those)",
                    self.erased,
                )
            )
        if self.min_index > self.signed_min:
            findings.append(
                Finding.over(
                    Code.EVENT_MISSING,
                    f"min_index was raised to {self.min_index}, but the newest signed "
                    f"{RETENTION_EVENT} event records {self.signed_min}: entries below it may "
                    "have been erased without a signed record",
                    [(self.signed_min, self.min_index - 1)],
                )
            )
        if 0 in self.notes:
            _check_checkpoint(self.state, self.org, CompactRange(), self.notes[0], self.report)
        size = self.report.size = self.cr.size
        newest = max(self.notes) if self.notes else -1
        if newest != size or stored_size != size:
            code = Code.LOG_TRUNCATED if newest > size else Code.EVENT_INSERTED
            findings.append(
                Finding(
                    code,
                    f"the log holds {size} entries, its newest checkpoint says {newest} and the "
                    f"sequencer state {stored_size}",
                )
            )


def _check_checkpoint(
    state: ServerState,
    org: Organization,
    cr: CompactRange,
    stored: tuple[bytes, str],
    report: LogReport,
) -> None:
    root, text = stored
    report.checkpoints += 1
    try:
        cp = note.verify_checkpoint(text, state.vkey, org.origin)
    except VerificationError as exc:
        report.findings.append(Finding(exc.code, f"checkpoint of size {cr.size}: {exc.message}"))
        return
    if cp.size != cr.size or cp.root != cr.root() or root != cp.root:
        report.findings.append(
            Finding(Code.LOG_FORKED, f"the signed checkpoint of size {cr.size} has another root")
        )
