"""Pages of rows, counts and single entries of one mirror file: the viewer's read side.

Everything that reads the mirror for display goes through :class:`MirrorReader`; the viewer's
``ui`` package holds no SQL. The reader opens the file read-only (``mode=ro``) through a
:class:`~auditlens.mirror.pool.ConnectionPool`, so the UI's worker threads can count and page
concurrently while the sync writer appends. It runs the plans of :mod:`auditlens.mirror.plan`
(which explains how a page is found without an OFFSET or a sort of a whole range), with the
filter resolved by :mod:`auditlens.mirror.resolve`.

Plans, capped counts and the directory are remembered in one thread-safe
:class:`~auditlens.mirror.resolve.Memo` until :meth:`MirrorReader.refresh` (after a sync).
"""

from __future__ import annotations

import heapq
import sqlite3
from array import array
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from functools import partial
from itertools import islice
from operator import itemgetter
from pathlib import Path

from auditlens.core.merkle import leaf_hash
from auditlens.mirror import buckets, exclusions, search
from auditlens.mirror.exclusions import subtracted
from auditlens.mirror.filter import SORT_COLUMNS, EventFilter, Key, SortColumn
from auditlens.mirror.plan import (
    COLUMN_OF_SORT,
    NON_NULL,
    USER_JOIN,
    Plan,
    Resolved,
    Segment,
    Stream,
    bound,
    jump_plan,
    placeholders,
    position,
    select_sql,
    time_streams,
)
from auditlens.mirror.pool import ConnectionPool, pooled
from auditlens.mirror.records import Buckets, CheckpointInfo, EventRecord, MirrorStatus, Row, User
from auditlens.mirror.resolve import Memo, Resolver
from auditlens.mirror.sorted_plan import build_plan, build_text_plan

__all__ = ["MirrorReader"]

#: Rows fetched per call while collecting an export's indexes.
_FETCH = 20_000


