"""Plans for a filter sorted by a column other than time: which segments, each in what order.

The general rules are in :mod:`auditlens.mirror.plan` (which this module extends): a sort walks
its column's index, a narrow filter is found by its driver and sorted by SQLite, a filter that
pins the sort column is each value's rows in turn. The segment builders here are the special
cases the 5M-event plan traps asked for (docs/benchmarks.md "Viewer at 5M events"): an outcome
sort is one segment per verdict, a time range sorted by a column of few values is one segment
per value, the user column sorts by email.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import replace

from auditlens.mirror import plan as limits  # the thresholds, tuned (and patched in tests) there
from auditlens.mirror.filter import OUTCOMES
from auditlens.mirror.plan import (
    ALL,
    COLUMN_OF_SORT,
    ENTRIES,
    NON_NULL,
    PROBE_INDEXES,
    Deferred,
    Facts,
    Plan,
    Resolved,
    Segment,
    Stream,
    conditions,
    driver_of,
    join_conditions,
    sorted_stream,
    text_hits,
    text_plan,
    time_streams,
)


def build_plan(r: Resolved, sort: str, descending: bool, facts: Facts) -> Plan:
    if r.impossible:
        return Plan((), empty=True)
    if sort in ("ts", "idx"):
        streams, offset = time_streams(r)
        if len(streams) > limits.MAX_MERGED_STREAMS:
            # A prefix stands for many values: merging one stream per value would read a
            # page per value. Few rows: SQLite reads them by the IN list and sorts them;
            # many: walk the time index, probing the condition (dense, so soon found).
            if facts.capped_count(r, limits.SMALL_RESULT) > limits.SMALL_RESULT:
                where, params = conditions(r, driver=None, plus_ts=False)
                offset = Stream(join_conditions(where), tuple(params), ("e.ts", "e.idx"), (1, 2))
            else:
                offset = offset._replace(late_rows=True)
            return Plan((Segment(ALL, (offset,), offset),))
        return Plan((Segment(ALL, tuple(streams), offset),))
    pinned = _pinned_segments(facts, r, sort)
    if pinned is not None:
        return Plan(tuple(reversed(pinned)) if descending else tuple(pinned))
    if sort == "outcome":
        segments = _verdict_segments(r, facts)
        return Plan(tuple(reversed(segments)) if descending else tuple(segments))
    spread = _spread_segments(facts, r, sort)
    if spread is not None:
        return Plan(tuple(reversed(spread)) if descending else tuple(spread))
    narrowed = driver_of(r)[0] is not None or r.since_ms is not None or r.until_ms is not None
    timed = r.since_ms is not None or r.until_ms is not None
    cap = limits.SMALL_TASKS_IN_RANGE if sort == "task" and timed else limits.SMALL_RESULT
    found = facts.matching(r, cap) if narrowed else None
    if found is not None:
        return Plan((_small_segment(found, sort),))
    by_type = _outcome_type_segments(facts, r, sort)
    if by_type is not None:  # each type's range of the outcome is probed for the rest: a walk
        ordered = tuple(reversed(by_type)) if descending else tuple(by_type)
        return Plan(ordered, jump=_sorted_rows(r, sort))
    segments = _walk_segments(facts, r, sort, descending)
    ordered = tuple(reversed(segments)) if descending else tuple(segments)
    return Plan(ordered, jump=_sorted_rows(r, sort))


def _sorted_rows(r: Resolved, sort: str) -> Segment:
    """Every row of ``r``, found through its driver's index, sorted by SQLite in a walk's order
    (NULL first, then by value, time and index; the order :func:`_small_segment` gives): the
    :attr:`~auditlens.mirror.plan.Plan.jump` of a walk. Late rows: SQLite sorts the keys and
    reads the page's rows after them."""
    rows = time_streams(r)[1]  # every row of ``r``, one query through the driver's index
    stream = sorted_stream(rows.where, rows.params, sort)
    return Segment(ALL, (stream,), stream)


def build_text_plan(
    r: Resolved, fts: str, idx_range: tuple[int, int], sort: str, *, descending: bool, facts: Facts
) -> Plan:
    """A free-text search with the rest of ``r``, sorted by ``sort`` (see :func:`text_plan`).

    Sorted by another column than time, a search of at most
    :data:`~auditlens.mirror.plan.SMALL_RESULT` hits is sorted by SQLite. With more, the page
    is the plan of the rest of the filter (:func:`build_plan`: a broad one walks the sort
    column's index), each row tested against the set of hits SQLite reads once per query:
    sorting every hit for every page took ~1 s a page at 5M events ("browser": 365,000 hits,
    by task; the walk 55 ms). A jump sorts the hits (:attr:`~auditlens.mirror.plan.Plan.jump`).
    """
    hits_sorted = text_plan(r, fts, idx_range, sort)
    if sort in ("ts", "idx") or hits_sorted.empty:
        return hits_sorted
    if facts.text_hits(fts, idx_range) <= limits.SMALL_RESULT:
        return hits_sorted
    hits, hit_params = text_hits(fts, idx_range, drives=False)

    def among_hits(stream: Stream) -> Stream:
        return stream._replace(
            where=f"{hits} AND {stream.where}", params=(*hit_params, *stream.params)
        )

    plain = build_plan(r, sort, descending, facts)  # r's rows in order; the hits among them
    segments = tuple(
        Segment(s.lead, tuple(map(among_hits, s.streams)), among_hits(s.offset_stream))
        for s in plain.segments
    )
    return Plan(segments, plain.empty, jump=hits_sorted.segments[0])


