"""A search sorted by another column than time: the same rows in the same order, however found.

Few hits are sorted by SQLite. Many walk the sort column's index, each entry tested against the
set of hits: sorting all of them for every page took ~1 s a page at 5M events ("browser",
365,000 hits, by task), so scrolling such a view stalled at every 200 rows. Both ways, and the
jumps (OFFSET along the walk, or the hits sorted), must give exactly the reference order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from auditlens.mirror import plan as planner
from auditlens.mirror.filter import SORT_COLUMNS, EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import Row
from tests.mirror.test_jump_cost import steps
from tests.mirror.test_query import DAY, all_rows, reference, some_values, walk
from tests.ui.mirror_factory import NOW_MS


def searches(demo: Path) -> list[EventFilter]:
    v = some_values(demo)
    return [
        EventFilter(text="agent"),  # most of the log
        EventFilter(text="https"),
        EventFilter(text="read", types=frozenset({"agent"})),
        EventFilter(text="agent", outcome="failure"),
        EventFilter(text="agent", since_ms=NOW_MS - 30 * DAY, until_ms=NOW_MS - 5 * DAY),
        EventFilter(text="https", user_id=v["user_id"]),
        EventFilter(text="github OR https"),
    ]


def expected_order(
    reader: MirrorReader, rows: list[Row], f: EventFilter, sort: str, desc: bool
) -> list[int]:
    """The hits (found in time order, the FTS index's own order) sorted by the reference."""
    hits = set(walk(reader, f, "ts", False, limit=500))
    ordered = reference(reader, rows, replace(f, text=None), sort, desc)
    return [idx for idx in ordered if idx in hits]


@pytest.mark.parametrize("small_result", [10**9, 0], ids=["hits-sorted", "index-walk"])
def test_a_search_pages_in_the_reference_order_for_every_sort(
    demo: Path, monkeypatch: pytest.MonkeyPatch, small_result: int
) -> None:
    monkeypatch.setattr(planner, "SMALL_RESULT", small_result)
    reader, rows = MirrorReader(demo), all_rows(demo)
    try:
        for f in searches(demo):
            for sort in SORT_COLUMNS:
                for desc in (False, True):
                    expected = expected_order(reader, rows, f, sort, desc)
                    assert walk(reader, f, sort, desc, limit=37) == expected, (f, sort, desc)
    finally:
        reader.close()


@pytest.mark.parametrize("jump_sort", [0, 10**9], ids=["offset-along-the-walk", "hits-sorted"])
def test_a_jump_into_a_walked_search_returns_the_rows_there(
    demo: Path, monkeypatch: pytest.MonkeyPatch, jump_sort: int
) -> None:
    monkeypatch.setattr(planner, "SMALL_RESULT", 0)
    monkeypatch.setattr(planner, "JUMP_SORT_CAP", jump_sort)
    reader, rows = MirrorReader(demo), all_rows(demo)
    try:
        for f in searches(demo):
            for sort in ("task", "agent", "user", "type", "outcome"):
                expected = expected_order(reader, rows, f, sort, True)
                total = reader.count(f)
                assert total == len(expected)
                for at in (1, total // 3, total // 2 + 1, max(total - 5, 0)):
                    got = reader.page_at(f, sort, True, at, 20, total=total)  # type: ignore[arg-type]
                    assert [r.idx for r in got] == expected[at : at + 20], (f, sort, at)
    finally:
        reader.close()


def second_page_cost(demo: Path, f: EventFilter, sort: str) -> tuple[int, list[int]]:
    """SQLite VM steps (hundreds) of the second page of 20, and the 40 rows' indexes."""
    reader = MirrorReader(demo)
    try:
        first = reader.page(f, sort, True, None, 20)  # type: ignore[arg-type]
        second = partial(reader.page, f, sort, True, reader.key_of(first[-1], sort), 20)  # type: ignore[arg-type]
        got: list[Row] = []
        cost = steps(reader, lambda: got.extend(second()))
        return cost, [r.idx for r in first + got]
    finally:
        reader.close()


@pytest.mark.parametrize("sort", ["task", "agent", "user"])
def test_a_page_of_a_broad_search_sorted_by_a_column_does_not_sort_every_hit(
    demo: Path, monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    """ "agent" is in ~1,900 of the 3,000 events. Sorting them all for the page reads every
    hit's row; the walk reads the hits' ids once (a set) and ~40 index entries. At 3,000
    events the set is most of the walk's cost (~3x less than sorting); at 5M, 20x."""
    f = EventFilter(text="agent")
    monkeypatch.setattr(planner, "SMALL_RESULT", 10**9)
    sorted_cost, sorted_rows = second_page_cost(demo, f, sort)
    monkeypatch.setattr(planner, "SMALL_RESULT", 100)  # ~1,900 hits are many
    walked_cost, walked_rows = second_page_cost(demo, f, sort)
    assert walked_rows == sorted_rows
    assert walked_cost * 2.5 < sorted_cost, (walked_cost, sorted_cost)


def statements(reader: MirrorReader, action: Callable[[], object]) -> list[str]:
    """The SQL statements ``action()`` runs on the reader's connection."""
    run: list[str] = []
    with reader.connection() as conn:
        conn.set_trace_callback(run.append)
        try:
            action()
        finally:
            conn.set_trace_callback(None)
    return run


@pytest.mark.parametrize("span", ["all time", "a time range"])
def test_the_count_of_a_search_alone_reads_the_index_not_the_rows(demo: Path, span: str) -> None:
    """It joined every hit to its row ("github" at 5M: 2.1 s); the index's own lists hold the
    number (~20 ms), and it is the number of hits the pages show."""
    f = EventFilter(text="agent")
    if span == "a time range":
        f = replace(f, since_ms=NOW_MS - 30 * DAY, until_ms=NOW_MS - 5 * DAY)
    reader = MirrorReader(demo)
    try:
        shown = walk(reader, f, "ts", False, limit=500)
        counted: list[int] = []
        run = statements(reader, lambda: counted.append(reader.count(f)))
        assert counted == [len(shown)] and len(shown) > 300
        joined = [sql for sql in run if "entry_text" in sql and "entries" in sql]
        assert not joined, joined  # the hits are counted, not joined to their rows
    finally:
        reader.close()
