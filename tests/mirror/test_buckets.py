"""Histogram counts: per time bucket, from indexes, equal to counting the rows one by one."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlens.mirror import buckets as bucket_counting
from auditlens.mirror import exclusions, text_buckets
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import Buckets

HOUR = 3_600_000


def rows(path: Path) -> list[tuple[int, str, str | None, str | None, str | None]]:
    conn = sqlite3.connect(path)
    found = conn.execute("SELECT ts, verdict, user_id, category, ip FROM entries").fetchall()
    conn.close()
    return found


def whole_span(
    everything: list[tuple[int, str, str | None, str | None, str | None]],
) -> tuple[int, int, int]:
    """(start, width, number) of 6-hour buckets covering every row."""
    first = min(ts for ts, *_ in everything)
    width = 6 * HOUR
    return first, width, (max(ts for ts, *_ in everything) - first) // width + 1


def assert_strip_of_shown_rows(
    reader: MirrorReader, f: EventFilter, first: int, width: int, n: int
) -> tuple[Buckets, list[int]]:
    """``f``'s strip equals its rows as the table pages them, counted one by one, and its
    total is the count; returns the strip and the reference totals."""
    shown = reader.page(f, "ts", False, None, 100_000)
    total, failures, denied = counted(((row.ts, row.verdict) for row in shown), first, width, n)
    buckets = reader.bucket_counts(f, first, width, n)
    assert (list(buckets.total), list(buckets.failures), list(buckets.denied)) == (
        total,
        failures,
        denied,
    )
    assert sum(buckets.total) == reader.count(f)
    return buckets, total


def counted(
    events: Iterable[tuple[int, str | None]], first: int, width: int, n: int
) -> tuple[list[int], list[int], list[int]]:
    """All, failed and denied events per bucket, counted one by one (the reference)."""
    total, failures, denied = [0] * n, [0] * n, [0] * n
    for ts, verdict in events:
        b = (ts - first) // width
        total[b] += 1
        failures[b] += verdict == "failure"
        denied[b] += verdict == "denied"
    return total, failures, denied


@pytest.mark.parametrize("grouped", [50_000, 10], ids=["grouped", "count-per-bucket"])
@pytest.mark.parametrize(
    "f",
    [
        EventFilter(),
        EventFilter(types=frozenset({"agent"})),
        EventFilter(outcome="failure"),
        EventFilter(outcome="denied"),
        EventFilter(types=frozenset({"auth", "approval"})),
    ],
    ids=["all", "agent", "failures", "denied", "auth+approval"],
)
def test_bucket_counts_equal_the_rows_counted_one_by_one(
    reader: MirrorReader,
    demo: Path,
    f: EventFilter,
    grouped: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bucket_counting, "GROUPED_BUCKETS", grouped)  # both ways of counting
    everything = rows(demo)
    first, width, n = whole_span(everything)
    buckets = reader.bucket_counts(f, first, width, n)
    wanted_categories = f.categories or None
    total, failures, denied = counted(
        (
            (ts, verdict)
            for ts, verdict, _user, category, _ip in everything
            if (wanted_categories is None or category in wanted_categories)
            and (f.outcome is None or verdict == f.outcome)
        ),
        first,
        width,
        n,
    )
    assert list(buckets.total) == total
    assert list(buckets.failures) == failures
    assert list(buckets.denied) == denied
    assert sum(buckets.total) == reader.count(f)
    assert buckets.end_ms == first + n * width


def test_buckets_respect_the_filters_own_time_range_and_a_user(reader: MirrorReader) -> None:
    some = reader.page(EventFilter(), "ts", True, None, 500)[-1]
    f = EventFilter(user_id=some.user_id, since_ms=some.ts - 48 * HOUR, until_ms=some.ts + HOUR)
    start = some.ts - 72 * HOUR
    buckets = reader.bucket_counts(f, start, HOUR, 96)
    assert sum(buckets.total) == reader.count(f) > 0
    assert sum(buckets.total[:24]) == 0  # before the filter's own range
    outside = reader.bucket_counts(f, some.ts + 2 * HOUR, HOUR, 5)
    assert sum(outside.total) == 0


def test_bad_bucket_sizes_are_refused(reader: MirrorReader) -> None:
    with pytest.raises(ValueError, match="positive"):
        reader.bucket_counts(EventFilter(), 0, 0, 10)


@pytest.mark.parametrize(
    "f",
    [
        EventFilter(text="browser"),
        EventFilter(text="browser", outcome="failure"),
        EventFilter(text="browser", outcome="success"),
        EventFilter(text='"ERR_NAME_NOT_RESOLVED"', types=frozenset({"agent"})),
        EventFilter(text="zzzznothingmatches"),
    ],
    ids=["word", "word+failures", "word+successes", "phrase+agent", "no-hit"],
)
@pytest.mark.parametrize("plain_min", [0, 10**9], ids=["from-indexes", "from-rows"])
def test_a_searchs_buckets_count_its_hits_not_the_whole_filter(
    reader: MirrorReader,
    demo: Path,
    f: EventFilter,
    plain_min: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The histogram drew the filter without its search words (174 events for 9 hits)."""
    monkeypatch.setattr(text_buckets, "PLAIN_MIN_HITS", plain_min)  # both ways of counting
    first, width, n = whole_span(rows(demo))
    _, total = assert_strip_of_shown_rows(reader, f, first, width, n)
    if f.text != "zzzznothingmatches":
        assert sum(total), "the search should find demo events"
    # A narrower strip (a zoomed day) counts only the hits inside it, bucket for bucket.
    middle = n // 2
    zoomed = reader.bucket_counts(f, first + middle * width, width, 3)
    assert list(zoomed.total) == total[middle : middle + 3]


