"""The read-only query layer of the mirror: filters -> indexed SQL -> keyset pages of rows.

Everything that reads the mirror for display goes through :class:`MirrorReader`; the viewer's
``ui`` package holds no SQL. The reader opens the file read-only (``mode=ro``) with one connection
per thread, so the UI's worker threads can count and page concurrently while the sync writer
appends.

Why stdlib ``sqlite3`` and not SQLAlchemy Core here (the schema itself is SQLAlchemy, in
:mod:`auditlens.mirror.schema`): speed is the same (benchmarks.md: 0.60 vs 0.56 ms), but this module
lives on SQLite-specific controls that are clearer in SQL text than through an expression
builder: row-value keyset seeks ``(type, ts, idx) > (?, ?, ?)``, the unary ``+`` that keeps the
planner off an index (so the index *we* chose drives the order and no query sorts a whole range
in a temp B-tree), read-only URIs, and ``EXPLAIN QUERY PLAN`` checks in the tests. The column
names are the schema's; a test compares them with :mod:`auditlens.mirror.schema`.

How a page is found (no OFFSET over large ranges, no sort of a whole range):

- Every sort key ends in ``(ts, idx)``: the Time and Index sorts are one order, because the
  server never lets a timestamp decrease with the index (architecture.md §3), and every filter
  index is ``(column, ts, idx)``. A page is "the next ``limit`` rows after this key".
- A filter's most selective equality (task, user, agent, IP, event types, outcome, in that order)
  *drives* the query through its own ``(column, ts, idx)`` index; each other condition is an
  ``EXISTS`` probe: one seek in that condition's own index by the ``(value, ts, idx)`` the
  driving index already holds (:func:`_probe`). So a row the filter rejects is never read from
  the table, only the rows shown are; the probe cannot pick another index to drive. A set of
  values (several types, a category and a type, an email shared by two user ids) becomes one
  index seek per value, merged in Python by ``(ts, idx)``.
- Sorting by another column walks that column's index (NULLs first ascending, as SQLite orders
  them), probing the filter on the entries it meets. When the filter is narrow (at most
  :data:`SMALL_RESULT` matching rows, counted with a capped ``COUNT``), the walk might meet its
  matches only far along the index (a whole index is ~300 ms of probes at 1M rows), so the
  driver index finds the rows and SQLite sorts only those (reading each from the table: ~20-60
  ms warm for 20,000). The task index is ``(task_id, idx)``: a time range on its walk is
  tested as the equal ``idx`` range, found by two seeks, so the walk reads no table row.
  When the filter pins the sort column itself (sort by type while filtering two types), the page
  is each value's rows in turn, each driven as above. The user column sorts by email, which lives
  in ``users``: the distinct user ids of the log are found by skip-scanning the user index and
  walked in email order.
- A jump to a row position (a scrollbar drag) uses ``OFFSET`` along the same index order, from
  whichever end is nearer; whole segments (one type, one user) are skipped by counting them.
"""

from __future__ import annotations

import functools
import heapq
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Concatenate, Literal, NamedTuple, ParamSpec, TypeVar
from urllib.parse import quote

from auditlens.core.merkle import leaf_hash
from auditlens.core.timestamps import format_timestamp
from auditlens.mirror import search
from auditlens.mirror.store import open_readonly

__all__ = [
    "MAX_PREFIX_VALUES",
    "OUTCOMES",
    "PREFIX",
    "SMALL_RESULT",
    "SORT_COLUMNS",
    "Buckets",
    "CheckpointInfo",
    "EventFilter",
    "EventRecord",
    "Key",
    "MirrorReader",
    "MirrorStatus",
    "PrefixTooBroadError",
    "QueryCancelledError",
    "QueryScope",
    "Row",
    "SortColumn",
    "User",
]

SortColumn = Literal["ts", "type", "user", "task", "agent", "outcome", "idx"]
SORT_COLUMNS: tuple[SortColumn, ...] = ("ts", "type", "user", "task", "agent", "outcome", "idx")
#: What the Outcome filter and sort use: the verdict (:func:`auditlens.core.summaries.verdict_of`),
#: so a refusal is "denied", never "success" or "failure"; the signed outcome is unchanged.
OUTCOMES = ("success", "failure", "denied")

#: A text filter ending in ``*`` is a prefix (``elena*``, ``task_9f*``, ``10.0.*``). It is
#: resolved to the distinct values that start with it (one index seek each), and those values
#: then filter like a set of exact values, so it stays an index seek per value. A prefix
#: matching more values than this is refused with a message asking for more of the value.
PREFIX = "*"
MAX_PREFIX_VALUES = 500

#: What an :attr:`EventFilter.event_field` name may be: a plain payload key (it is put into a
#: JSON path, so nothing that could change the path's meaning).
EVENT_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

#: A filter matching at most this many rows is sorted by SQLite after its driver index found
#: them (a temp B-tree of this size takes a few ms); a broader one walks the sort index.
SMALL_RESULT = 20_000

#: A histogram of at most this many matching rows is one ``GROUP BY`` query, a larger one a
#: ``COUNT`` per bucket (:meth:`MirrorReader.bucket_counts`).
GROUPED_BUCKETS = 50_000

#: Up to how many rows each candidate driver index is counted when choosing between them.
DRIVER_PROBE = 100_000

#: Where a row sits in a sort order: ``(sort value, ts, idx)``; the sort value is None for the
#: Time and Index sorts and for a row whose sort column is NULL. Pass a row's key as ``after``.
Key = tuple[object, int, int]

_COLUMN_OF_SORT: dict[str, str] = {
    "type": "type",
    "outcome": "verdict",
    "agent": "agent_id",
    "task": "task_id",
}
_COLUMNS = (
    "SELECT e.idx, e.id, e.ts, e.type, e.category, e.user_id, e.task_id, e.agent_id, "
    "e.outcome, e.summary, e.verdict, e.ip, e.user_agent"
)
_SELECT = f"{_COLUMNS} FROM entries AS e"
_ENTRIES = "entries AS e"
#: A free-text search drives from its FTS5 index, in rowid (= idx = log) order; CROSS JOIN
#: keeps SQLite from reordering the join.
_TEXT_SOURCE = f"{search.TABLE} AS s CROSS JOIN entries AS e ON e.idx = s.rowid"
_USER_JOIN = " LEFT JOIN users AS u ON u.id = e.user_id"


class Row(NamedTuple):
    """One table row: the indexed columns of an entry (not its raw bytes)."""

    idx: int
    id: str
    ts: int
    type: str | None
    category: str | None
    user_id: str | None
    task_id: str | None
    agent_id: str | None
    outcome: str | None  # the signed outcome
    summary: str | None
    verdict: str | None = None  # success | failure | denied: what the viewer shows
    ip: str | None = None  # event.request.ip
    user_agent: str | None = None  # event.request.user_agent


@dataclass(frozen=True)
class User:
    """One person of the organization's directory."""

    id: str
    email: str | None
    name: str | None
    role: str | None


@dataclass(frozen=True)
class EventRecord:
    """One entry with what the detail pane shows: its exact bytes and where it was verified."""

    idx: int
    id: str
    ts: int
    raw: bytes
    leaf_hash: bytes
    #: Size of the first trusted checkpoint that covers this entry (None: none covers it yet).
    checkpoint_size: int | None
    checkpoint_verified_at: int | None


@dataclass(frozen=True)
class CheckpointInfo:
    """A trusted checkpoint stored in the mirror."""

    size: int
    note: str
    root: bytes | None
    verified_at: int | None


@dataclass(frozen=True)
class Buckets:
    """Counts of the events matching a filter per time bucket (the histogram above the table).

    Bucket ``i`` holds ``start_ms + i * width_ms <= ts < start_ms + (i + 1) * width_ms``.
    ``failures`` and ``denied`` count the verdicts (:data:`OUTCOMES`) among ``total``.
    """

    start_ms: int
    width_ms: int
    total: tuple[int, ...]
    failures: tuple[int, ...]
    denied: tuple[int, ...]

    @property
    def end_ms(self) -> int:
        return self.start_ms + self.width_ms * len(self.total)


@dataclass(frozen=True)
class MirrorStatus:
    """What the status bar says about the mirror."""

    entries: int
    checkpoint: CheckpointInfo | None
    origin: str | None
    last_sync_at: int | None


