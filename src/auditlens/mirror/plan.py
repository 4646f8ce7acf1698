"""The query planner: a resolved filter and a sort -> the SQL that finds a page, in order.

Pure: it builds SQL text and parameters and reads nothing itself. The few facts a plan depends
on (how many rows a filter matches up to a cap, which types and user ids the log holds, a
user's email, where a time range's tasks start in the task index) come from a :class:`Facts`
the reader supplies, so the tests can check plans against a stub without a database.

Why stdlib ``sqlite3`` SQL text and not SQLAlchemy Core (the schema itself is SQLAlchemy, in
:mod:`auditlens.mirror.schema`): speed is the same (docs/benchmarks.md: 0.60 vs 0.56 ms), but the
plans live on SQLite-specific controls that are clearer in SQL text than through an expression
builder: row-value keyset seeks ``(type, ts, idx) > (?, ?, ?)``, the unary ``+`` that keeps the
planner off an index (so the index *we* chose drives the order and no query sorts a whole range
in a temp B-tree), and ``EXPLAIN QUERY PLAN`` checks in the tests. The column names are the
schema's; a test compares them with :mod:`auditlens.mirror.schema`.

How a page is found (no OFFSET over large ranges, no sort of a whole range):

- Every sort key ends in ``(ts, idx)``: the Time and Index sorts are one order, because the
  server never lets a timestamp decrease with the index (docs/architecture.md §3), and every
  filter index is ``(column, ts, idx)``. A page is "the next ``limit`` rows after this key".
- A filter's most selective equality (task, user, agent, IP, event types, outcome, in that order
  unless the reader measured another one smaller) *drives* the query through its own
  ``(column, ts, idx)`` index (which is smallest: the mirror's count of each value, or a count
  inside the time range); each other condition is an ``EXISTS`` probe: one seek in that
  condition's own index by the ``(value, ts, idx)`` the driving index already holds
  (:func:`index_probe`). So a row the filter rejects is never read from the table, only the
  rows shown are; the probe cannot pick another index to drive. A set of values (several types,
  a category and a type, an email shared by two user ids) becomes one index seek per value,
  merged in Python by ``(ts, idx)``. Event types together with an outcome drive as one: a seek
  per type in the ``(type, verdict, ts, idx)`` index (:func:`typed_outcome`).
- Sorting by another column walks that column's index (NULLs first ascending, as SQLite orders
  them), probing the filter on the entries it meets. When the filter is narrow (at most
  :data:`SMALL_RESULT` matching rows), the walk might meet its matches only far along the index,
  so the driver index finds the rows and SQLite sorts only those. A time range on a walk is
  tested off the walked index entry (every index holds ``ts``), so a walk reads no table row
  but the shown ones. When the filter pins the sort column itself (sort by type while filtering
  two types), the page is each value's rows in turn, each driven as above; so is a broad
  filter with an outcome sorted by type, each type's rows of that outcome one range of the
  ``(type, verdict, ts, idx)`` index (a type without any: one seek). The user column
  sorts by email, which lives in ``users``: the distinct user ids of the log are walked in
  email order.
- A jump to a row position (a scrollbar drag) uses ``OFFSET`` along the same index order, from
  whichever end is nearer; whole segments (one type, one user) are skipped by counting them.
  Into a walk, a filter of at most :data:`JUMP_SORT_CAP` rows is instead found through its
  driver and sorted by SQLite (:func:`jump_plan`), and a walk's own segment is never counted:
  it is the count less the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol

from auditlens.mirror import search
from auditlens.mirror.filter import Key

#: A filter matching at most this many rows is sorted by SQLite after its driver index found
#: them (a temp B-tree of this size takes a few ms); a broader one walks the sort index.
SMALL_RESULT = 20_000

#: A scrollbar jump into a filter of at most this many rows that is sorted by walking another
#: column's index sorts the filter's own rows instead (~2 us each: ~1 s at this size, warm):
#: the walk probes every index entry it meets, matching or not, ``OFFSET`` of them and more
#: (a jump into ``type=task.failed``, 35,000 of 5M rows, sorted by task: 2.9 s, sorted 0.08 s;
#: 272,000 agent failures by user, to the middle: 2.3 s, sorted 0.6 s; 1.2M task events by
#: user: walked 1.3 s, sorted 1.9 s).
JUMP_SORT_CAP = 500_000

#: A time range sorted by task is sorted by SQLite up to this many rows (a third of a second
#: of row reads): the task index walk tests the range on every entry it meets, and how far it
#: walks before the range's tasks depends on their ids ("last 7 days" by task ascending walked
#: the 2.5M task entries of a 5M-event log before its first row).
SMALL_TASKS_IN_RANGE = 100_000

#: A time range sorted by task starts its walk of the task index at the range's least task id
#: (ascending; its greatest descending), read off the ``(ts, idx, task_id)`` index
#: (:data:`TIME_TASK_INDEX`), when the entries that walk would skip (those before the range,
#: ascending) outnumber the range's own by this factor: a scan of the range costs about that
#: much more per entry than a step of the walk.
TASK_BOUND_RATIO = 2
#: What the walk's bound is when it is not worth scanning for: below (``-inf``) or above (a
#: BLOB sorts after every text) every task id. A range without a task: the other one.
NO_LOWER_BOUND: object = float("-inf")
NO_UPPER_BOUND: object = b"\xff" * 16
TIME_TASK_INDEX = "ix_entries_ts_task"

#: A time range sorted by a column of at most this many values (types, agents) is one segment
#: per value (:mod:`auditlens.mirror.sorted_plan`); a column with more is walked.
SPREAD_VALUES = 64

COLUMN_OF_SORT: dict[str, str] = {
    "type": "type",
    "outcome": "verdict",
    "agent": "agent_id",
    "task": "task_id",
}
COLUMNS = (
    "SELECT e.idx, e.id, e.ts, e.type, e.category, e.user_id, e.task_id, e.agent_id, "
    "e.outcome, e.summary, e.verdict, e.ip, e.user_agent"
)
SELECT = f"{COLUMNS} FROM entries AS e"
ENTRIES = "entries AS e"
#: A free-text search drives from its FTS5 index, in rowid (= idx = log) order; CROSS JOIN
#: keeps SQLite from reordering the join.
TEXT_SOURCE = f"{search.TABLE} AS s CROSS JOIN entries AS e ON e.idx = s.rowid"
USER_JOIN = " LEFT JOIN users AS u ON u.id = e.user_id"


class Facts(Protocol):
    """What a plan needs to know about the mirror (the reader answers from the database)."""

    def capped_count(self, r: Resolved, cap: int) -> int:
        """``min(rows matching r, cap + 1)``."""
        ...

    def types_present(self) -> list[tuple[str, str | None]]:
        """Every ``(type, category)`` in the log, by type."""
        ...

    def user_ids_present(self) -> list[str | None]:
        """Every user id in the log (None first when some entry has none)."""
        ...

    def email_key(self, user_id: str | None) -> str:
        """What the User column sorts by: the email, else the raw id, else ``""``."""
        ...

    def smallest_driver(self, r: Resolved) -> str | None:
        """Of ``r``'s equalities, the one matching fewest rows (None: only one, or none)."""
        ...

    def matching(self, r: Resolved, cap: int) -> Sequence[int] | None:
        """The ``idx`` of the rows matching ``r`` if there are at most ``cap``, else None."""
        ...

    def values_present(self, column: str, limit: int) -> list[str]:
        """Up to ``limit`` distinct non-NULL values of ``column`` in the log, sorted."""
        ...

    def text_hits(self, fts: str, idx_range: tuple[int, int]) -> int:
        """How many entries of ``idx_range`` the full-text index finds for ``fts``."""
        ...

    def task_bound(self, since_ms: int | None, until_ms: int | None, greatest: bool) -> object:
        """The least (or ``greatest``) task id of ``[since_ms, until_ms)``: where a walk of the
        task index in that direction starts. :data:`NO_LOWER_BOUND` (``NO_UPPER_BOUND``) when
        the range is not worth scanning (:data:`TASK_BOUND_RATIO`); the other one when the
        range holds no task."""
        ...


