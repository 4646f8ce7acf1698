"""The incremental start-up re-check: authenticate every tile root, then re-hash a few tiles.

:mod:`auditlens.mirror.recheck` says what it guarantees; this module does it. The roots of the
complete 256-entry tiles and the leaves of the last, partial tile fold to the root of the tree,
which must be the signed root: then each tile root is as trustworthy as the signature, and a
tile is verified by re-hashing its own entries. Which tiles: those written since the last
re-check, a rolling window over the older ones and a few at random. Where it stopped is kept in
``<mirror>.recheck.json`` beside the mirror (mode 0600), never in the read-only mirror.
"""

from __future__ import annotations

import random
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson

from auditlens.client.paths import write_private_file
from auditlens.core import merkle, note, tiles
from auditlens.core.checkpoint import Checkpoint
from auditlens.core.errors import Code, Finding, FormatError, VerificationError
from auditlens.mirror.rows import MalformedEntryError, extract_row
from auditlens.mirror.store import open_readonly

_TILE = tiles.TILE_WIDTH

#: The rolling window: this fraction of the tiles per start (so every tile within 32 starts)...
WINDOW_FRACTION = 1 / 32
#: ...and at least this many tiles (a mirror of up to 16,384 entries is checked whole).
MIN_WINDOW = 64
#: Tiles picked at random on top, so the next ones checked cannot be predicted.
RANDOM_TILES = 32

_random = random.SystemRandom()  # not predictable from the file or the time

COLUMNS = (
    "idx, id, ts, type, category, user_id, task_id, agent_id, outcome, summary, raw, "
    "verdict, ip, user_agent"
)


@dataclass(frozen=True)
class RecheckResult:
    """What the re-check found; ``ok`` when nothing (``checked`` entries hashed)."""

    checked: int
    size: int
    findings: tuple[Finding, ...] = field(default=())
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.cancelled and not any(not f.code.informational for f in self.findings)


def state_path(mirror: Path) -> Path:
    return mirror.with_name(mirror.name + ".recheck.json")