@dataclass(frozen=True)
class EventFilter:
    """What the person asked to see; every field narrows the rows (they combine with AND).

    ``types`` holds exact event types (``agent.action``) and/or whole categories (``agent``): a
    name with a dot is a type. ``until_ms`` is exclusive. ``user_email`` matches the directory
    case-insensitively; an email nobody has matches nothing. ``outcome`` is a verdict
    (:data:`OUTCOMES`): ``"denied"`` is a refusal, and ``"success"``/``"failure"`` leave refusals
    out. ``ip`` is the event's ``request.ip``.

    ``user_email``, ``user_id``, ``task_id``, ``agent_id`` and ``ip`` ending in ``*`` are
    prefixes (:data:`PREFIX`); a ``user_email`` prefix also matches user ids that start with it,
    so typing a name finds the person whichever the log holds.

    ``idx_from`` (inclusive) and ``idx_until`` (exclusive) keep a window of log positions: the
    neighbours of one event, whatever their type ("what happened just before and after"). They
    are turned into the equal time range (a timestamp never decreases with the index), so every
    index still drives; the index test itself reads no table row (every index ends in ``idx``).

    ``event_field`` is ``(name, value)``: the payload's ``event.<name>`` equals ``value`` (an API
    key's ``key_id``, an SSO ``idp_session``). No index holds payload fields, so each candidate
    row's bytes are read: alone over a whole 1M mirror that is ~1.3 s per count or page
    (measured), within a ±N minute window or beside another condition a few ms.
    ``text`` is a free-text search over every value of the event (:mod:`auditlens.mirror.search`
    says how terms match); text without a letter or digit is no condition.
    """

    since_ms: int | None = None
    until_ms: int | None = None
    user_email: str | None = None
    user_id: str | None = None
    types: frozenset[str] = field(default_factory=frozenset)
    task_id: str | None = None
    agent_id: str | None = None
    outcome: str | None = None
    ip: str | None = None
    idx_from: int | None = None
    idx_until: int | None = None
    event_field: tuple[str, str] | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.event_field is not None:
            name, value = self.event_field
            if not EVENT_FIELD_NAME.fullmatch(str(name)) or not isinstance(value, str):
                raise ValueError(
                    "EventFilter.event_field must be (a payload field name such as 'key_id', a "
                    f"string value), got {self.event_field!r}"
                )
            object.__setattr__(self, "event_field", (name, value))
        if (
            self.idx_from is not None
            and self.idx_until is not None
            and self.idx_from >= self.idx_until
        ):
            raise ValueError(
                f"EventFilter: the first index ({self.idx_from}) must be below the end "
                f"({self.idx_until})"
            )
        if not isinstance(self.types, frozenset):
            object.__setattr__(self, "types", frozenset(self.types))
        for name in ("user_email", "user_id", "task_id", "agent_id", "outcome", "ip"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"EventFilter.{name} must be a string or None, got {value!r}")
            if value is not None and not value.strip(PREFIX + " \t\n"):
                object.__setattr__(self, name, None)  # "" or a bare "*": no condition
        if self.text is not None:
            if not isinstance(self.text, str):
                raise TypeError(f"EventFilter.text must be a string or None, got {self.text!r}")
            if not search.SearchQuery.parse(self.text):
                object.__setattr__(self, "text", None)  # nothing searchable in it
            else:
                object.__setattr__(self, "text", self.text.strip())
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(
                "EventFilter.outcome must be 'success', 'failure' or 'denied', "
                f"got {self.outcome!r}"
            )
        if (
            self.since_ms is not None
            and self.until_ms is not None
            and self.since_ms >= self.until_ms
        ):
            raise ValueError(
                f"EventFilter: the start ({format_timestamp(self.since_ms)}) must be before the "
                f"end ({format_timestamp(self.until_ms)})"
            )
        for name in ("types",):
            for value in getattr(self, name):
                if not isinstance(value, str) or not value:
                    raise ValueError(f"EventFilter.types holds an empty or non-string {value!r}")

    @property
    def categories(self) -> frozenset[str]:
        """The whole categories in ``types``."""
        return frozenset(t for t in self.types if "." not in t)

    @property
    def exact_types(self) -> frozenset[str]:
        """The exact types in ``types`` whose category is not selected as a whole."""
        cats = self.categories
        return frozenset(t for t in self.types if "." in t and t.split(".", 1)[0] not in cats)

    def is_empty(self) -> bool:
        """True when the filter lets every event through."""
        return self == EventFilter()

    def to_query(self) -> str:
        """The filter as one URL-like line (``?type=agent&outcome=failure``), for the chips'
        tooltip and an export's description.

        The names are the audit API's query parameters where it has one; ``ip``, an
        ``outcome`` of ``denied`` and a trailing ``*`` (prefix) are this viewer's own. An empty
        filter is ``""``.
        """
        parts: list[tuple[str, str]] = []
        if self.since_ms is not None:
            parts.append(("since", format_timestamp(self.since_ms)))
        if self.until_ms is not None:
            parts.append(("until", format_timestamp(self.until_ms)))
        if self.user_email is not None:
            parts.append(("user_email", self.user_email))
        if self.user_id is not None:
            parts.append(("user_id", self.user_id))
        if self.types:
            kept = sorted(self.categories) + sorted(self.exact_types)
            parts.append(("type", ",".join(kept)))
        if self.task_id is not None:
            parts.append(("task_id", self.task_id))
        if self.agent_id is not None:
            parts.append(("agent_id", self.agent_id))
        if self.outcome is not None:
            parts.append(("outcome", self.outcome))
        if self.ip is not None:
            parts.append(("ip", self.ip))
        if self.idx_from is not None:
            parts.append(("idx_from", str(self.idx_from)))
        if self.idx_until is not None:
            parts.append(("idx_until", str(self.idx_until)))
        if self.event_field is not None:
            parts.append((f"event.{self.event_field[0]}", self.event_field[1]))
        if self.text is not None:
            parts.append(("q", self.text))
        if not parts:
            return ""
        return "?" + "&".join(f"{k}={quote(v, safe='@:,.-_*')}" for k, v in parts)


# ---------------------------------------------------------------------------------------------
# Plans: what SQL a page runs


class _Stream(NamedTuple):
    """One SQL query whose rows come in the plan's order along one index."""

    where: str  # WHERE clause without the keyset condition ("1" when none)
    params: tuple[object, ...]
    order: tuple[str, ...]  # ORDER BY expressions, also the keyset row value
    key_pos: tuple[int, ...]  # which parts of a Key the order expressions are
    join_users: bool = False
    none_as: object = None  # the value a None sort value takes in ``order[0]`` (coalesce)
    #: Sort only the ``idx`` (read off the driver's covering index), then read the page's rows:
    #: for a time-ordered union of many index ranges, 200 table reads instead of one per match.
    late_rows: bool = False
    source: str = _ENTRIES  # the FROM clause (a free-text search joins its index)


_ALL = object()  # a segment that holds every row of the plan (one stream, any sort value)
_NON_NULL = object()  # a segment that holds every non-NULL sort value (one direct stream)


class _Segment(NamedTuple):
    """Rows sharing one sort value (or all non-NULL values, or all rows), in output order."""

    lead: object
    streams: tuple[_Stream, ...]
    offset_stream: _Stream  # one query over the whole segment in order, for OFFSET jumps


class _Plan(NamedTuple):
    segments: tuple[_Segment, ...]
    empty: bool = False


@dataclass(frozen=True)
class _Resolved:
    """A filter with the user email turned into user ids (None: no user condition)."""

    since_ms: int | None
    until_ms: int | None
    user_ids: frozenset[str] | None
    categories: frozenset[str]
    types: frozenset[str]
    task_ids: frozenset[str] | None  # None: no condition; a set: any of these (a prefix's)
    agent_ids: frozenset[str] | None
    outcome: str | None  # a verdict
    ips: frozenset[str] | None = None
    prefer: str | None = None  # the driver to use when several equalities could drive
    idx_from: int | None = None
    idx_until: int | None = None
    event_field: tuple[str, str] | None = None

    @property
    def impossible(self) -> bool:
        sets = (self.user_ids, self.task_ids, self.agent_ids, self.ips)
        return any(s is not None and not s for s in sets)


#: More driver values than this (a broad prefix) are not merged stream by stream.
MAX_MERGED_STREAMS = 8

_PLURAL = {"user_id": "user ids", "task_id": "task ids", "agent_id": "agent ids", "ip": "IPs"}