def _value_segment(lead: object, rs: Sequence[Resolved]) -> Segment:
    """Rows of every ``r`` in ``rs`` (disjoint), merged in time order, under one sort value."""
    streams: list[Stream] = []
    offsets: list[Stream] = []
    for r in rs:
        s, o = time_streams(r)
        streams.extend(s)
        offsets.append(o)
    if len(offsets) == 1:
        offset = offsets[0]
    else:  # several user ids share one email: one query over all of them
        merged = replace(rs[0], user_ids=frozenset().union(*(r.user_ids or () for r in rs)))
        offset = time_streams(merged)[1]
    return Segment(lead, tuple(streams), offset)


def _pinned_segments(facts: Facts, r: Resolved, sort: str) -> list[Segment] | None:
    """Segments when the filter fixes the sort column's values (ascending), else None."""
    if sort == "type" and (r.categories or r.types):
        values = sorted({t for t, c in facts.types_present() if c in r.categories} | set(r.types))
        return [
            _value_segment(t, [replace(r, categories=frozenset(), types=frozenset({t}))])
            for t in values
        ]
    if sort == "outcome" and r.outcome is not None:
        return [_value_segment(r.outcome, [r])]
    if sort == "agent" and r.agent_ids is not None:
        return [
            _value_segment(a, [replace(r, agent_ids=frozenset({a}))]) for a in sorted(r.agent_ids)
        ]
    if sort == "task" and r.task_ids is not None:
        return [
            _value_segment(t, [replace(r, task_ids=frozenset({t}))]) for t in sorted(r.task_ids)
        ]
    if sort == "user" and r.user_ids is not None:
        return _user_segments(facts, r, [u for u in facts.user_ids_present() if u in r.user_ids])
    return None


def _user_segments(facts: Facts, r: Resolved, ids: Iterable[str | None]) -> list[Segment]:
    groups: dict[str, list[str | None]] = {}
    for user_id in ids:
        groups.setdefault(facts.email_key(user_id), []).append(user_id)
    segments = []
    for key in sorted(groups):
        parts: list[Resolved] = []
        for user_id in groups[key]:
            if user_id is None:
                parts.append(replace(r, user_ids=None))
            else:
                parts.append(replace(r, user_ids=frozenset({user_id})))
        segments.append(_null_user_aware_segment(key, parts, groups[key]))
    return segments


def _null_user_aware_segment(key: str, parts: list[Resolved], ids: list[str | None]) -> Segment:
    """A user segment; the "no user" part is ``user_id IS NULL`` on the user index."""
    streams: list[Stream] = []
    for part, user_id in zip(parts, ids, strict=True):
        if user_id is not None:
            streams.extend(time_streams(part)[0])
            continue
        rest, params = conditions(part, driver="user", plus_ts=False)
        streams.append(
            Stream(
                join_conditions(["e.user_id IS NULL", *rest]),
                tuple(params),
                ("e.ts", "e.idx"),
                (1, 2),
            )
        )
    if len(streams) == 1:
        return Segment(key, tuple(streams), streams[0])
    where = " OR ".join(f"({s.where})" for s in streams)
    params_all: tuple[object, ...] = tuple(p for s in streams for p in s.params)
    return Segment(key, tuple(streams), Stream(where, params_all, ("e.ts", "e.idx"), (1, 2)))


def _verdict_segments(r: Resolved, facts: Facts) -> list[Segment]:
    """Sorted by outcome: one segment per verdict (few values), each driven like a filter on it.

    Why not walk the verdict index as for other columns: a filter whose rows all share one
    verdict (``task.failed``: all failures) sorted descending would walk every success first
    (4.7M index entries at 5M events, ~5 s), and a time range would walk a verdict's entries
    outside it. As its own equality, each verdict segment is found through whichever index is
    smallest (the filter's or the verdict's); an empty one costs at most one walk of that.
    The "no verdict" rows (none in a well-formed log) are walked on the verdict index.
    """
    rest, params = conditions(r, driver=None, plus_ts=False)
    null = Stream(
        join_conditions(["e.verdict IS NULL", *rest]),
        tuple(params),
        ("e.ts", "e.idx"),
        (1, 2),
        source=f"{ENTRIES} INDEXED BY {PROBE_INDEXES['verdict']}",
    )
    segments = [Segment(None, (null,), null)]
    for verdict in sorted(OUTCOMES):
        one = replace(r, outcome=verdict, prefer=None)
        segments.append(_value_segment(verdict, [replace(one, prefer=facts.smallest_driver(one))]))
    return segments


