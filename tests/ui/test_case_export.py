"""Export the case: the starred/annotated events as a verified export, the notes beside it.

Real mirror, real writer, real verifier (and the CLI): an edited note never changes the
evidence verdict, an edited event still fails it.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import orjson
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from auditlens.export.annotations import NOTES_FORMAT, notes_path
from auditlens.export.case_export import export_case
from auditlens.export.commands import exit_code, register, render
from auditlens.export.layout import sidecar_path
from auditlens.export.verify import verify_file
from auditlens.export.writer import ExportOptions
from auditlens.mirror.case_file import CaseFile, CaseFileMismatchError, case_path_for
from auditlens.mirror.records import Row
from auditlens.server.embedded import DemoServer
from auditlens.ui.app import Viewer
from auditlens.ui.export_dialog import ExportDialog
from auditlens.ui.main_window import MainWindow
from tests.export.logs import MemoryLog
from tests.export.mirrors import build_mirror
from tests.ui.conftest import wait_loaded
from tests.ui.mirror_factory import NOW_MS, BuiltMirror
from tests.ui.test_signin_sync import sign_in_and_sync

LOG = MemoryLog(60, seed=5)
STARRED = (3, 17, 41)
NOTES = {17: "Second login from a new IP, 4 minutes after the first", 50: "Look at this later"}


def event_id(idx: int) -> str:
    return str(orjson.loads(LOG.raws[idx])["id"])


@pytest.fixture
def mirror(tmp_path: Path) -> Path:
    path = build_mirror(LOG, tmp_path / "m.sqlite")
    case = CaseFile(case_path_for(path))
    for idx in STARRED:
        case.set_starred(idx, event_id(idx), True)
    for idx, text in NOTES.items():
        case.set_note(idx, event_id(idx), text)
    case.close()
    return path


def export_it(mirror: Path, out: Path, fmt: str = "json") -> Path:
    case = CaseFile(case_path_for(mirror))
    try:
        result = export_case(mirror, case, ExportOptions(fmt, out, {}))  # type: ignore[arg-type]
    finally:
        case.close()
    assert result.export.count == 4 and result.notes == 4
    assert result.notes_path == notes_path(out)
    return out


def test_case_export_is_an_ordinary_verified_export_with_notes_beside_it(
    mirror: Path, tmp_path: Path
) -> None:
    out = export_it(mirror, tmp_path / "case.json")
    freport = verify_file(out, [LOG.vkey])
    assert exit_code(freport) == 0, render(freport)
    ev = freport.report.evidence
    assert ev is not None and list(ev.index_array()) == [3, 17, 41, 50]
    assert ev.filter == {"selected_rows": 4, "indexes": "3, 17, 41, 50"}
    doc = json.loads(notes_path(out).read_text())
    assert doc["format"] == NOTES_FORMAT
    assert "not part of the evidence" in doc["statement"]
    assert [(n["index"], n["starred"], n["note"]) for n in doc["notes"]] == [
        (3, True, ""),
        (17, True, NOTES[17]),
        (41, True, ""),
        (50, False, NOTES[50]),
    ]
    ann = freport.annotations
    assert ann is not None and ann.problem is None
    assert [(n.index, n.attached) for n in ann.notes] == [(i, True) for i in (3, 17, 41, 50)]
    text = render(freport)
    verdict, notes = text.split("UNVERIFIED ANNOTATIONS")
    assert "VERIFIED: all 4 event(s)" in verdict
    assert "COMPLETENESS NOT ATTESTED" in verdict
    assert "NOT part of the evidence" in notes and NOTES[17] in notes
    assert NOTES[17] not in verdict
    as_json = freport.to_dict()["annotations"]
    assert isinstance(as_json, dict) and as_json["status"] == "unverified annotations"


def test_an_edited_note_never_changes_the_verdict_an_edited_event_does(
    mirror: Path, tmp_path: Path
) -> None:
    out = export_it(mirror, tmp_path / "case.json")
    path = notes_path(out)
    doc = json.loads(path.read_text())
    doc["notes"][1]["note"] = "Nothing to see here"
    doc["notes"].append({"index": 5, "event_id": "log_x", "leaf_hash": "AA==", "note": "added"})
    path.write_text(json.dumps(doc))
    freport = verify_file(out, [LOG.vkey])
    assert exit_code(freport) == 0
    assert not freport.report.findings
    ann = freport.annotations
    assert ann is not None
    assert ann.notes[1].text == "Nothing to see here"
    assert (ann.notes[-1].index, ann.notes[-1].attached) == (5, False)
    assert "refers to no event of this export" in render(freport)

    path.write_text("{broken")  # even an unreadable notes file is only reported
    freport = verify_file(out, [LOG.vkey])
    assert exit_code(freport) == 0
    assert freport.annotations is not None and freport.annotations.problem

    data = out.read_bytes()
    assert b'"outcome":"success"' in data
    out.write_bytes(data.replace(b'"outcome":"success"', b'"outcome":"failure"', 1))
    freport = verify_file(out, [LOG.vkey])
    assert exit_code(freport) == 1
    assert "EVENT_MODIFIED" in {str(f.code) for f in freport.report.failures}
    assert freport.annotations is not None  # the notes are still shown, apart


def test_csv_case_export_and_verify_named_by_its_notes_file(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = export_it(mirror, tmp_path / "case.csv", "csv")
    assert sidecar_path(out).exists()
    parser = argparse.ArgumentParser(prog="auditlens")
    register(parser.add_subparsers(dest="command"))
    for named in (out, notes_path(out), sidecar_path(out)):
        args = parser.parse_args(["verify", str(named), "--vkey", LOG.vkey, "--json"])
        assert args.handler(args) == 0
        got = json.loads(capsys.readouterr().out)
        assert got["status"] == "verified"
        assert got["file"] == str(out)
        assert [n["note"] for n in got["annotations"]["notes"]][1] == NOTES[17]
    args = parser.parse_args(["verify", str(out), "--vkey", LOG.vkey])
    assert args.handler(args) == 0
    assert "UNVERIFIED ANNOTATIONS" in capsys.readouterr().out


def test_an_export_without_notes_reports_no_annotations(tmp_path: Path, mirror: Path) -> None:
    out = export_it(mirror, tmp_path / "case.json")
    notes_path(out).unlink()
    freport = verify_file(out, [LOG.vkey])
    assert freport.annotations is None
    assert "ANNOTATIONS" not in render(freport)
    assert freport.to_dict()["annotations"] is None


def test_a_case_file_of_another_log_is_refused(tmp_path: Path) -> None:
    path = build_mirror(LOG, tmp_path / "m.sqlite")
    case = CaseFile(case_path_for(path))
    case.set_starred(7, "log_01OTHERLOGEVENT0000000000", True)
    with pytest.raises(CaseFileMismatchError, match="another log"):
        export_case(path, case, ExportOptions("json", tmp_path / "c.json", {}))
    with pytest.raises(ValueError, match="nothing to export"):
        export_case(
            path,
            CaseFile(tmp_path / "empty.case.db"),
            ExportOptions("json", tmp_path / "d.json", {}),
        )
    case.close()
    assert not (tmp_path / "c.json").exists()


# -- from the Case view, in the real window ------------------------------------------------------


def star_rows(qtbot: QtBot, window: MainWindow, rows: tuple[int, ...]) -> list[Row]:
    starred = []
    for r in rows:
        window.select_row(r)
        window.table.setFocus()
        qtbot.keyClick(window.table, Qt.Key.Key_B)
        row = window.model.row_at(r)
        assert row is not None
        starred.append(row)
    return starred


def export_from_case_view(qtbot: QtBot, window: MainWindow, path: Path) -> ExportDialog:
    window.case.view.setVisible(True)
    qtbot.waitUntil(window.case.view.export_button.isEnabled, timeout=5_000)
    qtbot.mouseClick(window.case.view.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.export_dialog is not None, timeout=5_000)
    dialog = window.export_dialog
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.state == "ready", timeout=10_000)
    assert dialog.windowTitle() == "Export the case"
    assert dialog.format == "json"
    dialog.path_edit.setText(str(path))
    with qtbot.waitSignal(dialog.finished_export, timeout=20_000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    return dialog


def test_export_case_button_writes_verified_events_and_notes(
    qtbot: QtBot, tmp_path: Path, demo_mirror: BuiltMirror
) -> None:
    mirror = tmp_path / "case-demo.sqlite"
    shutil.copyfile(demo_mirror.path, mirror)
    window = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(window)
    window.open_mirror(mirror)
    window.show()
    wait_loaded(qtbot, window)
    rows = star_rows(qtbot, window, (1, 4, 6))
    window.case.save_note(rows[1].idx, rows[1].id, "Same agent, seconds later: scripted?")
    dialog = export_from_case_view(qtbot, window, tmp_path / "case.json")
    note = dialog.findChild(QLabel, "CaseNotesNote")
    assert note is not None and "not part of the evidence" in note.text()
    result = dialog.export_result
    assert result is not None and result.count == 3
    label = dialog.findChild(QLabel, "CaseNotesResult")
    assert label is not None and str(notes_path(result.path)) in label.text()
    assert label.isVisible()
    assert "not evidence" in label.text()
    freport = verify_file(result.path, [demo_mirror.vkey])
    assert exit_code(freport) == 0, render(freport)
    assert sorted(freport.report.evidence.index_array()) == sorted(r.idx for r in rows)  # type: ignore[union-attr]
    ann = freport.annotations
    assert ann is not None and all(n.attached for n in ann.notes)
    assert [n.text for n in ann.notes if n.text] == ["Same agent, seconds later: scripted?"]
    dialog.reject()
    verify = window.show_verify_dialog()  # File -> Verify export… shows the notes apart too
    verify.file_edit.setText(str(result.path))
    verify.vkey_edit.setText(demo_mirror.vkey)
    with qtbot.waitSignal(verify.verified, timeout=10_000):
        verify.start()
    report = verify.report_view.toPlainText()
    assert "VERIFIED: all 3 event(s)" in report.split("UNVERIFIED ANNOTATIONS")[0]
    assert "Same agent, seconds later: scripted?" in report.split("UNVERIFIED ANNOTATIONS")[1]
    verify.close()
    window.runner.wait()


def test_a_signed_in_case_export_is_recorded_without_attestation(
    viewer: Viewer, qtbot: QtBot, server: DemoServer, tmp_path: Path
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    window = viewer.window
    wait_loaded(qtbot, window)
    star_rows(qtbot, window, (2, 3))
    dialog = export_from_case_view(qtbot, window, tmp_path / "signed-case.json")
    assert "rows picked by hand" in dialog.attest_note.text()
    qtbot.waitUntil(lambda: dialog.record_outcome is not None, timeout=10_000)
    assert dialog.record_outcome is not None and dialog.record_outcome.recorded
    assert "recorded as an audit.exported event" in dialog.record_label.text()
    result = dialog.export_result
    assert result is not None
    freport = verify_file(result.path, [server.vkey], origin=server.origin)
    assert exit_code(freport) == 0, render(freport)
    assert freport.report.completeness is None  # a hand-picked set: recorded, not attested
    assert freport.annotations is not None and len(freport.annotations.notes) == 2
    dialog.reject()


def test_case_export_command(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditlens.cli import main

    out = tmp_path / "case.ndjson"
    assert (
        main(["case-export", "--mirror", str(mirror), "--out", str(out), "--format", "ndjson"]) == 0
    )
    printed = capsys.readouterr().out
    assert "Exported 4 verified event(s)" in printed and "not part of the evidence" in printed
    assert main(["verify", str(out), "--vkey", LOG.vkey]) == 0
    assert "UNVERIFIED ANNOTATIONS" in capsys.readouterr().out
    bare = build_mirror(LOG, tmp_path / "bare.sqlite")
    assert main(["case-export", "--mirror", str(bare), "--out", str(tmp_path / "x.json")]) == 2
    assert "no case file" in capsys.readouterr().err
