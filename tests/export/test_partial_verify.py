"""Re-verification proportional to the export: exported tiles re-hashed, stored tile roots for
the rest, the signed root as the judge of both.

The log has 1,500 entries: complete tiles 0-4 (256 entries each) and the partial tile 5
(1280-1499). ``ROWS`` lie in tiles 1 and 2, so an export of them re-hashes tiles 1, 2 and 5
and takes the stored roots of tiles 0, 3 and 4.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import orjson
import pytest

from auditlens.core import merkle
from auditlens.core.errors import Code
from auditlens.export.layout import FORMATS, ExportFormat
from auditlens.export.verify import verify_file
from auditlens.export.writer import (
    ExportOptions,
    ExportRefusedError,
    ExportResult,
    VerifyMode,
    export,
)
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.snapshot import MirrorSnapshot
from auditlens.mirror.writer import MirrorWriter, UserRow, extract_row
from tests.export.logs import MemoryLog

LOG = MemoryLog(1500, seed=11)
ROWS = [300, 301, 310, 700]
EXPORTED_TILES = (1, 2)
STORED_TILES = (0, 3, 4)
PARTIAL = (1280, 1500)
NOW = 1_790_500_000.0


def write_mirror(log: MemoryLog, path: Path, *, tile_hashes: bool = True) -> Path:
    """A mirror as a finished sync leaves it, with (or without) the stored tile roots."""
    crange = merkle.CompactRange()
    crange.extend(log.leaves)
    with MirrorWriter(path) as writer:
        batch = writer.begin(log.size)
        batch.add([extract_row(i, raw, orjson.loads(raw)) for i, raw in enumerate(log.raws)])
        if tile_hashes:
            roots = merkle.perfect_roots(log.leaves, 8)
            batch.add_tile_hashes(list(enumerate(roots)))
        batch.commit(
            checkpoint_note=log.note,
            checkpoint_size=log.size,
            checkpoint_root=log.root,
            frontier=crange.hashes,
            users=[UserRow(uid, email, uid, "member") for uid, email in log.users.items()],
            meta={"origin": log.origin, "vkey": log.vkey},
        )
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_mirror(LOG, tmp_path_factory.mktemp("tiled") / "template.sqlite")


@pytest.fixture
def mirror(template: Path, tmp_path: Path) -> Path:
    """A private copy of the mirror, free to be edited by the test."""
    return Path(shutil.copy(template, tmp_path / "mirror.sqlite"))


def edit(mirror: Path, sql: str, *params: object) -> None:
    with sqlite3.connect(mirror) as conn:
        assert conn.execute(sql, params).rowcount > 0


def tamper(mirror: Path, idx: int) -> None:
    """Change one event's stored bytes (its outcome), as someone editing the file would."""
    with sqlite3.connect(mirror) as conn:
        raw = bytes(conn.execute("SELECT raw FROM entries WHERE idx = ?", (idx,)).fetchone()[0])
        event = orjson.loads(raw)
        event["event"]["outcome"] = (
            "failure" if event["event"]["outcome"] == "success" else "success"
        )
        forged = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
        assert forged != raw
        conn.execute("UPDATE entries SET raw = ? WHERE idx = ?", (forged, idx))


def run(
    mirror: Path,
    out: Path,
    selection: EventFilter | list[int] | None = None,
    mode: VerifyMode = "tiles",
    fmt: ExportFormat = "json",
) -> ExportResult:
    with MirrorSnapshot(mirror, ROWS if selection is None else selection) as snap:
        return export(snap, ExportOptions(fmt, out, {}, verify=mode), now=lambda: NOW)


def refused(mirror: Path, out: Path, mode: VerifyMode = "tiles") -> ExportRefusedError:
    with pytest.raises(ExportRefusedError) as err:
        run(mirror, out, mode=mode)
    assert not out.exists()
    assert sorted(p.name for p in out.parent.iterdir() if p.name.endswith(".part")) == []
    return err.value


# -- what is re-hashed, and what is written ---------------------------------------------------


