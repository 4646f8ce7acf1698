"""The case file: an investigator's bookmarks, notes and saved searches for one mirror.

It is a separate SQLite file beside the mirror (``<mirror stem>.case.db``, mode 0600), so
the mirror itself stays read-only and verifiable: nothing the investigator writes can ever be
mistaken for, or change, the signed log. A note or star is keyed by the event's log index AND
its id: if the mirror beside the case file is ever replaced by another log, a stored note can
never attach to a different event; reading or writing it with a mismatched id raises
:class:`CaseFileMismatchError` naming both ids.

Every statement is tiny (one row by primary key), so the viewer calls this on the UI thread;
the connection is therefore used by the thread that opened it only.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

#: The case file's format; a newer one is refused rather than misread.
CASE_FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS annotation (
    idx INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    starred INTEGER NOT NULL DEFAULT 0 CHECK (starred IN (0, 1)),
    note TEXT NOT NULL DEFAULT '',
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS saved_search (
    name TEXT PRIMARY KEY CHECK (length(trim(name)) > 0),
    state TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
"""


class CaseFileError(Exception):
    """The case file cannot be read or written (its path, a newer format, a broken file)."""


class CaseFileMismatchError(CaseFileError, ValueError):
    """The case file holds another event at this log index (the mirror was replaced)."""


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _guarded(fn: Callable[_P, _T]) -> Callable[_P, _T]:
    """SQLite and file errors leave as :class:`CaseFileError` naming the file (the viewer
    reports them without knowing about SQL)."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return fn(*args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            where = getattr(args[0], "path", "the case file")
            raise CaseFileError(f"{where}: {exc}") from exc

    return wrapper


@dataclass(frozen=True)
class Annotation:
    """What the investigator wrote about one event: a star and free text (not evidence)."""

    idx: int
    event_id: str
    starred: bool
    note: str


@dataclass(frozen=True)
class SavedSearch:
    """A named search: the stored JSON object, ``{"query": <query line>, "columns": [...]}``.

    The query line is the query bar's language (:mod:`auditlens.mirror.query_text`), the same
    text ``auditlens export --query`` takes. A search saved by an older viewer holds the
    sidebar's state instead of ``query``; the viewer still reads it.
    """

    name: str
    state: dict[str, Any]

    @property
    def query(self) -> str | None:
        """The query line (None: an older, sidebar-state search)."""
        value = self.state.get("query")
        return value if isinstance(value, str) else None

    @property
    def columns(self) -> list[str] | None:
        """The visible columns' titles when it was saved (None: not saved)."""
        value = self.state.get("columns")
        return [str(c) for c in value] if isinstance(value, list) and value else None


