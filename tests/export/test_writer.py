"""The export writer: what it writes, and what it refuses to write."""

from __future__ import annotations

import csv
import io
import json
import threading
from pathlib import Path

import pandas as pd
import pytest

from auditlens.core.errors import Code
from auditlens.core.note import Checkpoint, generate_keys, sign_checkpoint
from auditlens.export.columns import CSV_COLUMNS
from auditlens.export.verify import verify_file
from auditlens.export.writer import (
    ExportCancelledError,
    ExportOptions,
    ExportRefusedError,
    export,
)
from tests.export.logs import MemoryLog

LOG = MemoryLog(300, seed=9)
SELECTED = list(range(0, 300, 4))


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_json_export_is_one_document_of_the_original_events_in_log_order(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    result = export(LOG.snapshot(SELECTED), ExportOptions("json", path, {"type": ["agent"]}))
    doc = json.loads(path.read_bytes())
    assert doc["events"] == [LOG.events[i] for i in SELECTED]
    assert doc["evidence"]["count"] == result.count == len(SELECTED)
    assert doc["evidence"]["filter"] == {"type": ["agent"]}
    assert doc["evidence"]["exported_at"].endswith("Z")
    assert _leftovers(tmp_path) == ["out.json"]


def test_ndjson_export_has_one_event_per_line_and_a_sidecar(tmp_path: Path) -> None:
    path = tmp_path / "out.ndjson"
    result = export(LOG.snapshot(SELECTED), ExportOptions("ndjson", path, {}))
    lines = path.read_bytes().splitlines()
    assert [json.loads(line) for line in lines] == [LOG.events[i] for i in SELECTED]
    sidecar = json.loads((tmp_path / "out.ndjson.evidence.json").read_bytes())
    assert sidecar["data_file"]["sha256"] == result.sha256
    assert sidecar["data_file"]["name"] == "out.ndjson"
    assert _leftovers(tmp_path) == ["out.ndjson", "out.ndjson.evidence.json"]


def test_csv_export_is_rfc4180_with_every_column_and_reads_back_in_pandas(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.csv"
    export(LOG.snapshot(SELECTED), ExportOptions("csv", path, {}))
    data = path.read_bytes()
    assert data.count(b"\r\n") == len(SELECTED) + 1
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(CSV_COLUMNS)
    assert len(frame) == len(SELECTED)
    assert [json.loads(c) for c in frame["canonical_json"]] == [LOG.events[i] for i in SELECTED]
    assert list(frame["index"].astype(int)) == SELECTED


def test_csv_export_can_start_with_a_bom_and_still_verifies(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    export(LOG.snapshot(SELECTED), ExportOptions("csv", path, {}, bom=True))
    assert path.read_bytes().startswith(b'\xef\xbb\xbf"index"')
    assert verify_file(path, [LOG.vkey]).report.status == "verified"


def test_csv_columns_can_be_chosen_but_canonical_json_is_always_written(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    export(LOG.snapshot(SELECTED), ExportOptions("csv", path, {}, columns=["summary", "id"]))
    header = next(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert header == ["id", "summary", "canonical_json"]
    assert verify_file(path, [LOG.vkey]).report.status == "verified"


def test_an_unknown_csv_column_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown CSV column"):
        export(LOG.snapshot(), ExportOptions("csv", tmp_path / "x.csv", {}, columns=["email"]))
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_an_empty_export_is_written_and_verifies(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"empty.{fmt}"
    result = export(LOG.snapshot([]), ExportOptions(fmt, path, {"task_id": "none"}))
    assert result.count == 0
    report = verify_file(path, [LOG.vkey]).report
    assert report.status == "verified", [str(f) for f in report.findings]


def test_progress_reports_every_chunk_and_ends_at_the_total(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    export(
        LOG.snapshot(SELECTED, chunk=32),
        ExportOptions("json", tmp_path / "p.json", {}),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert len(seen) == 10
    assert seen[-1] == (len(SELECTED), len(SELECTED))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_cancelled_export_leaves_no_file(tmp_path: Path) -> None:
    cancel = threading.Event()

    def stop_after_first(done: int, total: int) -> None:
        cancel.set()

    with pytest.raises(ExportCancelledError):
        export(
            LOG.snapshot(SELECTED, chunk=32),
            ExportOptions("csv", tmp_path / "c.csv", {}),
            progress=stop_after_first,
            cancel=cancel,
        )
    assert _leftovers(tmp_path) == []


def test_an_altered_entry_in_the_copy_refuses_the_export_and_keeps_the_old_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.json"
    path.write_text("previous export")
    snapshot = LOG.snapshot(SELECTED)
    assert b"success" in snapshot.raws[120]
    snapshot.raws[120] = snapshot.raws[120].replace(b"success", b"failure")
    with pytest.raises(ExportRefusedError) as err:
        export(snapshot, ExportOptions("json", path, {}))
    assert err.value.code is Code.INCLUSION_FAILED
    assert path.read_text() == "previous export"
    assert _leftovers(tmp_path) == ["out.json"]


def test_a_hole_in_the_copy_refuses_the_export_naming_the_missing_range(tmp_path: Path) -> None:
    snapshot = LOG.snapshot(SELECTED)
    snapshot.skip = range(100, 104)
    with pytest.raises(ExportRefusedError) as err:
        export(snapshot, ExportOptions("ndjson", tmp_path / "h.ndjson", {}))
    assert err.value.code is Code.EVENT_MISSING
    assert err.value.finding.ranges == ((100, 103),)
    assert _leftovers(tmp_path) == []


def test_a_checkpoint_not_signed_by_the_pinned_key_refuses_the_export(tmp_path: Path) -> None:
    skey, _ = generate_keys("auditlens.test")
    snapshot = LOG.snapshot(SELECTED)
    snapshot.note = sign_checkpoint(Checkpoint(LOG.origin, LOG.size, LOG.root), skey)
    with pytest.raises(ExportRefusedError) as err:
        export(snapshot, ExportOptions("json", tmp_path / "k.json", {}))
    assert err.value.code is Code.UNTRUSTED_KEY
    assert "Nothing was written" in str(err.value)
    assert _leftovers(tmp_path) == []


def test_a_copy_whose_count_changed_during_the_export_is_refused(tmp_path: Path) -> None:
    snapshot = LOG.snapshot(SELECTED)
    snapshot.selected_count = lambda: len(SELECTED) + 1  # type: ignore[method-assign]
    with pytest.raises(ExportRefusedError) as err:
        export(snapshot, ExportOptions("json", tmp_path / "n.json", {}))
    assert err.value.code is Code.EVENT_MISSING
    assert "expected" in err.value.finding.message


def test_the_result_states_count_size_and_hash_of_the_written_file(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "out.csv"
    result = export(LOG.snapshot(SELECTED), ExportOptions("csv", path, {}))
    data = path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.bytes == len(data)
    assert f"{len(SELECTED)} verified event(s)" in result.summary()