def test_only_the_tiles_of_exported_events_and_the_last_partial_tile_are_re_hashed(
    mirror: Path, tmp_path: Path
) -> None:
    result = run(mirror, tmp_path / "rows.json")
    assert result.count == len(ROWS)
    assert result.rehashed == 256 * len(EXPORTED_TILES) + (PARTIAL[1] - PARTIAL[0])
    assert result.stored_tiles == len(STORED_TILES)
    assert verify_file(tmp_path / "rows.json", [LOG.vkey]).report.status == "verified"


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_partial_re_verification_writes_the_same_files_as_a_full_one(
    mirror: Path, tmp_path: Path, fmt: ExportFormat
) -> None:
    tiles = run(mirror, tmp_path / f"tiles.{fmt}", fmt=fmt)
    full = run(mirror, tmp_path / f"full.{fmt}", mode="full", fmt=fmt)
    assert full.stored_tiles == 0 and full.rehashed == LOG.size
    assert tiles.sha256 == full.sha256  # same events, same evidence, same proof nodes
    if fmt != "json":
        side = tiles.evidence_path
        assert side is not None and full.evidence_path is not None
        ev_tiles = orjson.loads(side.read_bytes())
        ev_full = orjson.loads(full.evidence_path.read_bytes())
        ev_full["data_file"]["name"] = ev_tiles["data_file"]["name"]
        assert ev_tiles == ev_full


def test_a_task_filter_export_verifies_with_a_few_hundred_entries_re_hashed(
    mirror: Path, tmp_path: Path
) -> None:
    task = str(LOG.events[513]["task_id"])
    result = run(mirror, tmp_path / "task.json", EventFilter(task_id=task))
    wanted = [i for i, e in enumerate(LOG.events) if e["task_id"] == task]
    assert result.count == len(wanted) > 0
    assert result.rehashed < LOG.size // 2
    report = verify_file(tmp_path / "task.json", [LOG.vkey]).report
    assert report.status == "verified"
    assert list(report.evidence.index_array()) == wanted


def test_every_selected_event_across_every_tile_still_re_hashes_everything(
    mirror: Path, tmp_path: Path
) -> None:
    result = run(mirror, tmp_path / "all.json", list(range(LOG.size)))
    assert (result.count, result.rehashed, result.stored_tiles) == (LOG.size, LOG.size, 0)


# -- what is refused ----------------------------------------------------------------------------


def test_a_tampered_exported_entry_is_refused(mirror: Path, tmp_path: Path) -> None:
    tamper(mirror, 301)
    err = refused(mirror, tmp_path / "out.json")
    assert err.code is Code.INCLUSION_FAILED


def test_a_tampered_neighbour_in_an_exported_tile_is_refused(mirror: Path, tmp_path: Path) -> None:
    tamper(mirror, 400)
    assert refused(mirror, tmp_path / "out.json").code is Code.INCLUSION_FAILED


def test_a_tampered_entry_of_the_last_partial_tile_is_refused(mirror: Path, tmp_path: Path) -> None:
    tamper(mirror, 1490)
    assert refused(mirror, tmp_path / "out.json").code is Code.INCLUSION_FAILED


def test_an_edited_stored_tile_hash_is_refused(mirror: Path, tmp_path: Path) -> None:
    edit(mirror, "UPDATE tile_hashes SET hash = ? WHERE n = 3", merkle.leaf_hash(b"forged"))
    err = refused(mirror, tmp_path / "out.json")
    assert err.code is Code.INCLUSION_FAILED
    assert "stored tile hash" in err.finding.message


def test_a_stored_tile_hash_that_is_not_a_hash_is_refused_with_its_range(
    mirror: Path, tmp_path: Path
) -> None:
    edit(mirror, "UPDATE tile_hashes SET hash = ? WHERE n = 4", b"\x00" * 31)
    err = refused(mirror, tmp_path / "out.json")
    assert err.code is Code.INCLUSION_FAILED
    assert err.finding.ranges == ((1024, 1279),)