def _busiest(demo: Path, column: str) -> str:
    conn = sqlite3.connect(demo)
    (value,) = conn.execute(
        f"SELECT {column} FROM entries WHERE {column} IS NOT NULL "
        f"GROUP BY {column} ORDER BY COUNT(*) DESC LIMIT 1"
    ).fetchone()
    conn.close()
    return str(value)


EXCLUSIONS = {
    "-busiest user": lambda u, ip, task: EventFilter(exclude=frozenset({("user", u)})),
    "-agent category": lambda u, ip, task: EventFilter(exclude=frozenset({("type", "agent")})),
    "task -task.started": lambda u, ip, task: EventFilter(
        types=frozenset({"task"}), exclude=frozenset({("type", "task.started")})
    ),
    "types -one's category": lambda u, ip, task: EventFilter(
        types=frozenset({"task.failed", "agent.action", "auth"}),
        exclude=frozenset({("type", "task")}),
    ),
    "-failure": lambda u, ip, task: EventFilter(exclude=frozenset({("outcome", "failure")})),
    "-failure -denied": lambda u, ip, task: EventFilter(
        exclude=frozenset({("outcome", "failure"), ("outcome", "denied")})
    ),
    "failures -failure": lambda u, ip, task: EventFilter(
        outcome="failure", exclude=frozenset({("outcome", "failure")})
    ),
    "user -same user": lambda u, ip, task: EventFilter(user_id=u, exclude=frozenset({("user", u)})),
    "-user -ip": lambda u, ip, task: EventFilter(exclude=frozenset({("user", u), ("ip", ip)})),
    "-user -type -outcome": lambda u, ip, task: EventFilter(
        exclude=frozenset({("user", u), ("type", "auth"), ("outcome", "denied")})
    ),
    "-task prefix": lambda u, ip, task: EventFilter(exclude=frozenset({("task", task[:6] + "*")})),
    "4 exclusions": lambda u, ip, task: EventFilter(
        exclude=frozenset({("user", u), ("ip", ip), ("type", "auth"), ("outcome", "denied")})
    ),
}