class Deferred:
    """A parameter worked out when its query first runs, not when the plan is made: a fact
    that costs a scan (:meth:`Facts.task_bound`) and that a first page may never need (the
    segment before it can fill the page)."""

    def __init__(self, value: Callable[[], object]) -> None:
        self.value = value


def bound(params: Iterable[object]) -> tuple[object, ...]:
    """``params`` with every :class:`Deferred` one worked out (what SQLite is given)."""
    return tuple(p.value() if isinstance(p, Deferred) else p for p in params)


class Stream(NamedTuple):
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
    source: str = ENTRIES  # the FROM clause (a free-text search joins its index)


ALL = object()  # a segment that holds every row of the plan (one stream, any sort value)
NON_NULL = object()  # a segment that holds every non-NULL sort value (one direct stream)


class Segment(NamedTuple):
    """Rows sharing one sort value (or all non-NULL values, or all rows), in output order."""

    lead: object
    streams: tuple[Stream, ...]
    offset_stream: Stream  # one query over the whole segment in order, for OFFSET jumps


class Plan(NamedTuple):
    segments: tuple[Segment, ...]
    empty: bool = False
    #: Set when the plan walks an index other than the filter's own, probing the filter on
    #: every entry (the sort column's, or each type's range of an outcome): the same rows in
    #: the same order, found through the filter's driver (or a search's hits) and sorted by
    #: SQLite. A jump into a walk of few enough rows takes it (:func:`jump_plan`).
    jump: Segment | None = None