def test_entries_missing_from_an_exported_tile_are_refused_with_the_range(
    mirror: Path, tmp_path: Path
) -> None:
    edit(mirror, "DELETE FROM entries WHERE idx BETWEEN 320 AND 329")
    err = refused(mirror, tmp_path / "out.json")
    assert err.code is Code.EVENT_MISSING
    assert err.finding.ranges == ((320, 329),)


# -- the deliberate difference from a full re-verification ---------------------------------------


def test_an_edit_outside_the_exported_tiles_does_not_block_the_export(
    mirror: Path, tmp_path: Path
) -> None:
    tamper(mirror, 900)
    result = run(mirror, tmp_path / "out.json")
    assert result.count == len(ROWS)
    assert verify_file(tmp_path / "out.json", [LOG.vkey]).report.status == "verified"


def test_the_full_re_verification_refuses_that_same_edit(mirror: Path, tmp_path: Path) -> None:
    tamper(mirror, 900)
    assert refused(mirror, tmp_path / "out.json", mode="full").code is Code.INCLUSION_FAILED


def test_entries_lost_outside_the_exported_tiles_do_not_block_the_export(
    mirror: Path, tmp_path: Path
) -> None:
    edit(mirror, "DELETE FROM entries WHERE idx BETWEEN 1100 AND 1110")
    assert run(mirror, tmp_path / "out.json").count == len(ROWS)
    assert verify_file(tmp_path / "out.json", [LOG.vkey]).report.status == "verified"


# -- mirrors without (all) tile hashes --------------------------------------------------------


def test_a_mirror_without_tile_hashes_falls_back_to_the_full_re_hash(tmp_path: Path) -> None:
    bare = write_mirror(LOG, tmp_path / "bare.sqlite", tile_hashes=False)
    result = run(bare, tmp_path / "out.json")
    assert (result.rehashed, result.stored_tiles) == (LOG.size, 0)
    assert verify_file(tmp_path / "out.json", [LOG.vkey]).report.status == "verified"
    tamper(bare, 900)
    assert refused(bare, tmp_path / "again.json").code is Code.INCLUSION_FAILED


def test_tiles_whose_hash_is_not_stored_are_re_hashed(mirror: Path, tmp_path: Path) -> None:
    edit(mirror, "DELETE FROM tile_hashes WHERE n = 3")
    result = run(mirror, tmp_path / "out.json")
    assert result.stored_tiles == len(STORED_TILES) - 1
    assert result.rehashed == 256 * (len(EXPORTED_TILES) + 1) + (PARTIAL[1] - PARTIAL[0])
    assert verify_file(tmp_path / "out.json", [LOG.vkey]).report.status == "verified"


def test_a_mirror_file_without_the_tile_hashes_table_falls_back(
    mirror: Path, tmp_path: Path
) -> None:
    with sqlite3.connect(mirror) as conn:
        conn.execute("DROP TABLE tile_hashes")
    result = run(mirror, tmp_path / "out.json")
    assert (result.rehashed, result.stored_tiles) == (LOG.size, 0)
    assert verify_file(tmp_path / "out.json", [LOG.vkey]).report.status == "verified"


def test_the_export_command_chooses_the_re_verification_with_verify(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditlens.cli import main

    tamper(mirror, 900)  # in tile 3 (entries 768-1023)
    with sqlite3.connect(mirror) as conn:
        since = orjson.loads(
            bytes(conn.execute("SELECT raw FROM entries WHERE idx = 1100").fetchone()[0])
        )["timestamp"]
    # Events from index 1100 on live in tiles 4 and 5: the edit is outside what is exported.
    base = ["export", "--mirror", str(mirror), "--format", "json", "--since", since]
    assert main([*base, "--out", str(tmp_path / "tiles.json")]) == 0
    assert main([*base, "--out", str(tmp_path / "full.json"), "--verify", "full"]) == 1
    assert "INCLUSION_FAILED" in capsys.readouterr().err
    assert not (tmp_path / "full.json").exists()
