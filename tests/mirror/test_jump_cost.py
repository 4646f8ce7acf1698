"""What a scrollbar jump reads: a filter's own rows, not a walk of another column's index.

At 5M events a jump into ``type=task.failed`` (35,000 rows) sorted by task took 2-3 s: the
walk of the task index probed the type of every one of its 5M entries, once to count the
segment the position falls in and again to skip ``OFFSET`` matches. Counted here in SQLite
virtual-machine steps (a progress handler), so the test is exact on any machine.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from auditlens.mirror import plan as planner
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import Row
from tests.mirror.test_query import all_rows, reference, some_values


def steps(reader: MirrorReader, action: object) -> int:
    """SQLite VM steps (in hundreds) that ``action()`` costs on the reader's connection."""
    ticks = [0]

    def tick() -> int:
        ticks[0] += 1
        return 0

    with reader.connection() as conn:
        conn.set_progress_handler(tick, 100)
        try:
            action()  # type: ignore[operator]
        finally:
            conn.set_progress_handler(None, 0)
    return ticks[0]


@pytest.mark.parametrize("sort", ["task", "agent", "user", "type"])
@pytest.mark.parametrize("narrow", ["failures", "one agent's successes"])
def test_a_jump_into_a_narrow_filter_sorted_by_another_column_reads_about_its_own_rows(
    demo: Path, monkeypatch: pytest.MonkeyPatch, sort: str, narrow: str
) -> None:
    """By type, one agent's successes were one segment per type, each a range of successes
    (most of the log) probed for the agent: counting them to skip whole types read it all."""
    monkeypatch.setattr(planner, "SMALL_RESULT", 0)  # first pages walk, as for 35,000 rows at 5M
    if narrow == "failures":
        f = EventFilter(outcome="failure")
    else:
        f = EventFilter(agent_id=some_values(demo)["agent"], outcome="success")
    reader = MirrorReader(demo)
    try:
        expected = reference(reader, all_rows(demo), f, sort, True)
        total = len(expected)
        assert 20 < total < 400  # narrow: a few percent of the 3,000 events
        reader.page(f, sort, True, None, 50)  # the first page (plans and facts cached)
        walk = steps(reader, lambda: reader.page(EventFilter(), sort, True, None, 3_000))
        for at in (total // 3, total // 2 + 1):
            got: list[Row] = []
            jump = partial(reader.page_at, f, sort, True, at, 10, total=total)  # type: ignore[arg-type]
            cost = steps(reader, lambda jump=jump, got=got: got.extend(jump()))
            assert [r.idx for r in got] == expected[at : at + 10]
            assert cost < walk / 4, (sort, at, cost, walk)
    finally:
        reader.close()
