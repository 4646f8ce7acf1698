"""The case file: bookmarks, notes and saved searches beside a mirror, never inside it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from auditlens.mirror.case_file import (
    CaseFile,
    CaseFileError,
    CaseFileMismatchError,
    SavedSearch,
    case_path_for,
)

ID_A = "log_01KH0000000000000000000AAA"
ID_B = "log_01KH0000000000000000000BBB"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return case_path_for(tmp_path / "mirror.sqlite")


def test_beside_the_mirror_and_private(path: Path, tmp_path: Path) -> None:
    assert path == tmp_path / "mirror.case.db"
    assert not path.match("*.sqlite")  # `auditlens export` finds a lone mirror as *.sqlite
    case = CaseFile(path)
    case.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_star_and_note_survive_reopen(path: Path) -> None:
    case = CaseFile(path)
    case.toggle_star(7, ID_A)
    case.set_note(7, ID_A, "the key was used from a new IP")
    case.set_note(3, ID_B, "first sign")
    case.close()

    again = CaseFile(path)
    note = again.annotation(7, ID_A)
    assert note.starred and note.note == "the key was used from a new IP"
    assert [(a.idx, a.starred) for a in again.annotations()] == [(3, False), (7, True)]
    assert again.starred_indexes() == {7}
    again.close()


def test_blank_annotation_is_dropped(path: Path) -> None:
    case = CaseFile(path)
    case.toggle_star(5, ID_A)
    case.toggle_star(5, ID_A)
    assert case.annotations() == []
    case.set_note(5, ID_A, "x")
    case.set_note(5, ID_A, "  ")
    assert case.annotations() == []
    case.close()


def test_keyed_by_index_and_id(path: Path) -> None:
    """A note stored for one event never shows on, nor is overwritten by, another event."""
    case = CaseFile(path)
    case.set_note(9, ID_A, "about A")
    with pytest.raises(CaseFileMismatchError, match=f"{ID_A}.*{ID_B}"):
        case.annotation(9, ID_B)
    with pytest.raises(CaseFileMismatchError):
        case.set_note(9, ID_B, "about B")
    with pytest.raises(CaseFileMismatchError):
        case.toggle_star(9, ID_B)
    assert case.annotation(9, ID_A).note == "about A"
    case.close()


def test_saved_searches(path: Path) -> None:
    case = CaseFile(path)
    case.save_search("denied keys", {"types": ["apikey.created"], "outcome_index": 3})
    case.save_search("alice", {"texts": [["user", "alice@"]]})
    case.rename_search("alice", "Alice's week")
    with pytest.raises(ValueError, match="exists already"):
        case.rename_search("Alice's week", "denied keys")
    with pytest.raises(ValueError, match="needs a name"):
        case.save_search("  ", {})
    case.close()

    again = CaseFile(path)
    assert again.saved_searches() == [
        SavedSearch("Alice's week", {"texts": [["user", "alice@"]]}),
        SavedSearch("denied keys", {"types": ["apikey.created"], "outcome_index": 3}),
    ]
    again.delete_search("denied keys")
    assert [s.name for s in again.saved_searches()] == ["Alice's week"]
    again.close()


def test_newer_format_refused(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(CaseFileError, match="newer"):
        CaseFile(path)


def test_unusable_path_is_a_case_file_error(tmp_path: Path) -> None:
    """The viewer reports it (stars and notes off) without knowing about SQLite."""
    with pytest.raises(CaseFileError, match="missing"):
        CaseFile(tmp_path / "missing" / "m.case.db")