class MirrorReader:
    """Read-only queries over one mirror file; safe to use from several threads at once."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.pool = ConnectionPool(self.path)
        self._memo = Memo()
        self.resolver = Resolver(self.pool, self._memo)
        with self.pool.connection():  # fail now (FileNotFoundError, MirrorVersionError)
            pass

    # -- connections ----------------------------------------------------------------------------

    def connection(self) -> AbstractContextManager[sqlite3.Connection]:
        """Lend this thread a pooled read-only connection (``with reader.connection() as c``).

        For sibling read modules of the mirror (:mod:`auditlens.mirror.trail`) so they share
        this reader's pool and read-only opening instead of opening their own.
        """
        return self.pool.connection()

    def _conn(self) -> sqlite3.Connection:
        return self.pool.current()

    def close(self) -> None:
        """Close the idle connections; busy ones close when their query returns."""
        self.pool.close()

    def refresh(self) -> None:
        """Forget cached plans, counts and the directory: call after a sync wrote new entries."""
        self._memo.clear()

    # -- directory and filter values ------------------------------------------------------------

    def users(self) -> list[User]:
        """The organization's people, by email."""
        people = self.resolver.directory().values()
        return sorted(people, key=lambda u: ((u.email or "").lower(), u.id))

    def user_emails(self) -> list[str]:
        """Every distinct email of the directory, sorted (for the filter's completion)."""
        people = self.resolver.directory().values()
        return sorted({u.email for u in people if u.email}, key=str.lower)

    def email_of(self, user_id: str | None) -> str | None:
        """The email of ``user_id`` (None when it is None or not in the directory)."""
        return self.resolver.email_of(user_id)

    def known_values(self, column: str, limit: int = 5_000) -> list[str]:
        """Up to ``limit`` distinct ``user_id``/``task_id``/``agent_id``/``ip`` values, sorted
        (the filter fields' completion): a skip-scan of the column's index, one seek each."""
        return self.resolver.known_values(column, limit)

    def values_starting(self, column: str, prefix: str, limit: int = 50) -> list[str]:
        """Up to ``limit`` distinct ``task_id``/``agent_id``/``ip`` values starting with
        ``prefix``, sorted (completion for the filter fields; index seeks, no scan)."""
        return sorted(self.resolver.prefix_values(column, prefix))[:limit]

    # -- export selection ------------------------------------------------------------------------

    @pooled
    def matching_indexes(self, f: EventFilter, below: int) -> array[int]:
        """The indexes below ``below`` of the entries matching ``f``, ascending.

        Exactly the rows the table shows for ``f`` (the same resolution and driving index),
        read as ``idx`` alone: each driver value is one ``SELECT e.idx`` in that index's
        ``(ts, idx)`` order (a covering index read for the time, type, category, user, agent and
        outcome indexes: no entry row is touched), several merged. As ``ts`` never decreases
        with the index, that order is index order. ``+e.idx`` keeps the bound off the rowid so
        it cannot take over the plan. 8 bytes per index (8 MB per million).
        """
        found: array[int] = array("q")
        if f.text is not None:  # the evidence's filter could not state it
            raise ValueError(
                "an export carries the sidebar's filter, not a free-text search: clear the "
                "search, or select the rows to export"
            )
        r = self.resolver.resolve(f)
        if r.impossible:
            return found
        conn = self._conn()
        cursors = [
            conn.execute(
                f"SELECT e.idx FROM entries AS e WHERE {s.where} AND +e.idx < ? "
                "ORDER BY e.ts, e.idx",
                (*s.params, below),
            )
            for s in time_streams(r)[0]
        ]
        rows = _fetched(cursors[0]) if len(cursors) == 1 else heapq.merge(*map(_fetched, cursors))
        found.extend(map(itemgetter(0), rows))
        return found

    # -- counts ---------------------------------------------------------------------------------

    @pooled
    def span(self, f: EventFilter) -> tuple[int, int] | None:
        """The time of the first and the last event matching ``f`` (None: nothing matches)."""
        first = self.page(f, "ts", False, None, 1)
        last = self.page(f, "ts", True, None, 1)
        if not first or not last:
            return None
        return first[0].ts, last[0].ts

    @pooled
    def bucket_counts(self, f: EventFilter, start_ms: int, width_ms: int, n: int) -> Buckets:
        """How many events match ``f`` in each of ``n`` buckets of ``width_ms`` from
        ``start_ms``, with the failures and denials among them (the histogram's strip; how,
        from indexes only: :mod:`auditlens.mirror.buckets`)."""
        if width_ms <= 0 or n <= 0:
            raise ValueError(f"buckets need a positive width and number, got {width_ms}, {n}")
        conn = self._conn()
        if _driving_search(f) is not None:
            plan = partial(self._plan, sort="ts", descending=True)
            return buckets.text_buckets(conn, self.resolver, plan, f, start_ms, width_ms, n)
        return buckets.index_buckets(conn, self.resolver, f, start_ms, width_ms, n)

    @pooled
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

    @pooled
    def count(self, f: EventFilter) -> int:
        """How many entries match ``f`` (an index count; run it off the UI thread)."""
        fts = _driving_search(f)
        if fts is not None:
            if (
                f.text is not None
                and replace(f, text=None, since_ms=None, until_ms=None).is_empty()
            ):
                # A search alone (maybe in a time range): its hits, counted off the index's own
                # lists, not joined to the rows ("github" at 5M: 2.1 s -> ~20 ms).
                idx_range = self.resolver.idx_bounds(f.since_ms, f.until_ms)
                return self.resolver.text_hits(fts, idx_range)
            return sum(self._segment_count(s) for s in self._plan(f, "ts", True).segments)
        r = self.resolver.resolve(f)
        if r.impossible:
            return 0
        catalog = buckets.catalog_for(self.resolver, r)
        return subtracted(r, catalog, self._count_of, exclusions.MAX_SUBTRACTED)[0]

    def _count_of(self, r: Resolved) -> tuple[int]:
        """``(count,)`` of ``r``: every event of a period from two index positions, else an
        index ``COUNT`` per driver stream."""
        if r.time_only and (n := self.resolver.events_between(r.since_ms, r.until_ms)) is not None:
            return (n,)
        conn = self._conn()
        sql = "SELECT COUNT(*) FROM entries AS e WHERE "
        return (
            sum(
                int(conn.execute(sql + s.where, s.params).fetchone()[0]) for s in time_streams(r)[0]
            ),
        )

    @pooled
    def _plan(self, f: EventFilter, sort: str, descending: bool) -> Plan:
        if sort not in SORT_COLUMNS:
            raise ValueError(f"cannot sort by {sort!r}; expected one of {', '.join(SORT_COLUMNS)}")
        return self._memo.get_or(
            ("plan", f, sort, descending), lambda: self._new_plan(f, sort, descending)
        )

    def _new_plan(self, f: EventFilter, sort: str, descending: bool) -> Plan:
        fts = _driving_search(f)
        if fts is None:
            return build_plan(self.resolver.resolve(f), sort, descending, self.resolver)
        r = self.resolver.resolve(replace(f, text=None))
        idx_range = self.resolver.idx_bounds(r.since_ms, r.until_ms)
        return build_text_plan(r, fts, idx_range, sort, descending=descending, facts=self.resolver)

    @pooled
    def _rechecked(self, f: EventFilter, rows: list[Row]) -> list[Row]:
        """``rows`` whose own stored bytes match ``f.text`` (see :mod:`auditlens.mirror.search`:
        a damaged index may miss an event but never shows one that does not match)."""
        if f.text is None or not rows:
            return rows
        query = search.SearchQuery.parse(f.text)
        ids = [row.idx for row in rows]
        raws = dict(
            self._conn().execute(
                f"SELECT idx, raw FROM entries WHERE idx IN ({placeholders(len(ids))})", ids
            )
        )
        return [row for row in rows if row.idx in raws and search.matches(query, raws[row.idx])]

    # -- pages ----------------------------------------------------------------------------------

    def key_of(self, row: Row, sort: str) -> Key:
        """Where ``row`` sits in ``sort`` order (pass it as ``after`` for the next page)."""
        lead: object
        if sort == "user":
            lead = self.resolver.email_key(row.user_id)
        elif sort in COLUMN_OF_SORT:
            lead = getattr(row, COLUMN_OF_SORT[sort])
        else:
            lead = None
        return (lead, row.ts, row.idx)

    @pooled
    def _run(
        self, stream: Stream, after: Key | None, descending: bool, limit: int, offset: int
    ) -> list[Row]:
        where, params = stream.where, list(bound(stream.params))
        if after is not None:
            values = [after[i] for i in stream.key_pos]
            if stream.key_pos[0] == 0 and values[0] is None:
                values[0] = stream.none_as
            op = "<" if descending else ">"
            if len(values) == 1:
                where = f"{where} AND {stream.order[0]} {op} ?"
            else:
                where = (
                    f"{where} AND ({', '.join(stream.order)}) {op} ({placeholders(len(values))})"
                )
            params.extend(values)
        sql = select_sql(stream, where, descending, offset=bool(offset))
        params.append(limit)
        if offset:
            params.append(offset)
        return list(map(Row._make, self._conn().execute(sql, params)))

    def _segment_rows(
        self, segment: Segment, after: Key | None, descending: bool, limit: int
    ) -> list[Row]:
        if len(segment.streams) == 1:
            return self._run(segment.streams[0], after, descending, limit, 0)
        runs: list[Iterator[Row]] = [
            iter(self._run(s, after, descending, limit, 0)) for s in segment.streams
        ]
        merged = heapq.merge(*runs, key=lambda row: (row.ts, row.idx), reverse=descending)
        return list(islice(merged, limit))

    @pooled
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
            pos = -1 if after is None else position(segment, after, descending)
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

    @pooled
    def _segment_count(self, segment: Segment) -> int:
        conn = self._conn()
        total = 0
        for s in segment.streams:
            join = USER_JOIN if s.join_users else ""
            sql = f"SELECT COUNT(*) FROM {s.source}{join} WHERE {s.where}"
            total += int(conn.execute(sql, bound(s.params)).fetchone()[0])
        return total

    @pooled
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
            rows = self._rows_at(f, sort, not descending, start, count, total=total)
            rows.reverse()
            return self._rechecked(f, rows)
        return self._rechecked(f, self._rows_at(f, sort, descending, offset, limit, total=total))

    def _rows_at(
        self,
        f: EventFilter,
        sort: str,
        descending: bool,
        offset: int,
        limit: int,
        *,
        total: int | None,
    ) -> list[Row]:
        plan = self._plan(f, sort, descending)
        if total is not None:
            plan = jump_plan(plan, total)
        out: list[Row] = []
        many = len(plan.segments) > 1
        for i, segment in enumerate(plan.segments):
            if many and offset:
                n = self._segment_size(plan, i, total)
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

    def _segment_size(self, plan: Plan, i: int, total: int | None) -> int:
        """Rows in ``plan.segments[i]``. A walk's segment of every non-NULL value is the total
        less the other segments: counting it walks the whole index, probing every entry."""
        segment = plan.segments[i]
        if plan.jump is not None and segment.lead is NON_NULL and total is not None:
            others = (s for j, s in enumerate(plan.segments) if j != i)
            return total - sum(self._segment_count(s) for s in others)
        return self._segment_count(segment)

    @pooled
    def explain(
        self, f: EventFilter, sort: SortColumn = "ts", descending: bool = True
    ) -> list[str]:
        """The query plan lines of every query a first page of ``f`` may run (for tests)."""
        plan = self._plan(f, sort, descending)
        lines: list[str] = []
        for segment in plan.segments:
            for s in segment.streams:
                sql = "EXPLAIN QUERY PLAN " + select_sql(s, s.where, descending)
                rows = self._conn().execute(sql, (*bound(s.params), 200))
                lines.extend(str(row[3]) for row in rows)
        return lines

    # -- single entries and status --------------------------------------------------------------

    @pooled
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

    @pooled
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

    @pooled
    def meta(self) -> dict[str, str]:
        """The mirror's ``meta`` table (server URL, origin, vkey, organization, ...)."""
        return {k: v for k, v in self._conn().execute("SELECT key, value FROM meta")}

    @pooled
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


def _fetched(cursor: sqlite3.Cursor) -> Iterator[tuple[int]]:
    """The rows of ``cursor`` in batches (one ``fetchmany`` call per batch, not per row)."""
    while True:
        rows = cursor.fetchmany(_FETCH)
        if not rows:
            return
        yield from rows


def _driving_search(f: EventFilter) -> str | None:
    """The FTS5 expression whose hits drive ``f``'s rows, if any: its search; else, for a
    payload field (a pivot on an API key or a session), the field value's own words.

    An event whose ``event.<name>`` is the value holds the value's words in its indexed text
    (:func:`auditlens.mirror.search.text_of_event`), so the index's hits are a superset and the
    field's own test (``json_extract``) still decides each row: a few hits are read instead of
    every row's bytes (1.3 s for a whole 1M mirror). A value without a letter or digit has no
    words: then every row is tested as before. Like a search, this leans on the derived index,
    which may miss an event if damaged, never show one that does not match.
    """
    if f.text is not None:
        return search.SearchQuery.parse(f.text).fts()
    if f.event_field is None:
        return None
    words = tuple(search.tokens(f.event_field[1]))
    return search.SearchQuery(((words,),)).fts() if words else None
