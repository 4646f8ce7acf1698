"""Exports from a real mirror file: the filter the viewer uses, re-verification, refusals."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from auditlens.core.errors import Code
from auditlens.core.timestamps import parse_timestamp
from auditlens.export.verify import verify_file
from auditlens.export.writer import ExportOptions, ExportRefusedError, export
from auditlens.mirror.filter import EventFilter, filter_description
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.snapshot import MirrorSnapshot
from tests.export.logs import MemoryLog
from tests.export.mirrors import build_mirror

LOG = MemoryLog(700, seed=3)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mirror(LOG, tmp_path_factory.mktemp("mirror") / "acme.sqlite")


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_a_filtered_export_holds_exactly_what_the_viewer_shows_and_verifies(
    mirror: Path, tmp_path: Path, fmt: str
) -> None:
    f = EventFilter(types=frozenset({"agent"}), outcome="failure")
    reader = MirrorReader(mirror)
    shown = sorted(r.idx for r in reader.page(f, "idx", False, None, 10_000))
    reader.close()
    path = tmp_path / f"agent-failures.{fmt}"
    with MirrorSnapshot(mirror, f) as snap:
        result = export(snap, ExportOptions(fmt, path, filter_description(f)))
    assert result.count == len(shown) > 0
    report = verify_file(path, [LOG.vkey]).report
    assert report.status == "verified", [str(x) for x in report.findings]
    assert [a for a, b in report.evidence.indexes for _ in range(b - a + 1)] == [
        i for a, b in report.evidence.indexes for i in range(a, b + 1)
    ]
    assert list(report.evidence.index_array()) == shown


def test_the_evidence_records_the_filter_with_the_api_names(mirror: Path, tmp_path: Path) -> None:
    f = EventFilter(
        since_ms=parse_timestamp("2026-09-21T14:13:25Z"),
        user_email="user1@acme.example",
        types=frozenset({"agent.action", "task"}),
    )
    path = tmp_path / "u.json"
    with MirrorSnapshot(mirror, f) as snap:
        export(snap, ExportOptions("json", path, filter_description(f)))
    evidence = json.loads(path.read_bytes())["evidence"]
    assert evidence["filter"] == {
        "since": "2026-09-21T14:13:25.000Z",
        "user_email": "user1@acme.example",
        "type": ["agent.action", "task"],
    }
    events = json.loads(path.read_bytes())["events"]
    assert events and all(e["user_id"] == "usr_1" for e in events)


def test_selected_rows_export_only_those_rows(mirror: Path, tmp_path: Path) -> None:
    path = tmp_path / "rows.ndjson"
    with MirrorSnapshot(mirror, [42, 7, 99]) as snap:
        result = export(snap, ExportOptions("ndjson", path, {"rows": "selected"}))
    assert result.count == 3
    lines = [json.loads(x) for x in path.read_bytes().splitlines()]
    assert [e["id"] for e in lines] == [LOG.events[i]["id"] for i in (7, 42, 99)]


def test_the_csv_user_email_column_comes_from_the_mirror_directory(
    mirror: Path, tmp_path: Path
) -> None:
    path = tmp_path / "emails.csv"
    with MirrorSnapshot(mirror, None) as snap:
        export(snap, ExportOptions("csv", path, {}, columns=["user_id", "user_email"]))
    text = path.read_text(encoding="utf-8")
    assert '"usr_3","user3@acme.example"' in text
    assert verify_file(path, [LOG.vkey]).report.status == "verified"


def test_an_edited_mirror_refuses_the_export(tmp_path: Path) -> None:
    path = build_mirror(MemoryLog(300, seed=4), tmp_path / "edited.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE entries SET raw = replace(raw, 'success', 'failure') WHERE idx = 8")
    out = tmp_path / "out.json"
    with MirrorSnapshot(path, None) as snap, pytest.raises(ExportRefusedError) as err:
        export(snap, ExportOptions("json", out, {}))
    assert err.value.code is Code.INCLUSION_FAILED
    assert not out.exists()


def test_a_mirror_missing_entries_refuses_the_export_with_the_range(tmp_path: Path) -> None:
    path = build_mirror(MemoryLog(300, seed=4), tmp_path / "holes.sqlite")
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM entries WHERE idx BETWEEN 250 AND 259")
    with MirrorSnapshot(path, [1, 2]) as snap, pytest.raises(ExportRefusedError) as err:
        export(snap, ExportOptions("csv", tmp_path / "h.csv", {}))
    assert err.value.code is Code.EVENT_MISSING
    assert err.value.finding.ranges == ((250, 259),)


def test_a_mirror_without_a_checkpoint_cannot_export(tmp_path: Path) -> None:
    from auditlens.mirror.writer import MirrorWriter

    path = tmp_path / "new.sqlite"
    MirrorWriter(path).close()
    with pytest.raises(ExportRefusedError, match="sync first"):
        MirrorSnapshot(path, None)
