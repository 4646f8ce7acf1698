"""The export writer's :class:`~auditlens.export.writer.LogSnapshot` over a local mirror file.

The export layer defines what it needs from a verified copy of the log (the protocol); the
mirror implements it here, so every SQL statement against the mirror stays in ``mirror/`` and
the mirror imports nothing of the export layer (a refusal is
:class:`~auditlens.core.errors.ExportRefusedError`, which the export's callers handle).

The snapshot opens the mirror read-only (the sync writer may be appending meanwhile) and fixes
what the export covers at the moment it opens: the latest trusted checkpoint (size ``N``) and
the exported indexes below ``N``. Entries below ``N`` never change in a mirror (it only
appends), so reading them over several statements is consistent even while a sync commits.

Selection: an :class:`~auditlens.mirror.filter.EventFilter` (resolved by the reader, so the
export matches exactly what the viewer's table shows:
:meth:`~auditlens.mirror.reader.MirrorReader.matching_indexes`), an explicit list of indexes
(the selected rows), or :class:`ViewRows`: the rows a view shows whose filter no evidence can
state (a search, an excluded value), collected here and exported as a hand-picked selection.
The matching indexes are collected first, 8 bytes each (8 MB per million),
so the count is known before writing and the writer can check it: the export dialog shows the
count after that one read.

Re-verification: the snapshot also hands the writer the mirror's stored roots of complete
256-entry tiles (``tile_hashes``, written by the sync), so an export re-hashes only the tiles
holding exported events (:mod:`auditlens.export.writer` explains why that is sound).

Pruned logs: when the mirror records a pruned range it never held (``meta.gaps``, written by the
sync with the frontier at the end of the range), the export starts from the end of the last
such range, whose frontier stands for everything before it. Events below that point cannot get
proofs from this mirror, so selecting them refuses the export (PRUNED_BY_POLICY) rather than
writing evidence that would not verify.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from auditlens.core.errors import Code, ExportRefusedError, Finding
from auditlens.core.summaries import verdict_of
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.store import open_readonly


@dataclass(frozen=True)
class ViewRows:
    """Every row the viewer shows for ``filter``, to export as a hand-picked selection.

    For a view whose filter the evidence's filters cannot state (a free-text search, an
    excluded value, a window of log positions, a payload field): the export is the rows
    themselves, so its evidence never claims a wider filter. The rows are collected by the
    snapshot, off the UI thread, however many the view holds (a search's hits re-checked
    against their bytes, as the table shows them).
    """

    filter: EventFilter


class MirrorSnapshot:
    """A fixed view of one mirror for one export; close it (or use ``with``) when done."""

    def __init__(
        self,
        path: Path | str,
        selection: EventFilter | ViewRows | Sequence[int] | None = None,
        chunk: int = 8192,
    ) -> None:
        self.path = Path(path)
        self._chunk = chunk
        self._conn = open_readonly(self.path)
        try:
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
            row = self._conn.execute(
                "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1"
            ).fetchone()
            if row is None or "vkey" not in meta or "origin" not in meta:
                raise ExportRefusedError(
                    Finding.at(
                        Code.EVENT_MISSING,
                        f"the mirror {self.path} holds no verified checkpoint yet: sync first",
                    )
                )
            self.tree_size = int(row[0])
            self._note = str(row[1])
            self._origin = str(meta["origin"])
            self._vkey = str(meta["vkey"])
            self._prefix = self._load_prefix(meta.get("gaps"))
            self._indexes = self._collect(selection)
        except BaseException:
            self._conn.close()
            raise
        if self._indexes and self._indexes[0] < self._prefix[0]:
            first = self._indexes[0]
            self.close()
            raise ExportRefusedError(
                Finding.at(
                    Code.PRUNED_BY_POLICY,
                    f"event {first} is below index {self._prefix[0]}: the log pruned entries "
                    "this mirror never held, so events before that point cannot carry proofs "
                    f"from it; narrow the selection to indexes >= {self._prefix[0]}",
                    [first],
                )
            )

    def _load_prefix(self, gaps: str | None) -> tuple[int, list[bytes]]:
        if not gaps:
            return 0, []
        items = orjson.loads(gaps)
        if not items:
            return 0, []
        _, end, hashes = items[-1]
        return int(end), [bytes.fromhex(h) for h in hashes]

    def _collect(self, selection: EventFilter | ViewRows | Sequence[int] | None) -> array[int]:
        n = self.tree_size
        if selection is None:
            selection = EventFilter()
        if isinstance(selection, ViewRows):
            found = self._view_indexes(selection.filter)
        elif isinstance(selection, EventFilter):
            if selection.text is not None:  # the evidence's filter could not state it
                raise ValueError(
                    "an export carries the sidebar's filter, not a free-text search: clear the "
                    "search, or select the rows to export"
                )
            if selection.exclude:  # nor "not these values": the evidence would claim more
                raise ValueError(
                    "an export's evidence cannot state excluded values (-type:…, -user:…): "
                    "remove them, or select the rows to export"
                )
            reader = MirrorReader(self.path)
            try:
                found = reader.matching_indexes(selection, n)
            finally:
                reader.close()
            if selection.outcome is not None:
                found = self._by_verdict(found, selection.outcome)
        else:
            found = array("q", (i for i in selection if 0 <= i < n))
        if any(found[i] >= found[i + 1] for i in range(len(found) - 1)):
            found = array("q", sorted(set(found)))  # never trust an order we did not make
        return found

    def _view_indexes(self, f: EventFilter) -> array[int]:
        """Every row the table shows for ``f`` below the tree size, ascending: the matching
        indexes, or for a search (or a payload field, found through the same full-text index)
        the rows the table shows, a search's hits re-checked against their bytes, read in pages
        of 5,000 in log order."""
        reader = MirrorReader(self.path)
        try:
            if f.text is None and f.event_field is None:
                return reader.matching_indexes(f, self.tree_size)
            found: array[int] = array("q")
            after = None
            while rows := reader.page(f, "ts", False, after, 5_000):
                found.extend(row.idx for row in rows if row.idx < self.tree_size)
                after = reader.key_of(rows[-1], "ts")
            return found
        finally:
            reader.close()

    def _by_verdict(self, found: array[int], verdict: str) -> array[int]:
        """Keep the indexes whose verdict is ``verdict`` (:mod:`auditlens.core.summaries`).

        An export's ``outcome`` filter means the verdict (docs/evidence-format.md §7: refusals
        are neither successes nor failures), which is what the server attests and the verifier
        checks; the mirror's own outcome column is the signed outcome, so the candidates' bodies
        decide. Reads only the candidates, in batches.
        """
        kept: array[int] = array("q")
        for start in range(0, len(found), 900):
            batch = found[start : start + 900].tolist()
            marks = ",".join("?" * len(batch))
            rows = self._conn.execute(
                f"SELECT idx, CAST(raw AS BLOB) FROM entries WHERE idx IN ({marks}) ORDER BY idx",
                batch,
            ).fetchall()
            kept.extend(int(i) for i, raw in rows if verdict_of(orjson.loads(raw)) == verdict)
        return kept

    # -- LogSnapshot -------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return self._origin

    @property
    def vkey(self) -> str:
        return self._vkey

    @property
    def checkpoint_note(self) -> str:
        return self._note

    def prefix(self) -> tuple[int, Sequence[bytes]]:
        return self._prefix

    def selected_count(self) -> int:
        return len(self._indexes)

    def selected(self) -> Iterator[int]:
        return iter(self._indexes)

    def entries(self, start: int, stop: int) -> Iterator[tuple[int, list[bytes]]]:
        cur = self._conn.cursor()
        pos = start
        while pos < stop:
            end = min(stop, pos + self._chunk)
            rows = cur.execute(
                "SELECT idx, CAST(raw AS BLOB) FROM entries "
                "WHERE idx >= ? AND idx < ? ORDER BY idx",
                (pos, end),
            ).fetchall()
            if len(rows) == end - pos:
                yield pos, [bytes(r[1]) for r in rows]
            else:  # a hole: yield the consecutive runs, the writer reports the missing range
                run: list[bytes] = []
                first = -1
                for idx, raw in rows:
                    if run and idx != first + len(run):
                        yield first, run
                        run = []
                    if not run:
                        first = idx
                    run.append(bytes(raw))
                if run:
                    yield first, run
            pos = end

    def tile_hashes(self, first: int, stop: int) -> Mapping[int, bytes]:
        """The stored roots of complete tiles ``[first, stop)`` (none in a mirror without them).

        Returned as stored, even malformed: the writer refuses a root that is not a hash rather
        than silently re-hashing around an edited table.
        """
        try:
            rows = self._conn.execute(
                "SELECT n, hash FROM tile_hashes WHERE n >= ? AND n < ?", (first, stop)
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            return {}  # a file from before the table existed: every tile is re-hashed
        return {
            int(n): bytes(h) if isinstance(h, bytes | memoryview) else str(h).encode()
            for n, h in rows
        }

    def users(self) -> Mapping[str, str]:
        return {
            str(uid): str(email)
            for uid, email in self._conn.execute("SELECT id, email FROM users")
            if email is not None
        }

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> MirrorSnapshot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