def case_path_for(mirror_path: Path | str) -> Path:
    """Where the case file of ``mirror_path`` lives: beside it, ``<stem>.case.db`` (not
    ``.sqlite``: tools that look for mirrors as ``*.sqlite`` in a folder must not count it)."""
    mirror = Path(mirror_path)
    return mirror.with_name(f"{mirror.stem}.case.db")


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class CaseFile:
    """One mirror's case file, created on first open (0600: notes may be sensitive)."""

    @_guarded
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        if not self.path.exists():
            fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            os.close(fd)
        self._conn = sqlite3.connect(self.path, isolation_level=None)
        version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
        if version > CASE_FORMAT:
            self._conn.close()
            raise CaseFileError(
                f"{self.path}: case file format {version} is newer than this auditlens "
                f"understands ({CASE_FORMAT}); upgrade auditlens to open it"
            )
        self._conn.executescript(_SCHEMA)
        self._conn.execute(f"PRAGMA user_version = {CASE_FORMAT}")

    @classmethod
    def for_mirror(cls, mirror_path: Path | str) -> CaseFile:
        return cls(case_path_for(mirror_path))

    def close(self) -> None:
        self._conn.close()

    # -- bookmarks and notes --------------------------------------------------------------------

    def _stored(self, idx: int, event_id: str) -> Annotation | None:
        got = self._conn.execute(
            "SELECT event_id, starred, note FROM annotation WHERE idx = ?", (idx,)
        ).fetchone()
        if got is None:
            return None
        if got[0] != event_id:
            raise CaseFileMismatchError(
                f"{self.path}: log index {idx} is noted as event {got[0]}, but the mirror "
                f"holds {event_id} there; the case file belongs to another log"
            )
        return Annotation(idx, got[0], bool(got[1]), got[2])

    @_guarded
    def annotation(self, idx: int, event_id: str) -> Annotation:
        """The star and note of the event at ``idx`` (blank when none is stored)."""
        return self._stored(idx, event_id) or Annotation(idx, event_id, False, "")

    def _write(self, idx: int, event_id: str, starred: bool, note: str) -> Annotation:
        self._stored(idx, event_id)  # refuses a mismatched id before writing anything
        if not starred and not note.strip():
            self._conn.execute("DELETE FROM annotation WHERE idx = ?", (idx,))
        else:
            self._conn.execute(
                "INSERT INTO annotation (idx, event_id, starred, note, updated_ms) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (idx) DO UPDATE SET "
                "starred = excluded.starred, note = excluded.note, "
                "updated_ms = excluded.updated_ms",
                (idx, event_id, int(starred), note, _now_ms()),
            )
        return Annotation(idx, event_id, starred, note)

    @_guarded
    def set_starred(self, idx: int, event_id: str, starred: bool) -> Annotation:
        current = self.annotation(idx, event_id)
        return self._write(idx, event_id, starred, current.note)

    @_guarded
    def toggle_star(self, idx: int, event_id: str) -> Annotation:
        current = self.annotation(idx, event_id)
        return self._write(idx, event_id, not current.starred, current.note)

    @_guarded
    def set_note(self, idx: int, event_id: str, note: str) -> Annotation:
        current = self.annotation(idx, event_id)
        return self._write(idx, event_id, current.starred, note)

    @_guarded
    def annotations(self) -> list[Annotation]:
        """Every starred or annotated event, in log order."""
        rows = self._conn.execute(
            "SELECT idx, event_id, starred, note FROM annotation ORDER BY idx"
        ).fetchall()
        return [Annotation(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    @_guarded
    def starred_indexes(self) -> frozenset[int]:
        rows = self._conn.execute("SELECT idx FROM annotation WHERE starred = 1").fetchall()
        return frozenset(r[0] for r in rows)

    # -- saved searches -------------------------------------------------------------------------

    @_guarded
    def saved_searches(self) -> list[SavedSearch]:
        """Every saved search, by name."""
        rows = self._conn.execute(
            "SELECT name, state FROM saved_search ORDER BY name COLLATE NOCASE"
        ).fetchall()
        return [SavedSearch(r[0], json.loads(r[1])) for r in rows]

    @_guarded
    def save_search(self, name: str, state: dict[str, Any]) -> SavedSearch:
        """Keep ``state`` under ``name`` (replacing a search of that name)."""
        name = name.strip()
        if not name:
            raise ValueError("a saved search needs a name")
        self._conn.execute(
            "INSERT INTO saved_search (name, state, created_ms) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET state = excluded.state",
            (name, json.dumps(state, sort_keys=True), _now_ms()),
        )
        return SavedSearch(name, state)

    def save_query(self, name: str, query: str, columns: list[str] | None = None) -> SavedSearch:
        """Keep the query line ``query`` (and the visible columns) under ``name``."""
        state: dict[str, Any] = {"query": query}
        if columns:
            state["columns"] = list(columns)
        return self.save_search(name, state)

    @_guarded
    def rename_search(self, old: str, new: str) -> None:
        new = new.strip()
        if not new:
            raise ValueError("a saved search needs a name")
        if (
            new != old
            and self._conn.execute("SELECT 1 FROM saved_search WHERE name = ?", (new,)).fetchone()
        ):
            raise ValueError(f"a saved search named {new!r} exists already")
        cur = self._conn.execute("UPDATE saved_search SET name = ? WHERE name = ?", (new, old))
        if cur.rowcount == 0:
            raise KeyError(f"no saved search named {old!r}")

    @_guarded
    def delete_search(self, name: str) -> None:
        self._conn.execute("DELETE FROM saved_search WHERE name = ?", (name,))