def _load_state(mirror: Path) -> tuple[int, int]:
    """(tree size checked through, next tile of the rolling window); (0, 0) when unknown."""
    try:
        data = orjson.loads(state_path(mirror).read_bytes())
        return int(data["size"]), int(data["cursor"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return 0, 0


def mark_rechecked(mirror: Path, size: int, cursor: int | None = None) -> None:
    """Record that every entry below ``size`` was verified now (by a re-check, or by the sync
    that wrote them in this very run)."""
    if cursor is None:
        cursor = _load_state(mirror)[1]
    write_private_file(state_path(mirror), orjson.dumps({"size": size, "cursor": cursor}))


def recheck_tiles(
    path: Path,
    vkey: str,
    origin: str,
    *,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> RecheckResult | None:
    """The incremental re-check; None when this mirror needs the full one (pruned gaps, or
    tile roots missing)."""
    cancel = cancel or threading.Event()
    conn = open_readonly(path)
    try:
        conn.execute("BEGIN")  # one snapshot, even if a sync commits meanwhile
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("gaps", "[]") not in ("", "[]") or meta.get("base_size", "0") != "0":
            return None
        cp = stored_checkpoint(conn, vkey, origin)
        if isinstance(cp, RecheckResult):
            return cp
        size = cp.size
        complete = size // _TILE
        roots = [bytes(r[0]) for r in conn.execute("SELECT hash FROM tile_hashes ORDER BY n")]
        if len(roots) != complete:
            return None
        findings: list[Finding] = []
        count, top = conn.execute("SELECT count(*), max(idx) FROM entries").fetchone()
        if count != size or (size and top != size - 1):
            return None  # rows deleted or added: the full re-check says which
        last_rows = _rows(conn, complete * _TILE, size)
        last_leaves = [sha256(b"\x00" + bytes(r[10])).digest() for r in last_rows]
        state = conn.execute("SELECT size, frontier FROM tree_state WHERE id = 1").fetchone()
        if not _folds_to_signed_root(size, roots, last_leaves, cp.root, state):
            findings.append(
                Finding.over(
                    Code.EVENT_MODIFIED,
                    "The mirror's tile hashes, tree state or last entries no longer match the "
                    "signed checkpoint: the mirror file was edited. Sync again into a fresh "
                    "mirror to restore it.",
                    [(0, size - 1)] if size else [],
                )
            )
            return RecheckResult(len(last_rows), size, tuple(findings))
        checked_through, cursor = _load_state(path)
        chosen = _tiles_to_check(complete, checked_through, cursor)
        bad_tiles: list[tuple[int, int]] = []
        column_edits = _column_edits(last_rows)
        checked = len(last_rows)
        for i, n in enumerate(chosen):
            if cancel.is_set():
                return RecheckResult(checked, size, tuple(findings), cancelled=True)
            rows = _rows(conn, n * _TILE, (n + 1) * _TILE)
            leaves = [sha256(b"\x00" + bytes(r[10])).digest() for r in rows]
            if len(leaves) != _TILE or merkle.root(leaves) != roots[n]:
                bad_tiles.append((n * _TILE, n * _TILE + _TILE - 1))
            column_edits += _column_edits(rows)
            checked += len(rows)
            if progress is not None and i % 16 == 0:
                progress(checked, size)
        findings += tile_findings(bad_tiles, column_edits)
        if progress is not None:
            progress(checked, size)
        if not findings:
            window = _window(complete)
            mark_rechecked(path, size, (cursor + window) % max(complete, 1))
        return RecheckResult(checked, size, tuple(findings))
    finally:
        conn.close()


def stored_checkpoint(
    conn: sqlite3.Connection, vkey: str, origin: str
) -> Checkpoint | RecheckResult:
    """The mirror's largest stored checkpoint, verified again with the pinned key; else the
    answer of the re-check (nothing to check, or the checkpoint fails)."""
    row = conn.execute("SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
    if row is None:
        return RecheckResult(0, 0)
    try:
        return note.verify_checkpoint(str(row[1]), vkey, origin)
    except VerificationError as exc:
        why = f"The mirror's stored checkpoint fails: {exc.message}"
        return RecheckResult(0, int(row[0]), (Finding(exc.code, why),))


def _folds_to_signed_root(
    size: int,
    roots: list[bytes],
    last_leaves: list[bytes],
    signed_root: bytes,
    state: tuple[Any, Any] | None,
) -> bool:
    """Whether the tile roots and the last tile's leaves fold to the signed root, and the
    stored tree state is that same frontier (what authenticates every tile root)."""
    frontier = _frontier(size, roots, last_leaves)
    return (
        merkle.CompactRange.from_state(size, frontier).root() == signed_root
        and state is not None
        and int(state[0]) == size
        and bytes(state[1]) == b"".join(frontier)
    )


def tile_findings(bad_tiles: list[tuple[int, int]], column_edits: list[int]) -> list[Finding]:
    """Tiles whose bytes no longer hash to their root, and rows whose columns disagree with
    their bytes (shared by both depths of the re-check)."""
    findings: list[Finding] = []
    if bad_tiles:
        findings.append(
            Finding.over(
                Code.EVENT_MODIFIED,
                "Stored entry bytes no longer hash to the signed checkpoint: the mirror file "
                "was edited. Sync again into a fresh mirror to restore it.",
                bad_tiles,
            )
        )
    if column_edits:
        findings.append(
            Finding.at(
                Code.EVENT_MODIFIED,
                "Columns of the mirror (time, type, user, summary, ...) no longer match the "
                "verified entry bytes: the mirror file was edited.",
                column_edits,
            )
        )
    return findings


def _rows(conn: sqlite3.Connection, lo: int, hi: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        f"SELECT {COLUMNS} FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (lo, hi)
    ).fetchall()


def _frontier(size: int, roots: list[bytes], last_leaves: list[bytes]) -> list[bytes]:
    """The compact range of ``size`` leaves from the tile roots and the last tile's leaves:
    one perfect subtree root per set bit of ``size``, largest first."""
    frontier: list[bytes] = []
    pos = 0
    for k in range(size.bit_length() - 1, -1, -1):
        if not size >> k & 1:
            continue
        width = 1 << k
        if k >= tiles.TILE_HEIGHT:
            first = pos // _TILE
            frontier.append(merkle.root(roots[first : first + width // _TILE]))
        else:
            first = pos - (size // _TILE) * _TILE
            frontier.append(merkle.root(last_leaves[first : first + width]))
        pos += width
    return frontier


def _window(complete: int) -> int:
    return min(complete, max(MIN_WINDOW, int(complete * WINDOW_FRACTION)))


def _tiles_to_check(complete: int, checked_through: int, cursor: int) -> list[int]:
    """New tiles (from the one holding ``checked_through``), the rolling window from ``cursor``
    and a few at random: each once, in order."""
    chosen = set(range(min(checked_through // _TILE, complete), complete))
    if complete:
        window = _window(complete)
        chosen.update((cursor + i) % complete for i in range(window))
        chosen.update(_random.sample(range(complete), min(RANDOM_TILES, complete)))
    return sorted(chosen)


def _column_edits(rows: Iterable[tuple[Any, ...]]) -> list[int]:
    """Indexes of rows whose stored columns differ from those derived from their bytes."""
    edits: list[int] = []
    for row in rows:
        idx, raw = int(row[0]), bytes(row[10])
        try:
            derived = extract_row(idx, raw, orjson.loads(raw))
        except (orjson.JSONDecodeError, MalformedEntryError, FormatError):
            edits.append(idx)
            continue
        if derived[:10] != tuple(row[:10]) or derived[11:] != tuple(row[11:]):
            edits.append(idx)
    return edits