def _spread_segments(facts: Facts, r: Resolved, sort: str) -> list[Segment] | None:
    """A time range sorted by type or agent (few values): one segment per value, or None.

    Walking the sort index would test the time range on every entry of every value, inside
    the range or not ("one day 89 days ago" by type read all 5M entries of a 5M-event log);
    with each value as an equality of its own, its segment starts with a seek into the range,
    through whichever index is smallest for it (the value's or the filter's).
    """
    if r.since_ms is None and r.until_ms is None:
        return None
    values: list[str]
    if sort == "type" and not (r.categories or r.types):
        values = [t for t, _ in facts.types_present()]

        def one(v: str) -> Resolved:
            return replace(r, types=frozenset({v}), prefer=None)

    elif sort == "agent" and r.agent_ids is None:
        values = facts.values_present("agent_id", limits.SPREAD_VALUES + 1)

        def one(v: str) -> Resolved:
            return replace(r, agent_ids=frozenset({v}), prefer=None)

    else:
        return None
    if len(values) > limits.SPREAD_VALUES:
        return None
    segments = [_walk_segments(facts, r, sort)[0]]  # the entries without a value
    for v in values:
        each = one(v)
        segments.append(_value_segment(v, [replace(each, prefer=facts.smallest_driver(each))]))
    return segments


def _outcome_type_segments(facts: Facts, r: Resolved, sort: str) -> list[Segment] | None:
    """A broad filter with an outcome, sorted by type: one segment per type, or None.

    Each type's rows of that outcome are one range of the ``(type, verdict, ts, idx)`` index,
    which drives its segment (the filter's other conditions probed on it). Walking the type
    index instead probes every entry of every type for its verdict: failures sorted by type
    descending walked all of ``task.started`` (successes only) before their first row (176 ms
    at 5M events; 364 ms with the busiest user). A type without such rows costs one seek, and
    all segments together read no more index entries than the outcome's own range. Not for a
    narrow filter (sorted whole by SQLite) nor a time range (:func:`_spread_segments`).
    """
    if sort != "type" or r.outcome is None or r.categories or r.types:
        return None
    present = facts.types_present()
    if len(present) > limits.SPREAD_VALUES:
        return None
    excluded = {(column, v) for column, values in r.excluded for v in values}
    types = [
        t for t, c in present if ("type", t) not in excluded and ("category", c) not in excluded
    ]
    segments = [_walk_segments(facts, r, sort)[0]]  # the entries without a type
    for t in types:
        one = replace(r, types=frozenset({t}), prefer="type_outcome")
        segments.append(_value_segment(t, [one]))
    return segments


def _small_segment(found: Sequence[int], sort: str) -> Segment:
    """A narrow filter: its rows, already found, sorted by SQLite.

    ``found`` are the ``idx`` of the matching rows (the reader walked the driver index once,
    probing the other conditions, to learn that they are few): the query reads just those rows
    by primary key and sorts them, instead of walking the driver and probing again for every
    page. Late rows: the sort holds each match's sort value and ``idx`` only, and the page's
    200 rows are read after it.
    """
    where = "e.idx IN (SELECT value FROM json_each(?))"
    stream = sorted_stream(where, (json.dumps(list(found)),), sort)
    return Segment(ALL, (stream,), stream)


def _walk_segments(facts: Facts, r: Resolved, sort: str, descending: bool = False) -> list[Segment]:
    """A broad filter: walk the sort column's index (NULL segment first), checking ``r``."""
    if sort == "user":
        return _user_segments(facts, r, facts.user_ids_present())
    column = COLUMN_OF_SORT[sort]
    rest, params = conditions(r, driver=None, plus_ts=True)
    null_rest = conditions(r, driver=None, plus_ts=False)[0]
    present = f"e.{column} IS NOT NULL"
    bounds: list[object] = []
    if column == "task_id" and (r.since_ms is not None or r.until_ms is not None):
        # Start at the range's least task (greatest, descending): ids made in time order put
        # a recent range's tasks at the end of the index ("last 7 days" by task ascending
        # walked 2.3M entries of older tasks first). Found when the walk first runs:
        # ascending, the task-less entries before it may fill the page.
        since, until = r.since_ms, r.until_ms
        present = "e.task_id <= ?" if descending else "e.task_id >= ?"
        bounds = [Deferred(lambda: facts.task_bound(since, until, descending))]
    # Within the NULLs the index is in time order, so a time range there is a seek, not a walk
    # from the oldest NULL (half the log has no task: "last 7 days" by task read 2.5M entries).
    null = Stream(
        join_conditions([f"e.{column} IS NULL", *null_rest]),
        tuple(params),
        ("e.ts", "e.idx"),
        (1, 2),
        source=f"{ENTRIES} INDEXED BY {PROBE_INDEXES[column]}",
    )
    order = (f"e.{column}", "e.ts", "e.idx")
    values = Stream(join_conditions([present, *rest]), (*bounds, *params), order, (0, 1, 2))
    return [Segment(None, (null,), null), Segment(NON_NULL, (values,), values)]