def jump_plan(plan: Plan, total: int) -> Plan:
    """The plan of a scrollbar jump to a row position in ``plan`` (``total`` rows in all).

    A walk meets the filter's rows only as often as they are in the walked index: ``OFFSET`` k
    skips k matches and probes every entry in between, so a jump into a narrow filter walks
    most of the index (``type=task.failed`` by task, 35,000 of 5M rows: 2.9 s). Up to
    :data:`JUMP_SORT_CAP` rows the plan's :attr:`Plan.jump` segment is read instead: the
    filter's rows sorted by SQLite in the walk's order (NULL first, then by value, time,
    index), so the pages read on from the jumped-to rows by the walk join them exactly.
    """
    if plan.jump is None or total > JUMP_SORT_CAP:
        return plan
    return Plan((plan.jump,))


@dataclass(frozen=True)
class Resolved:
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
    #: ``(column, values)`` no row may hold (:attr:`EventFilter.exclude`, resolved).
    excluded: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Every ``(type, category)`` of the log when ``categories`` is set (the resolver's
    #: :meth:`~auditlens.mirror.plan.Facts.types_present`): a category and an outcome are then
    #: one seek per type of the category in the ``(type, verdict, ts, idx)`` index.
    type_catalog: tuple[tuple[str, str | None], ...] = ()

    @property
    def impossible(self) -> bool:
        sets = (self.user_ids, self.task_ids, self.agent_ids, self.ips)
        return any(s is not None and not s for s in sets)

    @property
    def time_only(self) -> bool:
        """True when ``r`` has no condition but its time range (every event of a period)."""
        sets = (self.user_ids, self.task_ids, self.agent_ids, self.ips)
        return (
            all(s is None for s in sets)
            and not (self.categories or self.types or self.excluded)
            and self.outcome is None
            and self.event_field is None
            and self.idx_from is None
            and self.idx_until is None
        )


#: More driver values than this (a broad prefix) are not merged stream by stream.
MAX_MERGED_STREAMS = 8


def placeholders(n: int) -> str:
    return ", ".join("?" * n)


#: The index that checks each filter column without reading the table (see :func:`probe`).
#: Names and leading columns are :data:`auditlens.mirror.schema.ENTRY_INDEXES`' (a test checks).
PROBE_INDEXES: dict[str, str] = {
    "task_id": "ix_entries_task_ts",
    "user_id": "ix_entries_user_ts",
    "agent_id": "ix_entries_agent_ts",
    "type": "ix_entries_type_ts",
    "category": "ix_entries_category_ts",
    "verdict": "ix_entries_verdict_ts",
    "ip": "ix_entries_ip_ts",
}


def index_probe(column: str, n: int) -> str:
    """``column`` holds one of ``n`` values, checked by one seek in that column's index.

    Why not ``+e.column IN (...)``: that reads the row from the table, and a walk along the sort
    or driver index meets many rows the filter rejects (77,000 task.started rows before the
    first failure when failures are sorted by type descending). A table read is a random 4 KiB
    page (~1 µs warm, ~0.1 ms from disk); this seek, keyed by the ``(ts, idx)`` the walking
    index already holds, stays inside a small hot index (~0.3 µs, measured at 1M rows), so the
    table is read only for the rows that are shown.
    """
    match = f"c.{column} = ?" if n == 1 else f"c.{column} IN ({placeholders(n)})"
    return (
        f"EXISTS (SELECT 1 FROM entries AS c INDEXED BY {PROBE_INDEXES[column]} "
        f"WHERE {match} AND c.ts = e.ts AND c.idx = e.idx)"
    )


def _range_conditions(r: Resolved, plus_ts: bool) -> tuple[list[str], list[object]]:
    """The time and log-index range and the payload field of ``r``: never an index probe."""
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
    return sql, params


def conditions(
    r: Resolved, *, driver: str | None, plus_ts: bool, probe: bool = True
) -> tuple[list[str], list[object]]:
    """WHERE conditions of ``r`` except the driver's, none of which can pick another index.

    With ``probe`` each equality is an index probe (:func:`index_probe`), else a ``+``-ed column
    test. ``plus_ts`` also keeps the time range off the indexes (when another index drives the
    order; every driving index holds ``ts``, so the test reads no table row).
    """
    sql, params = _range_conditions(r, plus_ts)

    def equal(column: str, values: Sequence[object]) -> None:
        if probe:
            sql.append(index_probe(column, len(values)))
        elif len(values) == 1:
            sql.append(f"+e.{column} = ?")
        else:
            sql.append(f"+e.{column} IN ({placeholders(len(values))})")
        params.extend(values)

    for name, column, values in _id_sets(r):
        if driver != name and values is not None:
            equal(column, sorted(values))
    if driver not in ("types", "type_outcome") and (r.categories or r.types):
        start = len(sql)
        if r.categories:
            equal("category", sorted(r.categories))
        if r.types:
            equal("type", sorted(r.types))
        sql[start:] = ["(" + " OR ".join(sql[start:]) + ")"]
    if driver not in ("outcome", "type_outcome") and r.outcome is not None:
        equal("verdict", [r.outcome])
    for column, excluded in r.excluded:
        sql.append(_exclusion(column, len(excluded), probe))
        params.extend(excluded)
    return sql, params


def _id_sets(r: Resolved) -> tuple[tuple[str, str, frozenset[str] | None], ...]:
    """(driver name, column, resolved values) of the id equalities, in probing order."""
    return (
        ("task", "task_id", r.task_ids),
        ("user", "user_id", r.user_ids),
        ("agent", "agent_id", r.agent_ids),
        ("ip", "ip", r.ips),
    )


def _exclusion(column: str, n: int, probe: bool) -> str:
    if probe:
        return "NOT " + index_probe(column, n)
    # NULL NOT IN (...) is NULL: an event without the field stays
    return f"(+e.{column} IS NULL OR +e.{column} NOT IN ({placeholders(n)}))"


#: Priority when sizes tie. ``type_outcome`` is the event types and the outcome together: one
#: seek per type in the ``(type, verdict, ts, idx)`` index, never more rows than either alone.
DRIVERS = ("task", "user", "agent", "ip", "type_outcome", "types", "outcome")

#: What a type-and-outcome driver seeks (:func:`typed_outcome`).
TYPE_VERDICT = "e.type = ? AND e.verdict = ?"


def typed_outcome(r: Resolved) -> list[str] | None:
    """The exact types of ``r`` (its categories' types included) when it also has an outcome:
    each is one range of the ``(type, verdict, ts, idx)`` index. None when ``r`` lacks either,
    when a category's types are unknown (no catalog), or when they are too many to merge."""
    if r.outcome is None or not (r.categories or r.types):
        return None
    if r.categories and not r.type_catalog:
        return None
    types = set(r.types) | {t for t, c in r.type_catalog if c in r.categories}
    if not types or len(types) > MAX_MERGED_STREAMS:
        return None
    return sorted(types)


def driver_values(r: Resolved, name: str) -> list[tuple[str, tuple[object, ...]]] | None:
    """The (condition, params) per value of equality ``name`` in ``r``, or None if absent."""
    if name == "task" and r.task_ids is not None:
        return [("e.task_id = ?", (t,)) for t in sorted(r.task_ids)]
    if name == "user" and r.user_ids is not None:
        return [("e.user_id = ?", (u,)) for u in sorted(r.user_ids)]
    if name == "agent" and r.agent_ids is not None:
        return [("e.agent_id = ?", (a,)) for a in sorted(r.agent_ids)]
    if name == "ip" and r.ips is not None:
        return [("e.ip = ?", (ip,)) for ip in sorted(r.ips)]
    if name == "type_outcome":
        types = typed_outcome(r)
        return None if types is None else [(TYPE_VERDICT, (t, r.outcome)) for t in types]
    if name == "types" and (r.categories or r.types):
        values: list[tuple[str, tuple[object, ...]]] = [
            ("e.category = ?", (c,)) for c in sorted(r.categories)
        ]
        values.extend(("e.type = ?", (t,)) for t in sorted(r.types))
        return values
    if name == "outcome" and r.outcome is not None:
        return [("e.verdict = ?", (r.outcome,))]
    return None


def driver_of(r: Resolved) -> tuple[str | None, list[tuple[str, tuple[object, ...]]]]:
    """The equality that drives a time-ordered query, as one (condition, params) per value.

    ``r.prefer`` (the smallest candidate, measured by the reader) wins when it applies.
    """
    for name in (r.prefer, *DRIVERS) if r.prefer else DRIVERS:
        values = driver_values(r, name)
        if values is not None:
            return name, values
    return None, [("1", ())]


def join_conditions(conds: Iterable[str]) -> str:
    items = [c for c in conds if c != "1"]
    return " AND ".join(items) if items else "1"


def time_streams(r: Resolved) -> tuple[list[Stream], Stream]:
    """Streams in ``(ts, idx)`` order for ``r`` (one per driver value) and the OFFSET query."""
    driver, values = driver_of(r)
    rest, rest_params = conditions(r, driver=driver, plus_ts=False)
    order = ("e.ts", "e.idx")
    streams = [
        Stream(join_conditions([cond, *rest]), (*params, *rest_params), order, (1, 2))
        for cond, params in values
    ]
    if len(streams) == 1:
        return streams, streams[0]
    # Several driver values: one query with every value (SQLite reads each value's index range
    # and sorts the union; jumps and a prefix of many values use it).
    where, params = driver_union(r)
    return streams, Stream(where, params, order, (1, 2))


def driver_union(r: Resolved) -> tuple[str, tuple[object, ...]]:
    """WHERE of every row of ``r``, found through the driver's index, one range per value.

    The driver's values are one ``OR`` (SQLite reads each value's range of that index); every
    other condition stays a probe, so it cannot pull the plan onto a bigger index (a prefix of a
    few IPs inside the agent category must not walk the whole category).
    """
    driver, values = driver_of(r)
    rest, rest_params = conditions(r, driver=driver, plus_ts=False)
    if len(values) == 1:
        cond, params = values[0]
        return join_conditions([cond, *rest]), (*params, *rest_params)
    if driver == "type_outcome":
        # One OR term per type: SQLite reads each (type, verdict) range of that index ("MULTI-
        # INDEX OR"); "type IN (...) AND verdict = ?" would walk the verdict index instead.
        union = "(" + " OR ".join(f"({cond})" for cond, _ in values) + ")"
        params_all = tuple(p for _, params in values for p in params)
        return join_conditions([union, *rest]), (*params_all, *rest_params)
    by_column: dict[str, list[object]] = {}  # "e.ip = ?" -> its values: one IN per column
    for cond, params in values:
        by_column.setdefault(cond, []).extend(params)
    terms = [
        f"{cond[: -len(' = ?')]} IN ({placeholders(len(vs))})" for cond, vs in by_column.items()
    ]
    union = terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"
    params_all = tuple(v for vs in by_column.values() for v in vs)
    return join_conditions([union, *rest]), (*params_all, *rest_params)


def select_sql(stream: Stream, where: str, descending: bool, offset: bool = False) -> str:
    """The SELECT of ``stream`` with ``where``, ordered, ending in ``LIMIT ?`` (and
    ``OFFSET ?`` with ``offset``): those two are always the last parameters."""
    direction = " DESC" if descending else ""
    order_by = ", ".join(f"{expr}{direction}" for expr in stream.order)
    join = USER_JOIN if stream.join_users else ""
    window = " LIMIT ? OFFSET ?" if offset else " LIMIT ?"
    if stream.late_rows:
        page = f"SELECT e.idx FROM entries AS e{join} WHERE {where} ORDER BY {order_by}{window}"
        return f"{SELECT}{join} WHERE e.idx IN ({page}) ORDER BY {order_by}"
    return f"{COLUMNS} FROM {stream.source}{join} WHERE {where} ORDER BY {order_by}{window}"


def _cmp(a: object, b: object) -> int:
    """Compare two sort values as SQLite does (NULL first, then by value)."""
    if a is None or b is None:
        return (a is not None) - (b is not None)
    greater = bool(a > b)  # type: ignore[operator]
    return 1 if greater else (-1 if bool(a < b) else 0)  # type: ignore[operator]


def position(segment: Segment, key: Key, descending: bool) -> int:
    """-1: ``key`` comes before ``segment`` (take it all); 0: inside it; 1: after (skip it)."""
    if segment.lead is ALL:
        return 0
    if segment.lead is NON_NULL:
        if key[0] is None:  # the NULL segment is first ascending, last descending
            return 1 if descending else -1
        return 0
    c = _cmp(key[0], segment.lead)
    if c == 0:
        return 0
    precedes = c > 0 if descending else c < 0
    return -1 if precedes else 1


def text_plan(r: Resolved, fts: str, idx_range: tuple[int, int], sort: str) -> Plan:
    """A free-text search (``fts``, an FTS5 MATCH expression) combined with the rest of ``r``.

    ``idx_range`` is ``r``'s time range as the equal ``[lo, hi)`` range of indexes. In time (=
    log) order the FTS5 index drives: its hits come in rowid order, a keyset page is a rowid
    range, and each hit's row is tested against the other conditions. Sorted by another column,
    the hits are found the same way and SQLite sorts them (as for a narrow filter; many hits
    walk the sort index instead: :func:`auditlens.mirror.sorted_plan.build_text_plan`).
    """
    if r.impossible:
        return Plan((), empty=True)
    lo, hi = idx_range
    rest, params = conditions(
        replace(r, since_ms=None, until_ms=None), driver=None, plus_ts=False, probe=False
    )
    if sort in ("ts", "idx"):
        where = join_conditions([f"s.{search.TABLE} MATCH ?", "s.rowid >= ?", "s.rowid < ?", *rest])
        stream = Stream(where, (fts, lo, hi, *params), ("s.rowid",), (2,), source=TEXT_SOURCE)
        return Plan((Segment(ALL, (stream,), stream),))
    where, hit_params = text_hits(fts, idx_range)
    stream = sorted_stream(join_conditions([where, *rest]), (*hit_params, *params), sort)
    return Plan((Segment(ALL, (stream,), stream),))


def sorted_stream(where: str, params: tuple[object, ...], sort: str) -> Stream:
    """The rows ``where`` finds, sorted by SQLite in a walk's order of ``sort``: NULL (as
    ``''``) first, then by value, time and index, so pages read on by a walk join them. Late
    rows: the sort holds each row's key and ``idx``, not the row (365,000 search hits: ~150 MB),
    and the page's rows are read after it."""
    order = (sort_lead(sort), "e.ts", "e.idx")
    return Stream(where, params, order, (0, 1, 2), sort == "user", "", late_rows=True)


def text_hits(
    fts: str, idx_range: tuple[int, int], *, drives: bool = True
) -> tuple[str, tuple[object, ...]]:
    """The condition "the entry is a hit of ``fts`` in ``idx_range``": SQLite reads the hits
    once per query into a set. With ``drives`` it may find the rows by them; without, the
    ``+`` keeps it a test on the rows another index walks."""
    lo, hi = idx_range
    column = "e.idx" if drives else "+e.idx"
    return f"{column} IN ({search.HITS})", (fts, lo, hi)


def sort_lead(sort: str) -> str:
    """The ORDER BY expression of a non-time sort, NULL as ``''`` (the user sorts by email)."""
    if sort == "user":
        return "coalesce(u.email, e.user_id, '')"
    return f"coalesce(e.{COLUMN_OF_SORT[sort]}, '')"
