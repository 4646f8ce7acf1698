"""read_task_trail: every entry of one task, in log order, with where each was verified."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest

from auditlens.core.merkle import leaf_hash
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.trail import read_task_trail
from tests.export.trail_seed import RUNNING, TASK, seeded_mirror


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> MirrorReader:
    built = seeded_mirror(tmp_path_factory.mktemp("trail") / "m.sqlite")
    return MirrorReader(built.path)


def test_reads_only_the_tasks_entries_in_log_order(reader: MirrorReader) -> None:
    trail = read_task_trail(reader, TASK)
    indexes = [e.idx for e in trail.entries]
    assert indexes == sorted(indexes)
    assert len(indexes) == 41
    assert all(orjson.loads(e.raw)["task_id"] == TASK for e in trail.entries)


def test_each_entry_carries_its_leaf_hash_and_covering_checkpoint(reader: MirrorReader) -> None:
    trail = read_task_trail(reader, RUNNING)
    assert trail.checkpoint is not None
    for e in trail.entries:
        assert e.leaf_hash == leaf_hash(e.raw)
        assert e.checkpoint_size == trail.checkpoint.size
    assert trail.verified_count == len(trail.entries) == 3
    assert trail.emails["usr_bob"] == "bob@acme.test"
    assert trail.origin == "auditlens.local/acme"


def test_an_entry_beyond_the_checkpoint_is_not_verified(tmp_path: Path) -> None:
    built = seeded_mirror(tmp_path / "m.sqlite")
    conn = sqlite3.connect(built.path)
    raw = b'{"task_id":"tsk_running"}'
    conn.execute(
        "INSERT INTO entries(idx, id, ts, type, category, task_id, outcome, summary, raw) "
        "VALUES (?, 'log_x', 1, 'agent.action', 'agent', ?, 'success', '', ?)",
        (built.size, RUNNING, raw),
    )
    conn.commit()
    conn.close()
    reader = MirrorReader(built.path)
    trail = read_task_trail(reader, RUNNING)
    assert trail.entries[-1].idx == built.size
    assert trail.entries[-1].checkpoint_size is None
    assert trail.verified_count == 3
    reader.close()


def test_an_unknown_task_is_an_empty_trail(reader: MirrorReader) -> None:
    assert read_task_trail(reader, "tsk_nobody").entries == ()


def test_an_empty_task_id_is_refused(reader: MirrorReader) -> None:
    with pytest.raises(ValueError, match="task id"):
        read_task_trail(reader, "  ")
