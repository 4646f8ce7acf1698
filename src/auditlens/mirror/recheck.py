"""Re-check a mirror file against its trusted checkpoint (run in the background at start).

A mirror is a plain SQLite file a person (or malware) can edit. The re-check verifies the
largest stored checkpoint's signature again with the PINNED key (the pin comes from the
caller, not from the file), re-hashes stored entries against it, and re-derives every indexed
column from the raw bytes, because the table shows those columns: an edited ``summary`` or
``user_id`` is as misleading as an edited body.

Two depths:

- **incremental** (the default, at every start; milliseconds plus the tiles it hashes): the
  root of every complete 256-entry tile (``tile_hashes``) and the leaves of the last, partial
  tile must fold to the signed root, and to the stored tree state; the entry count and the
  highest index must be the tree's. That authenticates every tile root, so any tile can then be
  checked on its own: re-hash its 256 entries, compare with its root, and re-derive their
  columns. It checks every tile written since the last re-check, a rolling window of
  :data:`WINDOW_FRACTION` of the older tiles (at least :data:`MIN_WINDOW` tiles, so a small
  mirror is checked whole) and :data:`RANDOM_TILES` tiles at random. **Guarantee:** every
  stored entry is re-hashed within ``1 / WINDOW_FRACTION`` starts after it was written or
  last checked, every entry new since the last start is re-hashed at this one, and deleted or
  added rows, an edited tile root or tree state are found at every start. At 5M entries that
  is ~1/32 of the file per start, a few seconds in the background. Where it stopped is kept
  beside the mirror (``<mirror>.recheck.json``; the mirror itself stays read-only here).
- **full** (``auditlens sync --recheck full``, and whenever the tile roots cannot be used: a
  mirror with pruned gaps or written before they were kept): every entry in index order,
  folded into a compact range whose root must be the signed root.

Where: a column edit is found at its exact index; an edit of ``raw`` is located to its tile
(exact to 256 entries at 1/256 of the space a per-entry hash would take). The tile roots locate
and, once authenticated by the signed root, verify; detection never rests on them alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import cast

import orjson

from auditlens.core import merkle, tiles
from auditlens.core.errors import Code, Finding, FormatError
from auditlens.mirror.recheck_tiles import (
    COLUMNS,
    RecheckResult,
    mark_rechecked,
    recheck_tiles,
    stored_checkpoint,
    tile_findings,
)
from auditlens.mirror.rows import MalformedEntryError, extract_row
from auditlens.mirror.store import open_readonly
from auditlens.mirror.writer import unpack_frontier

_TILE = tiles.TILE_WIDTH
_COLUMNS = COLUMNS

__all__ = ["RecheckResult", "mark_rechecked", "recheck_mirror"]


def _load_gaps(text: str | None) -> dict[int, tuple[int, list[bytes]]]:
    if not text:
        return {}
    try:
        return {int(a): (int(b), [bytes.fromhex(h) for h in hs]) for a, b, hs in orjson.loads(text)}
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return {}


def recheck_mirror(
    path: Path,
    vkey: str,
    origin: str,
    *,
    full: bool = False,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> RecheckResult:
    """Re-verify the mirror at ``path`` against its signed checkpoint: incrementally, or every
    entry with ``full`` (see the module docstring for what each guarantees)."""
    cancel = cancel or threading.Event()
    if not full:
        result = recheck_tiles(path, vkey, origin, progress=progress, cancel=cancel)
        if result is not None:
            return result
    return _recheck_all(path, vkey, origin, progress=progress, cancel=cancel)


def _recheck_all(
    path: Path,
    vkey: str,
    origin: str,
    *,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event,
) -> RecheckResult:
    """Every entry, in index order, folded into one compact range."""
    conn = open_readonly(path)
    try:
        conn.execute("BEGIN")  # one snapshot, even if a sync commits meanwhile
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        cp = stored_checkpoint(conn, vkey, origin)
        if isinstance(cp, RecheckResult):
            return cp
        state = conn.execute("SELECT size, frontier FROM tree_state WHERE id = 1").fetchone()
        walk = _FullWalk(
            tile_roots=dict(conn.execute("SELECT n, hash FROM tile_hashes").fetchall()),
            gaps=_load_gaps(meta.get("gaps")),
        )
        cursor = conn.execute(f"SELECT {_COLUMNS} FROM entries ORDER BY idx")
        while rows := cursor.fetchmany(4096):
            if cancel.is_set():
                return RecheckResult(walk.checked, cp.size, cancelled=True)
            if not walk.feed(rows):
                break
            if progress is not None:
                progress(walk.checked, cp.size)
        findings = walk.findings(cp.size, cp.root, state)
        if progress is not None:
            progress(walk.checked, cp.size)
        if not findings:
            mark_rechecked(path, cp.size)
        return RecheckResult(walk.checked, cp.size, tuple(findings))
    finally:
        conn.close()


@dataclass
class _FullWalk:
    """The entries seen so far in index order: their compact range and what disagreed.

    Fed in batches; it stops at the first index that is not the next one (a deleted or added
    row), because every root after it would differ anyway and the range says where.
    """

    tile_roots: dict[int, bytes]
    gaps: dict[int, tuple[int, list[bytes]]]
    crange: merkle.CompactRange = field(default_factory=merkle.CompactRange)
    expected: int = 0
    checked: int = 0
    missing: list[tuple[int, int]] = field(default_factory=list)
    column_edits: list[int] = field(default_factory=list)
    bad_tiles: list[tuple[int, int]] = field(default_factory=list)

    def feed(self, rows: list[tuple[object, ...]]) -> bool:
        """Fold ``rows`` in; False once an index is out of sequence (the walk ends there)."""
        for row in rows:
            idx = int(cast(int, row[0]))
            self._skip_pruned_gaps(idx)
            if idx != self.expected:
                self.missing.append((self.expected, idx - 1) if idx > self.expected else (idx, idx))
                return False
            self.expected += 1
            self.checked += 1
            raw = bytes(cast(bytes, row[10]))
            for level, n, node_hash in self.crange.append(sha256(b"\x00" + raw).digest()):
                if level == tiles.TILE_HEIGHT and self.tile_roots.get(n, node_hash) != node_hash:
                    self.bad_tiles.append((n * _TILE, n * _TILE + _TILE - 1))
            if not _columns_match(idx, raw, row):
                self.column_edits.append(idx)
        return True

    def _skip_pruned_gaps(self, idx: int) -> None:
        """Jump over retention-pruned ranges, resuming from the frontier kept for each."""
        while self.expected in self.gaps and idx >= self.gaps[self.expected][0]:
            end, frontier = self.gaps[self.expected]
            self.crange = merkle.CompactRange.from_state(end, frontier)
            self.expected = end

    def findings(
        self, size: int, root: bytes, state: tuple[object, object] | None
    ) -> list[Finding]:
        """What the walk found against the signed ``size`` and ``root`` and the stored state."""
        findings: list[Finding] = []
        if self.expected < size and not self.missing:
            self.missing.append((self.expected, size - 1))
        if self.missing:
            findings.append(
                Finding.over(
                    Code.EVENT_MISSING,
                    "Entries the mirror verified before are no longer in the mirror file.",
                    self.missing,
                )
            )
        bad_tiles: list[tuple[int, int]] = []
        if not self.missing and self.crange.root() != root:
            bad_tiles = self.bad_tiles or [((size - 1) // _TILE * _TILE, size - 1)]
        findings += tile_findings(bad_tiles, self.column_edits)
        if state is not None and not self.missing and not self._state_matches(size, state):
            findings.append(
                Finding(
                    Code.EVENT_MODIFIED,
                    "The mirror's stored tree state does not match its entries: the file was "
                    "edited; the next sync would not verify.",
                )
            )
        return findings

    def _state_matches(self, size: int, state: tuple[object, object]) -> bool:
        stored_size, frontier = state
        return int(cast(int, stored_size)) == size and unpack_frontier(
            bytes(cast(bytes, frontier))
        ) == tuple(self.crange.hashes)


def _columns_match(idx: int, raw: bytes, row: tuple[object, ...]) -> bool:
    """Whether the stored columns are the ones the entry's bytes derive (edits are found here)."""
    try:
        derived = extract_row(idx, raw, orjson.loads(raw))
    except (orjson.JSONDecodeError, MalformedEntryError, FormatError):
        return False
    return derived[:10] == tuple(row[:10]) and derived[11:] == tuple(row[11:])