#: (first, next) seeks listing the distinct values of a column in a ``[low, high)`` range: each
#: is one seek in the column's own index (an EXPLAIN QUERY PLAN test checks it).
_PREFIX_SEEKS: dict[str, tuple[str, str]] = {
    column: (
        f"SELECT {column} FROM entries WHERE {column} >= ? AND {column} < ? "
        f"ORDER BY {column} LIMIT 1",
        f"SELECT {column} FROM entries WHERE {column} > ? AND {column} < ? "
        f"ORDER BY {column} LIMIT 1",
    )
    for column in ("user_id", "task_id", "agent_id", "ip")
}


class PrefixTooBroadError(ValueError):
    """A prefix filter stands for more values than a page can be found for quickly."""


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """``[low, high)``: exactly the strings starting with ``prefix``, in SQLite's text order.

    SQLite compares text bytewise (UTF-8), which is code point order, so the strings starting
    with ``prefix`` lie between it and ``prefix`` with its last character incremented.
    """
    if not prefix:
        raise ValueError("an empty prefix matches everything: leave the filter empty instead")
    head, last = prefix[:-1], ord(prefix[-1])
    if last >= 0x10FFFF:
        return prefix, head + chr(0x10FFFF) + chr(0x10FFFF)
    following = 0xE000 if 0xD800 <= last + 1 <= 0xDFFF else last + 1  # skip surrogates
    return prefix, head + chr(following)


def _check_breadth(found: frozenset[str], typed: str, plural: str) -> None:
    if len(found) > MAX_PREFIX_VALUES:
        start = typed.strip().rstrip(PREFIX)
        raise PrefixTooBroadError(
            f"more than {MAX_PREFIX_VALUES} {plural} start with “{start}”: type more of it"
        )


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


#: The index that checks each filter column without reading the table (see :func:`_probe`).
#: Names and leading columns are :data:`auditlens.mirror.schema.ENTRY_INDEXES`' (a test checks).
PROBE_INDEXES: dict[str, str] = {
    "task_id": "ix_entries_task",
    "user_id": "ix_entries_user_ts",
    "agent_id": "ix_entries_agent_ts",
    "type": "ix_entries_type_ts",
    "category": "ix_entries_category_ts",
    "verdict": "ix_entries_verdict_ts",
    "ip": "ix_entries_ip_ts",
}


def _probe(column: str, n: int) -> str:
    """``column`` holds one of ``n`` values, checked by one seek in that column's index.

    Why not ``+e.column IN (...)``: that reads the row from the table, and a walk along the sort
    or driver index meets many rows the filter rejects (77,000 task.started rows before the
    first failure when failures are sorted by type descending). A table read is a random 4 KiB
    page (~1 µs warm, ~0.1 ms from disk); this seek, keyed by the ``(ts, idx)`` the walking
    index already holds, stays inside a small hot index (~0.3 µs, measured at 1M rows), so the
    table is read only for the rows that are shown.
    """
    match = f"c.{column} = ?" if n == 1 else f"c.{column} IN ({_placeholders(n)})"
    link = "c.idx = e.idx" if column == "task_id" else "c.ts = e.ts AND c.idx = e.idx"
    return (
        f"EXISTS (SELECT 1 FROM entries AS c INDEXED BY {PROBE_INDEXES[column]} "
        f"WHERE {match} AND {link})"
    )


def _conditions(
    r: _Resolved, *, driver: str | None, plus_ts: bool, probe: bool = True
) -> tuple[list[str], list[object]]:
    """WHERE conditions of ``r`` except the driver's, none of which can pick another index.

    With ``probe`` each equality is an index probe (:func:`_probe`), else a ``+``-ed column
    test. ``plus_ts`` also keeps the time range off the indexes (when another index drives the
    order; every driving index but the task's holds ``ts``, so the test reads no table row).
    """
    sql: list[str] = []
    params: list[object] = []
    ts = "+e.ts" if plus_ts else "e.ts"
    if r.since_ms is not None:
        sql.append(f"{ts} >= ?")
        params.append(r.since_ms)
    if r.until_ms is not None:
        sql.append(f"{ts} < ?")
        params.append(r.until_ms)
    if r.idx_from is not None:
        sql.append("+e.idx >= ?")
        params.append(r.idx_from)
    if r.idx_until is not None:
        sql.append("+e.idx < ?")
        params.append(r.idx_until)
    if r.event_field is not None:
        name, value = r.event_field
        if not any(c in value for c in '"\\') and all(ord(c) >= 0x20 for c in value):
            # The canonical bytes hold such a value verbatim (RFC 8785 escapes only quotes,
            # backslashes and control characters): a byte search rejects most rows before
            # any JSON is parsed (1.3 s instead of 3 s for a whole 1M mirror, cold).
            sql.append("instr(e.raw, CAST(? AS BLOB)) > 0")
            params.append(value)
        sql.append("json_extract(CAST(e.raw AS TEXT), ?) = ?")
        params.extend((f"$.event.{name}", value))

    def equal(column: str, values: Sequence[object]) -> None:
        if probe:
            sql.append(_probe(column, len(values)))
        elif len(values) == 1:
            sql.append(f"+e.{column} = ?")
        else:
            sql.append(f"+e.{column} IN ({_placeholders(len(values))})")
        params.extend(values)

    if driver != "task" and r.task_ids is not None:
        equal("task_id", sorted(r.task_ids))
    if driver != "user" and r.user_ids is not None:
        equal("user_id", sorted(r.user_ids))
    if driver != "agent" and r.agent_ids is not None:
        equal("agent_id", sorted(r.agent_ids))
    if driver != "ip" and r.ips is not None:
        equal("ip", sorted(r.ips))
    if driver != "types" and (r.categories or r.types):
        start = len(sql)
        if r.categories:
            equal("category", sorted(r.categories))
        if r.types:
            equal("type", sorted(r.types))
        sql[start:] = ["(" + " OR ".join(sql[start:]) + ")"]
    if driver != "outcome" and r.outcome is not None:
        equal("verdict", [r.outcome])
    return sql, params


_DRIVERS = ("task", "user", "agent", "ip", "types", "outcome")  # priority when sizes tie


def _driver_values(r: _Resolved, name: str) -> list[tuple[str, tuple[object, ...]]] | None:
    """The (condition, params) per value of equality ``name`` in ``r``, or None if absent."""
    if name == "task" and r.task_ids is not None:
        return [("e.task_id = ?", (t,)) for t in sorted(r.task_ids)]
    if name == "user" and r.user_ids is not None:
        return [("e.user_id = ?", (u,)) for u in sorted(r.user_ids)]
    if name == "agent" and r.agent_ids is not None:
        return [("e.agent_id = ?", (a,)) for a in sorted(r.agent_ids)]
    if name == "ip" and r.ips is not None:
        return [("e.ip = ?", (ip,)) for ip in sorted(r.ips)]
    if name == "types" and (r.categories or r.types):
        values: list[tuple[str, tuple[object, ...]]] = [
            ("e.category = ?", (c,)) for c in sorted(r.categories)
        ]
        values.extend(("e.type = ?", (t,)) for t in sorted(r.types))
        return values
    if name == "outcome" and r.outcome is not None:
        return [("e.verdict = ?", (r.outcome,))]
    return None


def _driver_of(r: _Resolved) -> tuple[str | None, list[tuple[str, tuple[object, ...]]]]:
    """The equality that drives a time-ordered query, as one (condition, params) per value.

    ``r.prefer`` (the smallest candidate, measured by the reader) wins when it applies.
    """
    for name in (r.prefer, *_DRIVERS) if r.prefer else _DRIVERS:
        values = _driver_values(r, name)
        if values is not None:
            return name, values
    return None, [("1", ())]


def _join(conds: Iterable[str]) -> str:
    items = [c for c in conds if c != "1"]
    return " AND ".join(items) if items else "1"


def _time_streams(r: _Resolved) -> tuple[list[_Stream], _Stream]:
    """Streams in ``(ts, idx)`` order for ``r`` (one per driver value) and the OFFSET query."""
    driver, values = _driver_of(r)
    rest, rest_params = _conditions(r, driver=driver, plus_ts=driver == "task")
    order = ("e.ts", "e.idx")
    streams = [
        _Stream(_join([cond, *rest]), (*params, *rest_params), order, (1, 2))
        for cond, params in values
    ]
    if len(streams) == 1:
        return streams, streams[0]
    # Several driver values: one query with every value (SQLite reads each value's index range
    # and sorts the union; jumps and a prefix of many values use it).
    where, params = _driver_union(r)
    return streams, _Stream(where, params, order, (1, 2))


