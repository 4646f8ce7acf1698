"""The snapshot collects exactly the indexes the viewer's table shows, with one idx-only read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from auditlens.core.timestamps import parse_timestamp
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.snapshot import MirrorSnapshot
from tests.export.logs import MemoryLog
from tests.export.mirrors import build_mirror

LOG = MemoryLog(900, seed=5)

FILTERS = {
    "everything": EventFilter(),
    "one category": EventFilter(types=frozenset({"agent"})),
    "categories and a type": EventFilter(types=frozenset({"auth", "team", "task.created"})),
    "an email": EventFilter(user_email="USER2@acme.example"),
    "an email nobody has": EventFilter(user_email="nobody@acme.example"),
    "a task": EventFilter(task_id="tsk_42"),
    "task and outcome": EventFilter(task_id="tsk_42", outcome="failure"),
    "user and types": EventFilter(user_id="usr_1", types=frozenset({"agent", "approval"})),
    "a time range": EventFilter(
        since_ms=parse_timestamp("2026-09-21T14:13:30Z"),
        until_ms=parse_timestamp("2026-09-21T14:13:40Z"),
    ),
}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mirror(LOG, tmp_path_factory.mktemp("sel") / "acme.sqlite")


def shown(mirror: Path, f: EventFilter) -> list[int]:
    reader = MirrorReader(mirror)
    try:
        return sorted(r.idx for r in reader.page(f, "idx", False, None, 10_000))
    finally:
        reader.close()


@pytest.mark.parametrize("name", FILTERS)
def test_the_selection_is_what_the_table_shows(mirror: Path, name: str) -> None:
    f = FILTERS[name]
    with MirrorSnapshot(mirror, f) as snap:
        got = list(snap.selected())
        assert snap.selected_count() == len(got)
    assert got == shown(mirror, f)


def test_the_selection_can_be_walked_twice(mirror: Path) -> None:
    with MirrorSnapshot(mirror, FILTERS["one category"]) as snap:
        assert list(snap.selected()) == list(snap.selected()) != []


def test_entries_above_the_checkpoint_are_not_selected(tmp_path: Path) -> None:
    """A sync committing meanwhile may add entries; the export covers the checkpoint only."""
    path = build_mirror(LOG, tmp_path / "grown.sqlite")
    with sqlite3.connect(path) as conn:  # as if a newer checkpoint's entries had just landed
        conn.execute("UPDATE checkpoints SET size = 600")
    with MirrorSnapshot(path, FILTERS["one category"]) as snap:
        got = list(snap.selected())
    assert got == [i for i in shown(path, FILTERS["one category"]) if i < 600]
