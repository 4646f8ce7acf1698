"""File -> Verify export...: the command line's report in a dialog, with a header that says
pass or fail at a glance (real exports of a real mirror, verified offline)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFontInfo
from pytestqt.qtbot import QtBot

from auditlens.core import note
from auditlens.export.commands import render
from auditlens.export.verify import verify_file
from auditlens.export.writer import ExportOptions, export
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.snapshot import MirrorSnapshot
from auditlens.ui.main_window import MainWindow
from auditlens.ui.tasks import TaskRunner
from auditlens.ui.verify_dialog import VerifyDialog
from tests.ui.mirror_factory import BuiltMirror


@pytest.fixture
def runner() -> Iterator[TaskRunner]:
    r = TaskRunner()
    yield r
    r.wait()


@pytest.fixture
def exported(tmp_path: Path, demo_mirror: BuiltMirror) -> Path:
    """A JSON export of the demo mirror's failures."""
    path = tmp_path / "failures.json"
    with MirrorSnapshot(demo_mirror.path, EventFilter(outcome="failure")) as snapshot:
        export(snapshot, ExportOptions("json", path, {"outcome": "failure"}))
    return path


def verify(qtbot: QtBot, dialog: VerifyDialog, path: Path) -> None:
    dialog.set_file(path)
    with qtbot.waitSignal(dialog.verified, timeout=10_000):
        qtbot.mouseClick(dialog.verify_button, Qt.MouseButton.LeftButton)


def make_dialog(qtbot: QtBot, runner: TaskRunner, vkey: str | None) -> VerifyDialog:
    dialog = VerifyDialog(runner, vkey, "auditlens.local/acme")
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_the_key_field_holds_the_pinned_key_and_says_so(
    qtbot: QtBot, runner: TaskRunner, demo_mirror: BuiltMirror
) -> None:
    dialog = make_dialog(qtbot, runner, demo_mirror.vkey)
    assert dialog.vkey_edit.text() == demo_mirror.vkey
    assert not dialog.vkey_edit.isReadOnly()
    assert "pinned for the current server of auditlens.local/acme" in dialog.vkey_note.text()
    assert not dialog.verify_button.isEnabled()  # no file yet


def test_a_good_export_passes_with_the_clis_report(
    qtbot: QtBot, runner: TaskRunner, demo_mirror: BuiltMirror, exported: Path
) -> None:
    dialog = make_dialog(qtbot, runner, demo_mirror.vkey)
    verify(qtbot, dialog, exported)
    assert dialog.state == "pass"
    assert dialog.header.text().startswith("✔ VERIFIED — all ")
    expected = render(verify_file(exported, [demo_mirror.vkey]))
    assert dialog.report_view.toPlainText() == expected
    assert QFontInfo(dialog.report_view.font()).fixedPitch()  # monospace, like a terminal


def test_a_tampered_export_fails_with_its_code(
    qtbot: QtBot, runner: TaskRunner, demo_mirror: BuiltMirror, exported: Path
) -> None:
    lines = exported.read_bytes().split(b"\n")
    lines[3] = lines[3].replace(b'"outcome":"failure"', b'"outcome":"success"', 1)
    exported.write_bytes(b"\n".join(lines))
    dialog = make_dialog(qtbot, runner, demo_mirror.vkey)
    verify(qtbot, dialog, exported)
    assert dialog.state == "fail"
    assert dialog.header.text() == "✘ FAILED — EVENT_MODIFIED"
    assert "EVENT_MODIFIED" in dialog.report_view.toPlainText()
    assert "FAILED: 1 problem(s)" in dialog.report_view.toPlainText()


def test_another_key_is_untrusted(
    qtbot: QtBot, runner: TaskRunner, demo_mirror: BuiltMirror, exported: Path
) -> None:
    _, other = note.generate_keys("auditlens.local")
    dialog = make_dialog(qtbot, runner, demo_mirror.vkey)
    dialog.vkey_edit.setText(other)
    verify(qtbot, dialog, exported)
    assert dialog.state == "fail"
    assert "UNTRUSTED_KEY" in dialog.header.text()


def test_without_a_key_the_file_is_not_verified(
    qtbot: QtBot, runner: TaskRunner, exported: Path
) -> None:
    dialog = make_dialog(qtbot, runner, None)
    assert "No pinned key" in dialog.vkey_note.text()
    verify(qtbot, dialog, exported)
    assert dialog.state == "unverified"
    assert dialog.header.text().startswith("NOT VERIFIED")


def test_a_missing_file_says_it_cannot_be_checked(
    qtbot: QtBot, runner: TaskRunner, tmp_path: Path
) -> None:
    dialog = make_dialog(qtbot, runner, None)
    verify(qtbot, dialog, tmp_path / "nope.json")
    assert dialog.state == "fail"
    assert dialog.header.text() == "✘ Could not check the file"
    assert "does not exist" in dialog.report_view.toPlainText()


def test_the_file_menu_opens_it_with_the_pinned_key(window: MainWindow, qtbot: QtBot) -> None:
    window.pinned_vkey = "example.org+01234567+AAAA"
    window.verify_export_action.trigger()
    dialog = window.verify_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.vkey_edit.text() == "example.org+01234567+AAAA"
    menu_titles = [a.text() for a in window.menuBar().actions()]
    assert "&File" in menu_titles
    dialog.close()