def _driver_union(r: _Resolved) -> tuple[str, tuple[object, ...]]:
    """WHERE of every row of ``r``, found through the driver's index, one range per value.

    The driver's values are one ``OR`` (SQLite reads each value's range of that index); every
    other condition stays a probe, so it cannot pull the plan onto a bigger index (a prefix of a
    few IPs inside the agent category must not walk the whole category).
    """
    driver, values = _driver_of(r)
    rest, rest_params = _conditions(r, driver=driver, plus_ts=driver == "task")
    if len(values) == 1:
        cond, params = values[0]
        return _join([cond, *rest]), (*params, *rest_params)
    by_column: dict[str, list[object]] = {}  # "e.ip = ?" -> its values: one IN per column
    for cond, params in values:
        by_column.setdefault(cond, []).extend(params)
    terms = [
        f"{cond[: -len(' = ?')]} IN ({_placeholders(len(vs))})" for cond, vs in by_column.items()
    ]
    union = terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"
    params_all = tuple(v for vs in by_column.values() for v in vs)
    return _join([union, *rest]), (*params_all, *rest_params)


def _select(stream: _Stream, where: str, descending: bool, offset: bool = False) -> str:
    """The SELECT of ``stream`` with ``where``, ordered, ending in ``LIMIT ?`` (and
    ``OFFSET ?`` with ``offset``): those two are always the last parameters."""
    direction = " DESC" if descending else ""
    order_by = ", ".join(f"{expr}{direction}" for expr in stream.order)
    join = _USER_JOIN if stream.join_users else ""
    window = " LIMIT ? OFFSET ?" if offset else " LIMIT ?"
    if stream.late_rows:
        page = f"SELECT e.idx FROM entries AS e WHERE {where} ORDER BY {order_by}{window}"
        return f"{_SELECT}{join} WHERE e.idx IN ({page}) ORDER BY {order_by}"
    return f"{_COLUMNS} FROM {stream.source}{join} WHERE {where} ORDER BY {order_by}{window}"


def _cmp(a: object, b: object) -> int:
    """Compare two sort values as SQLite does (NULL first, then by value)."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    greater = bool(a > b)  # type: ignore[operator]
    return 1 if greater else (-1 if bool(a < b) else 0)  # type: ignore[operator]


def _position(segment: _Segment, key: Key, descending: bool) -> int:
    """-1: ``key`` comes before ``segment`` (take it all); 0: inside it; 1: after (skip it)."""
    if segment.lead is _ALL:
        return 0
    if segment.lead is _NON_NULL:
        if key[0] is None:  # the NULL segment is first ascending, last descending
            return 1 if descending else -1
        return 0
    c = _cmp(key[0], segment.lead)
    if c == 0:
        return 0
    precedes = c > 0 if descending else c < 0
    return -1 if precedes else 1


# ---------------------------------------------------------------------------------------------
# The reader

MAX_IDLE_CONNECTIONS = 3
_P = ParamSpec("_P")
_T = TypeVar("_T")


class QueryCancelledError(Exception):
    """A reader call stopped because its :class:`QueryScope` was cancelled: nobody wants it."""


class QueryScope:
    """The reads of one query (one filter and sort on screen); ``cancel()`` stops all of them.

    When the person replaces a filter, the count and pages of the old one are of no use, and a
    broad count or a deep jump can take a while at millions of rows: they would hold a worker
    thread and a core from the query the person is waiting for. A worker makes its reader calls
    inside ``with scope:``; ``cancel()``, from any thread, interrupts the statement running on
    each connection lent to the scope (``sqlite3.Connection.interrupt``, meant to be called from
    another thread, which stops the statement at its next step) and makes every later statement
    of the scope raise :class:`QueryCancelledError`.

    SQLite drops an interrupt that arrives while no statement of the connection is running, so
    one arriving between two statements would be lost. While a connection is lent to a scope it
    therefore holds one trivial statement open (stepped once, never finished): the connection
    is never idle, and an interrupt stays in force until the call returns. No progress handler
    is used: it would take the GIL every few thousand steps of every query, cancelled or not.
    """

    _current = threading.local()

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cancelled = False
        self._connections: set[sqlite3.Connection] = set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def cancel(self) -> None:
        """Interrupt the scope's running statements and refuse its next ones (any thread)."""
        with self._lock:  # held, so a connection already handed back is never interrupted
            self._cancelled = True
            for conn in self._connections:
                conn.interrupt()

    def wrap(self, fn: Callable[[], _T]) -> Callable[[], _T]:
        """``fn`` made to run inside this scope (for handing to a worker)."""

        def scoped() -> _T:
            with self:
                return fn()

        return scoped

    def check(self) -> None:
        """Raise :class:`QueryCancelledError` if the scope was cancelled."""
        if self._cancelled:
            raise QueryCancelledError("the query was replaced")

    @classmethod
    def _stack(cls) -> list[QueryScope]:
        stack: list[QueryScope] | None = getattr(cls._current, "stack", None)
        if stack is None:
            stack = cls._current.stack = []
        return stack

    @classmethod
    def current(cls) -> QueryScope | None:
        """The scope the calling thread is in, if any."""
        stack = cls._stack()
        return stack[-1] if stack else None

    def __enter__(self) -> QueryScope:
        self.check()
        QueryScope._stack().append(self)  # per thread: a scope's count and pages run in parallel
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        QueryScope._stack().pop()

    def _attach(self, conn: sqlite3.Connection) -> sqlite3.Cursor:
        """Lend ``conn`` to the scope; the returned open statement keeps interrupts in force."""
        with self._lock:
            self._connections.add(conn)
        return conn.execute("SELECT 1")  # one row, not fetched: the statement stays open

    def _detach(self, conn: sqlite3.Connection, keep_running: sqlite3.Cursor | None) -> bool:
        """Take ``conn`` back; False if an interrupt may still hang over it (do not reuse it)."""
        with self._lock:
            self._connections.discard(conn)
        if keep_running is not None:
            keep_running.close()
        if not self._cancelled:
            return True
        try:  # with no statement left open, this first step clears a pending interrupt
            conn.execute("SELECT 1").fetchall()
        except sqlite3.OperationalError:
            return False  # a statement is still open somewhere: the interrupt would hit a stranger
        return True


