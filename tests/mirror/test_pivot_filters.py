"""The filter keys pivots use: a window of log positions and a payload field, and neighbours.

Each is checked against the obvious reference (all rows filtered in Python) in every sort, so
the keys compose with the planner's drivers, probes and sort walks like the other conditions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlens.mirror.filter import SORT_COLUMNS, EventFilter
from auditlens.mirror.reader import MirrorReader
from tests.mirror.conftest import bodies


def every_sort(reader: MirrorReader, f: EventFilter) -> Iterator[tuple[str, bool, set[int]]]:
    for sort in SORT_COLUMNS:
        for descending in (False, True):
            yield (
                sort,
                descending,
                {row.idx for row in reader.page(f, sort, descending, None, 10_000)},
            )


def test_an_index_window_keeps_exactly_those_positions_in_every_sort(
    reader: MirrorReader,
) -> None:
    f = EventFilter(idx_from=1_200, idx_until=1_260)
    assert reader.count(f) == 60
    for sort, descending, found in every_sort(reader, f):
        assert found == set(range(1_200, 1_260)), (sort, descending)
    # With another condition: the window's events of one type only.
    some = reader.page(f, "ts", False, None, 1)[0]
    typed = EventFilter(idx_from=1_200, idx_until=1_260, types=frozenset({some.type or ""}))
    expected = {r.idx for r in reader.page(f, "ts", False, None, 100) if r.type == some.type}
    assert {r.idx for r in reader.page(typed, "ts", False, None, 100)} == expected
    assert reader.count(typed) == len(expected)


def test_neighbours_are_the_entries_around_an_index_whatever_their_type(
    reader: MirrorReader,
) -> None:
    assert reader.neighbours(1_500, 10) == (1_490, 1_511)
    assert reader.neighbours(3, 10) == (0, 14)  # fewer before the first entry
    last = reader.status().entries - 1
    assert reader.neighbours(last, 10) == (last - 10, last + 1)
    with pytest.raises(ValueError, match="negative"):
        reader.neighbours(5, -1)


def test_a_payload_field_matches_the_events_carrying_that_value(
    reader: MirrorReader, demo: Path
) -> None:
    events = bodies(demo)
    keyed = {
        i: e for i, e in events.items() if isinstance(e["event"], dict) and "key_id" in e["event"]
    }
    assert keyed, "the demo data has API key events"
    key = next(iter(keyed.values()))["event"]["key_id"]
    f = EventFilter(event_field=("key_id", key))
    expected = {i for i, e in keyed.items() if e["event"]["key_id"] == key}
    assert reader.count(f) == len(expected)
    for sort, descending, found in every_sort(reader, f):
        assert found == expected, (sort, descending)
    assert "event.key_id=" in f.to_query()
    # The full-text index finds the candidates (the value's words); no row of the log is read
    # otherwise: every sort's plan starts from the index, never a scan of the entries.
    for sort in SORT_COLUMNS:
        lines = reader.explain(f, sort)
        assert any("VIRTUAL TABLE INDEX" in line for line in lines), (sort, lines)
        assert not any(line.startswith("SCAN e ") for line in lines), (sort, lines)
    buckets = reader.bucket_counts(f, 0, 2**40, 2)
    assert sum(buckets.total) == len(expected)


def test_a_payload_value_without_words_is_still_tested_row_by_row(
    reader: MirrorReader, demo: Path
) -> None:
    """A value of punctuation only has no words in the index: every row's field is tested."""
    f = EventFilter(event_field=("key_id", "--"))
    assert reader.count(f) == 0
    assert not any("VIRTUAL TABLE" in line for line in reader.explain(f))


def test_bad_pivot_keys_are_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="payload field name"):
        EventFilter(event_field=("key_id') OR 1=1 --", "x"))
    with pytest.raises(ValueError, match="first index"):
        EventFilter(idx_from=10, idx_until=10)


def test_a_payload_value_with_quotes_or_backslashes_is_matched_without_the_byte_search(
    reader: MirrorReader,
) -> None:
    assert reader.count(EventFilter(event_field=("key_id", 'key_"x\\y'))) == 0
    assert reader.page(EventFilter(event_field=("key_id", "é\n")), "ts", True, None, 5) == []


@pytest.mark.parametrize("field", ["key_id", None], ids=["payload field", "search"])
def test_a_view_exports_exactly_the_rows_it_shows(demo: Path, field: str | None) -> None:
    """A view no evidence filter can state (a payload field, a search) is collected row by row
    for its export: exactly the rows the table pages through, in log order."""
    from auditlens.mirror.snapshot import MirrorSnapshot, ViewRows

    events = bodies(demo)
    keyed = [e for e in events.values() if isinstance(e["event"], dict) and "key_id" in e["event"]]
    f = (
        EventFilter(event_field=("key_id", keyed[0]["event"]["key_id"]))
        if field
        else EventFilter(text="browser OR python", outcome="failure")
    )
    reader = MirrorReader(demo)
    shown = sorted(row.idx for row in reader.page(f, "ts", True, None, 100_000))
    reader.close()
    assert shown
    with MirrorSnapshot(demo, ViewRows(f)) as snapshot:
        assert list(snapshot.selected()) == shown