@pytest.mark.parametrize("grouped", [50_000, 10], ids=["grouped", "count-per-bucket"])
@pytest.mark.parametrize("name", list(EXCLUSIONS))
def test_exclusions_are_subtracted_to_the_same_counts_as_the_rows(
    reader: MirrorReader, demo: Path, name: str, grouped: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exclusion alone probed ~940,000 rows at 1M (1.9 s); it is now counted as the filter
    without it minus the excluded part, which must give exactly the rows' own counts."""
    monkeypatch.setattr(bucket_counting, "GROUPED_BUCKETS", grouped)
    f = EXCLUSIONS[name](_busiest(demo, "user_id"), _busiest(demo, "ip"), _busiest(demo, "task_id"))
    first, width, n = whole_span(rows(demo))
    buckets, total = assert_strip_of_shown_rows(reader, f, first, width, n)  # probed rows
    if not name.startswith(("failures -", "user -same")):
        assert 0 < sum(total) < 3_000, "the exclusion should leave some events and drop some"
    # The probing way (more exclusions than are subtracted) gives the same strip.
    monkeypatch.setattr(exclusions, "MAX_SUBTRACTED", 0)
    assert reader.bucket_counts(f, first, width, n) == buckets


@pytest.mark.parametrize("removed", ["a pruned prefix", "a hole"])
def test_all_events_are_counted_from_index_positions_only_when_no_index_is_missing(
    demo: Path, tmp_path: Path, removed: str
) -> None:
    """Every event of a bucket is the difference of the index positions at its edges, which
    holds while the mirror has every index from its first to its last (a pruned log lacks only
    a prefix). A mirror missing an index in between (damaged) is counted row by row instead."""
    import shutil

    path = tmp_path / "m.sqlite"
    shutil.copy(demo, path)
    conn = sqlite3.connect(path)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        conn.execute(f'DROP TRIGGER "{name}"')
    gone = "idx < 300" if removed == "a pruned prefix" else "idx IN (1500, 1501, 2999)"
    conn.execute(f"DELETE FROM entries WHERE {gone}")
    conn.commit()
    conn.close()
    everything = rows(path)
    first, width, n = whole_span(everything)
    total, failures, denied = counted(((ts, v) for ts, v, *_ in everything), first, width, n)
    reader = MirrorReader(path)
    buckets = reader.bucket_counts(EventFilter(), first, width, n)
    # a span that starts and ends mid-bucket and runs past the last event
    late = reader.bucket_counts(EventFilter(since_ms=first + width // 3), first, width, n + 3)
    counts = reader.count(EventFilter()), reader.count(EventFilter(since_ms=first + width // 3))
    reader.close()
    assert (list(buckets.total), list(buckets.failures), list(buckets.denied)) == (
        total,
        failures,
        denied,
    )
    later = [ts for ts, *_ in everything if ts >= first + width // 3]
    assert sum(late.total) == len(later) and late.total[n:] == (0, 0, 0)
    assert counts == (len(everything), len(later))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_subtracting_any_exclusions_counts_what_probing_them_counts(
    reader: MirrorReader, demo: Path, data: st.DataObject
) -> None:
    """Any base filter with any exclusions: the subtracted strip equals the probed one (the
    switch is set and restored per example: a monkeypatch would last across examples)."""
    conn = sqlite3.connect(demo)
    users = [u for (u,) in conn.execute("SELECT DISTINCT user_id FROM entries LIMIT 6") if u]
    ips = [i for (i,) in conn.execute("SELECT DISTINCT ip FROM entries LIMIT 4") if i]
    types = [t for (t,) in conn.execute("SELECT DISTINCT type FROM entries")]
    conn.close()
    kinds = sorted({t.split(".")[0] for t in types}) + types
    excluded = st.one_of(
        st.tuples(st.just("type"), st.sampled_from(kinds)),
        st.tuples(st.just("outcome"), st.sampled_from(["success", "failure", "denied"])),
        st.tuples(st.just("user"), st.sampled_from(users)),
        st.tuples(st.just("ip"), st.sampled_from(ips)),
    )
    f = EventFilter(
        types=data.draw(st.frozensets(st.sampled_from(kinds), max_size=2)),
        outcome=data.draw(st.none() | st.sampled_from(["success", "failure", "denied"])),
        user_id=data.draw(st.none() | st.sampled_from(users)),
        exclude=data.draw(st.frozensets(excluded, min_size=1, max_size=4)),
    )
    first, width, n = whole_span(rows(demo))
    subtracted = reader.bucket_counts(f, first, width, n)
    saved, exclusions.MAX_SUBTRACTED = exclusions.MAX_SUBTRACTED, 0
    try:
        probed, probed_count = reader.bucket_counts(f, first, width, n), reader.count(f)
    finally:
        exclusions.MAX_SUBTRACTED = saved
    assert probed == subtracted, f
    assert sum(subtracted.total) == reader.count(f) == probed_count, f