def _pooled(
    method: Callable[Concatenate[MirrorReader, _P], _T],
) -> Callable[Concatenate[MirrorReader, _P], _T]:
    """Run ``method`` with a pooled connection lent to this thread."""

    @functools.wraps(method)
    def wrapper(self: MirrorReader, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self._connection():
            return method(self, *args, **kwargs)

    return wrapper


class MirrorReader:
    """Read-only queries over one mirror file; safe to use from several threads at once."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._busy: set[sqlite3.Connection] = set()
        self._closed = False
        self._users: dict[str, User] | None = None
        self._plans: dict[tuple[EventFilter, str, bool], _Plan] = {}
        self._capped: dict[tuple[_Resolved, int], int] = {}
        self._prefer: dict[_Resolved, str | None] = {}
        self._type_categories: list[tuple[str, str | None]] | None = None
        self._user_ids: list[str | None] | None = None
        self._prefixes: dict[tuple[str, str], frozenset[str]] = {}
        with self._connection():  # fail now (FileNotFoundError, MirrorVersionError), not later
            pass

    # -- connections ----------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """Lend this thread a connection for the duration of one call (nested calls share it).

        Connections are pooled, not tied to threads: Qt's thread pool retires and recreates
        threads, and a connection per thread ever seen would keep a page cache each (a measured
        ~17 MB per query at 1M rows). At most :data:`MAX_IDLE_CONNECTIONS` stay open idle.
        """
        held: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("the mirror reader is closed")
            conn = self._idle.pop() if self._idle else None
        if conn is None:
            conn = open_readonly(self.path)
            conn.execute("PRAGMA cache_size=-8192")  # 8 MiB: deep index walks stay cached
            conn.execute("PRAGMA temp_store=MEMORY")
        with self._lock:
            self._busy.add(conn)
        self._local.conn = conn
        scope = QueryScope.current()
        keep_running: sqlite3.Cursor | None = None
        try:
            if scope is not None:
                keep_running = scope._attach(conn)
                scope.check()  # cancelled before that statement ran: its interrupt may be lost
            yield conn
        except sqlite3.OperationalError as exc:
            if scope is not None and scope.cancelled:  # interrupted by QueryScope.cancel()
                raise QueryCancelledError("the query was replaced") from exc
            raise
        finally:
            reusable = scope._detach(conn, keep_running) if scope is not None else True
            self._local.conn = None
            with self._lock:
                self._busy.discard(conn)
                keep = reusable and not self._closed and len(self._idle) < MAX_IDLE_CONNECTIONS
                if keep:
                    self._idle.append(conn)
            if not keep:
                conn.close()

    def connection(self) -> AbstractContextManager[sqlite3.Connection]:
        """Lend this thread a pooled read-only connection (``with reader.connection() as c``).

        For sibling read modules of the mirror (:mod:`auditlens.mirror.trail`) so they share
        this reader's pool and read-only opening instead of opening their own.
        """
        return self._connection()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            raise RuntimeError("internal: a query ran outside _connection()")
        scope = QueryScope.current()
        if scope is not None:
            scope.check()  # between statements: an interrupt then would be lost
        return conn

    def close(self) -> None:
        """Close the idle connections; busy ones close when their query returns."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def refresh(self) -> None:
        """Forget cached plans, counts and the directory: call after a sync wrote new entries."""
        self._users = None
        self._plans = {}
        self._capped = {}
        self._prefer = {}
        self._type_categories = None
        self._user_ids = None
        self._prefixes = {}

    # -- directory ------------------------------------------------------------------------------

    @_pooled
    def _directory(self) -> dict[str, User]:
        users = self._users
        if users is None:
            rows = self._conn().execute("SELECT id, email, name, role FROM users").fetchall()
            users = {r[0]: User(*r) for r in rows}
            self._users = users
        return users

    def users(self) -> list[User]:
        """The organization's people, by email."""
        return sorted(self._directory().values(), key=lambda u: ((u.email or "").lower(), u.id))

    def user_emails(self) -> list[str]:
        """Every distinct email of the directory, sorted (for the filter's completion)."""
        return sorted({u.email for u in self._directory().values() if u.email}, key=str.lower)

    def email_of(self, user_id: str | None) -> str | None:
        """The email of ``user_id`` (None when it is None or not in the directory)."""
        if user_id is None:
            return None
        user = self._directory().get(user_id)
        return user.email if user is not None else None

    def _email_key(self, user_id: str | None) -> str:
        """What the User column sorts by: the email, else the raw id, else ``""`` (no user)."""
        if user_id is None:
            return ""
        return self.email_of(user_id) or user_id

    # -- filters --------------------------------------------------------------------------------

    @_pooled
    def _resolve(self, f: EventFilter) -> _Resolved:
        ids: frozenset[str] | None = None
        if f.user_email is not None:
            wanted = f.user_email.strip().lower()
            if wanted.endswith(PREFIX):
                start = wanted.rstrip(PREFIX)
                ids = frozenset(
                    u.id
                    for u in self._directory().values()
                    if (u.email or "").lower().startswith(start)
                ) | self._prefix_values("user_id", f.user_email.strip().rstrip(PREFIX))
                _check_breadth(ids, f.user_email, "people")
            else:
                ids = frozenset(
                    u.id for u in self._directory().values() if (u.email or "").lower() == wanted
                )
        if f.user_id is not None:
            by_id = self._values("user_id", f.user_id) or frozenset()
            ids = by_id if ids is None else ids & by_id
        r = _Resolved(
            since_ms=f.since_ms,
            until_ms=f.until_ms,
            user_ids=ids,
            categories=f.categories,
            types=f.exact_types,
            task_ids=self._values("task_id", f.task_id),
            agent_ids=self._values("agent_id", f.agent_id),
            ips=self._values("ip", f.ip),
            outcome=f.outcome,
            idx_from=f.idx_from,
            idx_until=f.idx_until,
            event_field=f.event_field,
        )
        if f.idx_from is not None or f.idx_until is not None:
            r = self._with_idx_time_range(r)
        return replace(r, prefer=self._smallest_driver(r))

    def _with_idx_time_range(self, r: _Resolved) -> _Resolved:
        """``r`` with its index window also stated as the equal time range (two seeks), so the
        time index (or a ``(column, ts, idx)`` one) finds the window instead of a whole walk."""
        conn = self._conn()
        since, until = r.since_ms, r.until_ms
        if r.idx_from is not None:
            row = conn.execute(
                "SELECT ts FROM entries WHERE idx >= ? ORDER BY idx LIMIT 1", (r.idx_from,)
            ).fetchone()
            if row is not None:
                since = row[0] if since is None else max(since, row[0])
        if r.idx_until is not None:
            row = conn.execute(
                "SELECT ts FROM entries WHERE idx < ? ORDER BY idx DESC LIMIT 1", (r.idx_until,)
            ).fetchone()
            if row is not None:
                until = row[0] + 1 if until is None else min(until, row[0] + 1)
        return replace(r, since_ms=since, until_ms=until)

    def _values(self, column: str, value: str | None) -> frozenset[str] | None:
        """The exact values a filter field stands for: itself, or those its prefix starts."""
        if value is None:
            return None
        value = value.strip()
        if not value.endswith(PREFIX):
            return frozenset({value})
        found = self._prefix_values(column, value.rstrip(PREFIX))
        _check_breadth(found, value, _PLURAL[column])
        return found

    @_pooled
    def _prefix_values(self, column: str, prefix: str) -> frozenset[str]:
        """Distinct values of ``column`` starting with ``prefix``: one index seek each.

        Stops after :data:`MAX_PREFIX_VALUES` + 1 (the caller refuses so broad a prefix).
        """
        if column not in _PREFIX_SEEKS:
            raise ValueError(f"internal: no prefix search on {column!r}")
        cached = self._prefixes.get((column, prefix))
        if cached is not None:
            return cached
        low, high = prefix_bounds(prefix)
        conn = self._conn()
        found: list[str] = []
        first_sql, next_sql = _PREFIX_SEEKS[column]
        row = conn.execute(first_sql, (low, high)).fetchone()
        while row is not None and len(found) <= MAX_PREFIX_VALUES:
            found.append(row[0])
            row = conn.execute(next_sql, (row[0], high)).fetchone()
        result = frozenset(found)
        self._prefixes[(column, prefix)] = result
        return result

    @_pooled
    def known_values(self, column: str, limit: int = 5_000) -> list[str]:
        """Up to ``limit`` distinct ``user_id``/``task_id``/``agent_id``/``ip`` values, sorted
        (the filter fields' completion): a skip-scan of the column's index, one seek each."""
        if column not in _PREFIX_SEEKS:
            raise ValueError(f"internal: no value listing of {column!r}")
        conn = self._conn()
        next_sql = _PREFIX_SEEKS[column][1]
        found: list[str] = []
        row = conn.execute(next_sql, ("", "\U0010ffff\U0010ffff")).fetchone()
        while row is not None and len(found) < limit:
            found.append(row[0])
            row = conn.execute(next_sql, (row[0], "\U0010ffff\U0010ffff")).fetchone()
        return found

    @_pooled
    def span(self, f: EventFilter) -> tuple[int, int] | None:
        """The time of the first and the last event matching ``f`` (None: nothing matches)."""
        first = self.page(f, "ts", False, None, 1)
        last = self.page(f, "ts", True, None, 1)
        if not first or not last:
            return None
        return first[0].ts, last[0].ts

    @_pooled
    def bucket_counts(self, f: EventFilter, start_ms: int, width_ms: int, n: int) -> Buckets:
        """How many events match ``f`` in each of ``n`` buckets of ``width_ms`` from
        ``start_ms``, with the failures and denials among them.

        Read from indexes only: one ``COUNT`` per bucket over the driving ``(column, ts, idx)``
        index range (every other condition a probe, as for a page), for all verdicts and again
        restricted to failures and to denials (then the verdict index drives or is probed). No
        table row is read, unless the filter has a payload field. Why a count per bucket and
        not one ``GROUP BY (ts - start) / width``: the grouping costs a sorter step per row,
        ~6x the index walk itself (measured at 1M rows: 200 ms against 30 ms). A filter matching
        at most :data:`GROUPED_BUCKETS` rows is grouped in one query all the same: then the
        statements per bucket would cost more than the grouping.
        """
        if width_ms <= 0 or n <= 0:
            raise ValueError(f"buckets need a positive width and number, got {width_ms}, {n}")
        end_ms = start_ms + width_ms * n
        zeros = (0,) * n
        r = self._resolve(f)
        since = start_ms if r.since_ms is None else max(r.since_ms, start_ms)
        until = end_ms if r.until_ms is None else min(r.until_ms, end_ms)
        if r.impossible or since >= until:
            return Buckets(start_ms, width_ms, zeros, zeros, zeros)
        r = replace(r, since_ms=since, until_ms=until)
        conn = self._conn()

        def counts(res: _Resolved) -> tuple[int, ...]:
            res = replace(res, prefer=None)
            res = replace(res, prefer=self._smallest_driver(res))
            if self._capped_count(res, GROUPED_BUCKETS) <= GROUPED_BUCKETS:
                where, params = _driver_union(res)
                grouped = [0] * n
                sql = (
                    "SELECT (e.ts - ?) / ? AS bucket, COUNT(*) FROM entries AS e "
                    f"WHERE {where} GROUP BY bucket"
                )
                for bucket, count in conn.execute(sql, (start_ms, width_ms, *params)):
                    if 0 <= bucket < n:
                        grouped[bucket] += count
                return tuple(grouped)
            found = []
            for i in range(n):
                low = max(start_ms + i * width_ms, since)
                high = min(start_ms + (i + 1) * width_ms, until)
                if low >= high:
                    found.append(0)
                    continue
                # Every driver value in one query; the same SQL text for every bucket (cached).
                where, params = _driver_union(replace(res, since_ms=low, until_ms=high))
                sql = f"SELECT COUNT(*) FROM entries AS e WHERE {where}"
                found.append(int(conn.execute(sql, params).fetchone()[0]))
            return tuple(found)

        total = counts(r)
        by_verdict: dict[str, tuple[int, ...]] = {}
        for verdict in ("failure", "denied"):
            if r.outcome is not None:
                by_verdict[verdict] = total if r.outcome == verdict else zeros
            else:
                by_verdict[verdict] = counts(replace(r, outcome=verdict))
        return Buckets(start_ms, width_ms, total, by_verdict["failure"], by_verdict["denied"])

    @_pooled
    def neighbours(self, idx: int, n: int) -> tuple[int, int]:
        """``(idx_from, idx_until)``: the window holding the ``n`` entries before ``idx``, the
        entry itself and the ``n`` after it, in log order whatever their type (for
        :attr:`EventFilter.idx_from` / ``idx_until``). Two seeks of the primary key; fewer at
        either end of the log."""
        if n < 0:
            raise ValueError(f"the number of neighbours must not be negative, got {n}")
        conn = self._conn()
        low = conn.execute(
            "SELECT min(idx) FROM (SELECT idx FROM entries WHERE idx < ? ORDER BY idx DESC "
            "LIMIT ?)",
            (idx, n),
        ).fetchone()[0]
        high = conn.execute(
            "SELECT max(idx) FROM (SELECT idx FROM entries WHERE idx > ? ORDER BY idx LIMIT ?)",
            (idx, n),
        ).fetchone()[0]
        return (idx if low is None else int(low)), (idx if high is None else int(high)) + 1

    def values_starting(self, column: str, prefix: str, limit: int = 50) -> list[str]:
        """Up to ``limit`` distinct ``task_id``/``agent_id``/``ip`` values starting with
        ``prefix``, sorted (completion for the filter fields; index seeks, no scan)."""
        return sorted(self._prefix_values(column, prefix))[:limit]

    def _smallest_driver(self, r: _Resolved) -> str | None:
        """Of several equalities, the one matching fewest rows (capped counts on its index).

        Without statistics SQLite cannot know that a user has 30,000 events but only 400
        sign-ins; walking the smaller index and checking the other condition is what keeps a
        combined filter's first page fast.
        """
        names = [n for n in _DRIVERS if _driver_values(r, n) is not None]
        if len(names) < 2 or r.impossible:
            return None
        cached = self._prefer.get(r, "")
        if cached != "":
            return cached
        conn = self._conn()
        sizes: dict[str, int] = {}
        for name in names:
            total = 0
            for cond, params in _driver_values(r, name) or []:
                time_range, time_params = _conditions(
                    replace(
                        r,
                        user_ids=None,
                        categories=frozenset(),
                        types=frozenset(),
                        task_ids=None,
                        agent_ids=None,
                        ips=None,
                        outcome=None,
                        event_field=None,
                    ),
                    driver=None,
                    plus_ts=False,
                )
                where = _join([cond, *time_range])
                sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM entries AS e WHERE {where} LIMIT ?)"
                total += int(
                    conn.execute(sql, (*params, *time_params, DRIVER_PROBE - total)).fetchone()[0]
                )
                if total >= DRIVER_PROBE:
                    break
            sizes[name] = total
        best = min(names, key=lambda n: sizes[n])  # ties keep the priority order
        self._prefer[r] = best
        return best

    @_pooled
    def count(self, f: EventFilter) -> int:
        """How many entries match ``f`` (an index count; run it off the UI thread)."""
        if f.text is not None:
            return sum(self._segment_count(s) for s in self._plan(f, "ts", True).segments)
        r = self._resolve(f)
        if r.impossible:
            return 0
        streams, _ = _time_streams(r)
        conn = self._conn()
        return sum(
            int(
                conn.execute(
                    f"SELECT COUNT(*) FROM entries AS e WHERE {s.where}", s.params
                ).fetchone()[0]
            )
            for s in streams
        )

    @_pooled
    def _capped_count(self, r: _Resolved, cap: int) -> int:
        """``min(count, cap + 1)``, cheaply: stops counting after ``cap + 1`` rows."""
        cached = self._capped.get((r, cap))
        if cached is not None:
            return cached
        streams, _ = _time_streams(r)
        conn = self._conn()
        total = 0
        for s in streams:
            sql = f"SELECT COUNT(*) FROM (SELECT 1 FROM entries AS e WHERE {s.where} LIMIT ?)"
            total += int(conn.execute(sql, (*s.params, cap + 1 - total)).fetchone()[0])
            if total > cap:
                break
        self._capped[(r, cap)] = total
        return total

    @_pooled
    def _idx_bounds(self, since_ms: int | None, until_ms: int | None) -> tuple[int, int]:
        """``[lo, hi)``: the indexes of the entries with ``since_ms <= ts < until_ms``.

        Exact because a timestamp never decreases with the index (architecture.md §3); two seeks in
        the time index.
        """
        conn = self._conn()

        def first_at(ts: int | None, default: int) -> int:
            if ts is None:
                return default
            row = conn.execute(
                "SELECT idx FROM entries WHERE ts >= ? ORDER BY ts, idx LIMIT 1", (ts,)
            ).fetchone()
            return int(row[0]) if row is not None else 2**62

        return first_at(since_ms, -1), first_at(until_ms, 2**62)

    # -- distinct values (skip-scans of an index: one seek per value) ---------------------------

    @_pooled
    def _types_present(self) -> list[tuple[str, str | None]]:
        found = self._type_categories
        if found is None:
            conn = self._conn()
            found = []
            last = ""
            while True:
                row = conn.execute(
                    "SELECT type, category FROM entries WHERE type > ? ORDER BY type LIMIT 1",
                    (last,),
                ).fetchone()
                if row is None:
                    break
                found.append((row[0], row[1]))
                last = row[0]
            self._type_categories = found
        return found

    @_pooled
    def _user_ids_present(self) -> list[str | None]:
        found = self._user_ids
        if found is None:
            conn = self._conn()
            found = []
            if conn.execute("SELECT 1 FROM entries WHERE user_id IS NULL LIMIT 1").fetchone():
                found.append(None)
            last = ""
            while True:
                row = conn.execute(
                    "SELECT user_id FROM entries WHERE user_id > ? ORDER BY user_id LIMIT 1",
                    (last,),
                ).fetchone()
                if row is None:
                    break
                found.append(row[0])
                last = row[0]
            self._user_ids = found
        return found

    # -- plans ----------------------------------------------------------------------------------

    @_pooled
    def _plan(self, f: EventFilter, sort: str, descending: bool) -> _Plan:
        if sort not in SORT_COLUMNS:
            raise ValueError(f"cannot sort by {sort!r}; expected one of {', '.join(SORT_COLUMNS)}")
        cache_key = (f, sort, descending)
        plan = self._plans.get(cache_key)
        if plan is None and f.text is not None:
            plan = self._text_plan(f, sort, descending)
            self._plans[cache_key] = plan
        if plan is None:
            plan = self._build_plan(self._resolve(f), sort, descending)
            self._plans[cache_key] = plan
        return plan

    def _build_plan(self, r: _Resolved, sort: str, descending: bool) -> _Plan:
        if r.impossible:
            return _Plan((), empty=True)
        if sort in ("ts", "idx"):
            streams, offset = _time_streams(r)
            if len(streams) > MAX_MERGED_STREAMS:
                # A prefix stands for many values: merging one stream per value would read a
                # page per value. Few rows: SQLite reads them by the IN list and sorts them;
                # many: walk the time index, probing the condition (dense, so soon found).
                if self._capped_count(r, SMALL_RESULT) > SMALL_RESULT:
                    where, params = _conditions(r, driver=None, plus_ts=False)
                    offset = _Stream(_join(where), tuple(params), ("e.ts", "e.idx"), (1, 2))
                else:
                    offset = offset._replace(late_rows=True)
                return _Plan((_Segment(_ALL, (offset,), offset),))
            return _Plan((_Segment(_ALL, tuple(streams), offset),))
        pinned = self._pinned_segments(r, sort)
        if pinned is not None:
            return _Plan(tuple(reversed(pinned)) if descending else tuple(pinned))
        narrowed = _driver_of(r)[0] is not None or r.since_ms is not None or r.until_ms is not None
        if narrowed and self._capped_count(r, SMALL_RESULT) <= SMALL_RESULT:
            return _Plan((self._small_segment(r, sort),))
        segments = self._walk_segments(r, sort)
        return _Plan(tuple(reversed(segments)) if descending else tuple(segments))

    def _text_plan(self, f: EventFilter, sort: str, descending: bool) -> _Plan:
        """A free-text search combined with the rest of the filter.

        In time (= log) order the FTS5 index drives: its hits come in rowid order, a keyset page
        is a rowid range (the time range too, as an idx range), and each hit's row is tested
        against the other conditions. Sorted by another column, the hits are found the same way
        and SQLite sorts them (as for a narrow filter).
        """
        query = search.SearchQuery.parse(f.text or "")
        r = self._resolve(replace(f, text=None))
        if r.impossible:
            return _Plan((), empty=True)
        lo, hi = self._idx_bounds(r.since_ms, r.until_ms)
        rest, params = _conditions(
            replace(r, since_ms=None, until_ms=None), driver=None, plus_ts=False, probe=False
        )
        if sort in ("ts", "idx"):
            where = _join([f"s.{search.TABLE} MATCH ?", "s.rowid >= ?", "s.rowid < ?", *rest])
            stream = _Stream(
                where, (query.fts(), lo, hi, *params), ("s.rowid",), (2,), source=_TEXT_SOURCE
            )
            return _Plan((_Segment(_ALL, (stream,), stream),))
        hits = (
            f"e.idx IN (SELECT rowid FROM {search.TABLE} WHERE {search.TABLE} MATCH ? "
            "AND rowid >= ? AND rowid < ?)"
        )
        where = _join([hits, *rest])
        if sort == "user":
            lead = "coalesce(u.email, e.user_id, '')"
        else:
            lead = f"coalesce(e.{_COLUMN_OF_SORT[sort]}, '')"
        stream = _Stream(
            where,
            (query.fts(), lo, hi, *params),
            (lead, "e.ts", "e.idx"),
            (0, 1, 2),
            sort == "user",
            "",
        )
        return _Plan((_Segment(_ALL, (stream,), stream),))

    @_pooled
    def _rechecked(self, f: EventFilter, rows: list[Row]) -> list[Row]:
        """``rows`` whose own stored bytes match ``f.text`` (see :mod:`auditlens.mirror.search`:
        a damaged index may miss an event but never shows one that does not match)."""
        if f.text is None or not rows:
            return rows
        query = search.SearchQuery.parse(f.text)
        ids = [row.idx for row in rows]
        raws = dict(
            self._conn().execute(
                f"SELECT idx, raw FROM entries WHERE idx IN ({_placeholders(len(ids))})", ids
            )
        )
        return [row for row in rows if row.idx in raws and search.matches(query, raws[row.idx])]

    def _value_segment(self, lead: object, rs: Sequence[_Resolved]) -> _Segment:
        """Rows of every ``r`` in ``rs`` (disjoint), merged in time order, under one sort value."""
        streams: list[_Stream] = []
        offsets: list[_Stream] = []
        for r in rs:
            s, o = _time_streams(r)
            streams.extend(s)
            offsets.append(o)
        if len(offsets) == 1:
            offset = offsets[0]
        else:  # several user ids share one email: one query over all of them
            merged = replace(rs[0], user_ids=frozenset().union(*(r.user_ids or () for r in rs)))
            offset = _time_streams(merged)[1]
        return _Segment(lead, tuple(streams), offset)

    def _pinned_segments(self, r: _Resolved, sort: str) -> list[_Segment] | None:
        """Segments when the filter fixes the sort column's values (ascending), else None."""
        if sort == "type" and (r.categories or r.types):
            values = sorted(
                {t for t, c in self._types_present() if c in r.categories} | set(r.types)
            )
            return [
                self._value_segment(t, [replace(r, categories=frozenset(), types=frozenset({t}))])
                for t in values
            ]
        if sort == "outcome" and r.outcome is not None:
            return [self._value_segment(r.outcome, [r])]
        if sort == "agent" and r.agent_ids is not None:
            return [
                self._value_segment(a, [replace(r, agent_ids=frozenset({a}))])
                for a in sorted(r.agent_ids)
            ]
        if sort == "task" and r.task_ids is not None:
            return [
                self._value_segment(t, [replace(r, task_ids=frozenset({t}))])
                for t in sorted(r.task_ids)
            ]
        if sort == "user" and r.user_ids is not None:
            return self._user_segments(r, [u for u in self._user_ids_present() if u in r.user_ids])
        return None

    def _user_segments(self, r: _Resolved, ids: Iterable[str | None]) -> list[_Segment]:
        groups: dict[str, list[str | None]] = {}
        for user_id in ids:
            groups.setdefault(self._email_key(user_id), []).append(user_id)
        segments = []
        for key in sorted(groups):
            parts: list[_Resolved] = []
            for user_id in groups[key]:
                if user_id is None:
                    parts.append(replace(r, user_ids=None))
                else:
                    parts.append(replace(r, user_ids=frozenset({user_id})))
            segments.append(self._null_user_aware_segment(key, parts, groups[key]))
        return segments

    def _null_user_aware_segment(
        self, key: str, parts: list[_Resolved], ids: list[str | None]
    ) -> _Segment:
        """A user segment; the "no user" part is ``user_id IS NULL`` on the user index."""
        streams: list[_Stream] = []
        for part, user_id in zip(parts, ids, strict=True):
            if user_id is not None:
                streams.extend(_time_streams(part)[0])
                continue
            rest, params = _conditions(part, driver="user", plus_ts=False)
            streams.append(
                _Stream(
                    _join(["e.user_id IS NULL", *rest]), tuple(params), ("e.ts", "e.idx"), (1, 2)
                )
            )
        if len(streams) == 1:
            return _Segment(key, tuple(streams), streams[0])
        where = " OR ".join(f"({s.where})" for s in streams)
        params_all: tuple[object, ...] = tuple(p for s in streams for p in s.params)
        return _Segment(key, tuple(streams), _Stream(where, params_all, ("e.ts", "e.idx"), (1, 2)))

    def _small_segment(self, r: _Resolved, sort: str) -> _Segment:
        """A narrow filter: the driver index finds the rows, SQLite sorts just those."""
        where, all_params = _driver_union(r)
        if sort == "user":
            lead = "coalesce(u.email, e.user_id, '')"
            stream = _Stream(where, all_params, (lead, "e.ts", "e.idx"), (0, 1, 2), True, "")
        else:
            lead = f"coalesce(e.{_COLUMN_OF_SORT[sort]}, '')"
            stream = _Stream(where, all_params, (lead, "e.ts", "e.idx"), (0, 1, 2), False, "")
        return _Segment(_ALL, (stream,), stream)

    def _walk_segments(self, r: _Resolved, sort: str) -> list[_Segment]:
        """A broad filter: walk the sort column's index (NULL segment first), checking ``r``."""
        if sort == "user":
            return self._user_segments(r, self._user_ids_present())
        column = _COLUMN_OF_SORT[sort]
        if column == "task_id" and (r.since_ms is not None or r.until_ms is not None):
            # The task index is (task_id, idx): a time test would read every row it meets from
            # the table. ts never decreases with idx (architecture.md §3): an idx range.
            rest, params = _conditions(
                replace(r, since_ms=None, until_ms=None), driver=None, plus_ts=True
            )
            lo, hi = self._idx_bounds(r.since_ms, r.until_ms)
            rest = ["+e.idx >= ?", "+e.idx < ?", *rest]
            params = [lo, hi, *params]
        else:
            rest, params = _conditions(r, driver=None, plus_ts=True)
        if column == "task_id":  # its index is (task_id, idx): no ts inside it
            null_order: tuple[str, ...] = ("e.idx",)
            null_pos: tuple[int, ...] = (2,)
            order: tuple[str, ...] = ("e.task_id", "e.idx")
            pos: tuple[int, ...] = (0, 2)
        else:
            null_order, null_pos = ("e.ts", "e.idx"), (1, 2)
            order, pos = (f"e.{column}", "e.ts", "e.idx"), (0, 1, 2)
        null = _Stream(_join([f"e.{column} IS NULL", *rest]), tuple(params), null_order, null_pos)
        values = _Stream(_join([f"e.{column} IS NOT NULL", *rest]), tuple(params), order, pos)
        return [_Segment(None, (null,), null), _Segment(_NON_NULL, (values,), values)]

    # -- pages ----------------------------------------------------------------------------------

    def key_of(self, row: Row, sort: str) -> Key:
        """Where ``row`` sits in ``sort`` order (pass it as ``after`` for the next page)."""
        lead: object
        if sort == "user":
            lead = self._email_key(row.user_id)
        elif sort in _COLUMN_OF_SORT:
            lead = getattr(row, _COLUMN_OF_SORT[sort])
        else:
            lead = None
        return (lead, row.ts, row.idx)

    @_pooled
    def _run(
        self, stream: _Stream, after: Key | None, descending: bool, limit: int, offset: int
    ) -> list[Row]:
        where, params = stream.where, list(stream.params)
        if after is not None:
            values = [after[i] for i in stream.key_pos]
            if stream.key_pos[0] == 0 and values[0] is None:
                values[0] = stream.none_as
            op = "<" if descending else ">"
            if len(values) == 1:
                where = f"{where} AND {stream.order[0]} {op} ?"
            else:
                where = (
                    f"{where} AND ({', '.join(stream.order)}) {op} ({_placeholders(len(values))})"
                )
            params.extend(values)
        sql = _select(stream, where, descending, offset=bool(offset))
        params.append(limit)
        if offset:
            params.append(offset)
        return list(map(Row._make, self._conn().execute(sql, params)))

    def _segment_rows(
        self, segment: _Segment, after: Key | None, descending: bool, limit: int
    ) -> list[Row]:
        if len(segment.streams) == 1:
            return self._run(segment.streams[0], after, descending, limit, 0)
        runs: list[Iterator[Row]] = [
            iter(self._run(s, after, descending, limit, 0)) for s in segment.streams
        ]
        merged = heapq.merge(*runs, key=lambda row: (row.ts, row.idx), reverse=descending)
        return list(islice(merged, limit))

    @_pooled
    def page(
        self,
        f: EventFilter,
        sort: SortColumn = "ts",
        descending: bool = True,
        after: Key | None = None,
        limit: int = 200,
    ) -> list[Row]:
        """Up to ``limit`` rows matching ``f`` in ``sort`` order, after the row keyed ``after``."""
        if limit <= 0:
            return []
        if f.text is not None:  # every hit re-checked against its bytes; refill what fails
            out: list[Row] = []
            while len(out) < limit:
                wanted = limit - len(out)
                found = self._unchecked_page(f, sort, descending, after, wanted)
                out.extend(self._rechecked(f, found))
                if len(found) < wanted:
                    break
                after = self.key_of(found[-1], sort)
            return out
        return self._unchecked_page(f, sort, descending, after, limit)

    def _unchecked_page(
        self, f: EventFilter, sort: str, descending: bool, after: Key | None, limit: int
    ) -> list[Row]:
        plan = self._plan(f, sort, descending)
        out: list[Row] = []
        for segment in plan.segments:
            pos = -1 if after is None else _position(segment, after, descending)
            if pos == 1:
                continue
            out.extend(
                self._segment_rows(
                    segment, after if pos == 0 else None, descending, limit - len(out)
                )
            )
            if len(out) >= limit:
                break
        return out

    def page_before(
        self,
        f: EventFilter,
        sort: SortColumn = "ts",
        descending: bool = True,
        before: Key | None = None,
        limit: int = 200,
    ) -> list[Row]:
        """Up to ``limit`` rows just before the row keyed ``before``, in ``sort`` order."""
        rows = self.page(f, sort, not descending, before, limit)
        rows.reverse()
        return rows

    @_pooled
    def _segment_count(self, segment: _Segment) -> int:
        conn = self._conn()
        total = 0
        for s in segment.streams:
            join = _USER_JOIN if s.join_users else ""
            sql = f"SELECT COUNT(*) FROM {s.source}{join} WHERE {s.where}"
            total += int(conn.execute(sql, s.params).fetchone()[0])
        return total

    @_pooled
    def page_at(
        self,
        f: EventFilter,
        sort: SortColumn = "ts",
        descending: bool = True,
        offset: int = 0,
        limit: int = 200,
        *,
        total: int | None = None,
    ) -> list[Row]:
        """Rows ``offset .. offset+limit-1`` in ``sort`` order (a scrollbar jump).

        With ``total`` (the count) a position in the second half is read from the other end,
        so the cost is at most half a walk of the index.
        """
        if offset < 0 or limit <= 0:
            return []
        if total is not None and offset > total // 2:
            start = max(total - offset - limit, 0)
            count = min(limit, total - offset)
            if count <= 0:
                return []
            rows = self._rows_at(f, sort, not descending, start, count)
            rows.reverse()
            return self._rechecked(f, rows)
        return self._rechecked(f, self._rows_at(f, sort, descending, offset, limit))

    def _rows_at(
        self, f: EventFilter, sort: str, descending: bool, offset: int, limit: int
    ) -> list[Row]:
        plan = self._plan(f, sort, descending)
        out: list[Row] = []
        many = len(plan.segments) > 1
        for segment in plan.segments:
            if many and offset:
                n = self._segment_count(segment)
                if offset >= n:
                    offset -= n
                    continue
            if offset == 0 and len(segment.streams) > 1:
                rows = self._segment_rows(segment, None, descending, limit - len(out))
            else:
                rows = self._run(segment.offset_stream, None, descending, limit - len(out), offset)
            out.extend(rows)
            offset = 0
            if len(out) >= limit:
                break
        return out

    @_pooled
    def explain(
        self, f: EventFilter, sort: SortColumn = "ts", descending: bool = True
    ) -> list[str]:
        """The query plan lines of every query a first page of ``f`` may run (for tests)."""
        plan = self._plan(f, sort, descending)
        lines: list[str] = []
        for segment in plan.segments:
            for s in segment.streams:
                sql = "EXPLAIN QUERY PLAN " + _select(s, s.where, descending)
                rows = self._conn().execute(sql, (*s.params, 200))
                lines.extend(str(row[3]) for row in rows)
        return lines

    # -- single entries and status --------------------------------------------------------------

    @_pooled
    def event(self, idx: int) -> EventRecord | None:
        """The entry at ``idx`` with its exact bytes, leaf hash and covering checkpoint."""
        conn = self._conn()
        row = conn.execute("SELECT idx, id, ts, raw FROM entries WHERE idx = ?", (idx,)).fetchone()
        if row is None:
            return None
        raw = bytes(row[3])
        cp = conn.execute(
            "SELECT size, verified_at FROM checkpoints WHERE size > ? ORDER BY size LIMIT 1",
            (idx,),
        ).fetchone()
        return EventRecord(
            idx=row[0],
            id=row[1],
            ts=row[2],
            raw=raw,
            leaf_hash=leaf_hash(raw),
            checkpoint_size=cp[0] if cp else None,
            checkpoint_verified_at=cp[1] if cp else None,
        )

    @_pooled
    def latest_checkpoint(self) -> CheckpointInfo | None:
        """The largest trusted checkpoint (the one the mirror is verified up to)."""
        row = (
            self._conn()
            .execute(
                "SELECT size, note, root, verified_at FROM checkpoints ORDER BY size DESC LIMIT 1"
            )
            .fetchone()
        )
        if row is None:
            return None
        return CheckpointInfo(row[0], row[1], bytes(row[2]) if row[2] is not None else None, row[3])

    @_pooled
    def meta(self) -> dict[str, str]:
        """The mirror's ``meta`` table (server URL, origin, vkey, organization, ...)."""
        return {k: v for k, v in self._conn().execute("SELECT key, value FROM meta")}

    @_pooled
    def status(self) -> MirrorStatus:
        """Entries held, the verified checkpoint, the origin and the last sync time."""
        conn = self._conn()
        entries = int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
        meta = self.meta()
        last_sync = meta.get("last_sync_at")
        return MirrorStatus(
            entries=entries,
            checkpoint=self.latest_checkpoint(),
            origin=meta.get("origin"),
            last_sync_at=int(last_sync) if last_sync and last_sync.isdigit() else None,
        )
