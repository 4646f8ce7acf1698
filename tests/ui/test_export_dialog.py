"""File -> Export...: the dialog states what it will write, writes verified exports in the
background with Cancel, refuses a mirror that no longer verifies, and records the export on the
server (real mirrors, a real demo server on loopback)."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import QItemSelectionModel, QSettings, Qt
from pytestqt.qtbot import QtBot

from auditlens.core.completeness import Completeness
from auditlens.export.commands import render
from auditlens.export.layout import ExportFormat, sidecar_path
from auditlens.export.preview import estimate_bytes
from auditlens.export.verify import verify_file
from auditlens.export.writer import AttestRequest
from auditlens.mirror.filter import EventFilter
from auditlens.server.embedded import DemoServer
from auditlens.ui.app import Viewer
from auditlens.ui.export_dialog import ExportDialog
from auditlens.ui.export_source import ExportSource
from auditlens.ui.main_window import MainWindow
from auditlens.ui.table_model import TYPE
from auditlens.ui.tasks import TaskRunner
from tests.ui.conftest import wait_loaded
from tests.ui.mirror_factory import NOW_MS, BuiltMirror, event_dict, write_mirror
from tests.ui.test_signin_sync import sign_in_and_sync

AGENT = EventFilter(types=frozenset({"agent"}))
LARGE = 30_000


@pytest.fixture
def runner(qtbot: QtBot) -> Iterator[TaskRunner]:
    r = TaskRunner()
    yield r
    r.wait()


@pytest.fixture(scope="module")
def large_mirror(tmp_path_factory: pytest.TempPathFactory) -> BuiltMirror:
    """More than 10,000 events: the size at which the issue demands progress and Cancel."""
    events = (
        event_dict(NOW_MS - LARGE + i, "agent.action", id_=f"log_{i:026d}", tool="file.write")
        for i in range(LARGE)
    )
    return write_mirror(tmp_path_factory.mktemp("large") / "large.sqlite", events)


def open_dialog(
    qtbot: QtBot, source: ExportSource, runner: TaskRunner, path: Path | None = None
) -> ExportDialog:
    dialog = ExportDialog(source, runner)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.state == "ready", timeout=10_000)
    if path is not None:
        dialog.path_edit.setText(str(path))
    return dialog


def run_export(qtbot: QtBot, dialog: ExportDialog, timeout: int = 20_000) -> object:
    with qtbot.waitSignal(dialog.finished_export, timeout=timeout) as blocker:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    return blocker.args[0]


def test_the_dialog_states_the_count_and_size_before_it_starts(
    window: MainWindow, qtbot: QtBot
) -> None:
    window.apply_filter(AGENT)
    wait_loaded(qtbot, window)
    dialog = window.show_export_dialog()
    assert dialog is not None
    qtbot.addWidget(dialog)
    assert "Counting" in dialog.summary.text()
    assert not dialog.export_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.state == "ready", timeout=10_000)
    count = window.model.count
    assert count is not None and count > 0
    assert dialog.summary.text().startswith(f"{count:,} verified events · about ")
    assert "current filter (type:agent" in dialog.scope.text()  # the query bar's words
    assert dialog.export_button.isEnabled()
    dialog.reject()


def test_the_estimate_follows_format_and_columns(
    qtbot: QtBot, demo_mirror: BuiltMirror, runner: TaskRunner
) -> None:
    dialog = open_dialog(qtbot, ExportSource(demo_mirror.path, AGENT, "agents"), runner)
    csv_all = dialog.estimate()
    dialog.column_boxes["summary"].setChecked(False)
    csv_fewer = dialog.estimate()
    dialog.set_format("ndjson")
    assert not dialog.csv_box.isVisible()
    assert dialog.path.suffix == ".ndjson"
    assert "NDJSON" in dialog.summary.text()
    assert csv_all is not None and csv_fewer is not None
    assert csv_fewer < csv_all
    dialog.reject()


@pytest.mark.parametrize("fmt", ["csv", "json", "ndjson"])
def test_each_format_writes_an_export_that_verifies(
    qtbot: QtBot, demo_mirror: BuiltMirror, runner: TaskRunner, tmp_path: Path, fmt: ExportFormat
) -> None:
    source = ExportSource(demo_mirror.path, AGENT, "agents")
    dialog = open_dialog(qtbot, source, runner, tmp_path / "out.csv")
    dialog.set_format(fmt)
    if fmt == "csv":
        dialog.bom_box.setChecked(True)
        dialog.column_boxes["ip"].setChecked(False)
    assert dialog.path == tmp_path / f"out.{fmt}"
    count = dialog.count
    run_export(qtbot, dialog)
    assert dialog.state == "done"
    result = dialog.export_result
    assert result is not None and result.count == count
    report = verify_file(result.path, [demo_mirror.vkey])
    assert report.report.status == "verified", report.report.findings
    assert report.report.events == count
    assert f"Exported {count:,} events" == dialog.result_title.text()
    assert result.sha256 in dialog.digest_label.text()
    assert str(result.path) in dialog.result_text.text()
    if fmt != "json":
        assert str(sidecar_path(result.path)) in dialog.result_text.text()
    if fmt == "csv":
        assert result.path.read_bytes().startswith(b"\xef\xbb\xbf")
        assert b",ip," not in result.path.read_bytes()[:200]
    qtbot.waitUntil(lambda: dialog.record_outcome is not None)
    assert "Completeness is not attested: not signed in to a server" in dialog.record_label.text()
    assert dialog.attest_note.text().startswith("Completeness will not be attested: not signed in")
    assert [chip.label.text() for chip in dialog.chip_widgets] == ["Type: agent"]
    assert report.report.completeness is None or report.report.completeness.status != "complete"
    # The estimate is rough but of the right magnitude.
    estimate = estimate_bytes(
        fmt, result.count, result.tree_size, dialog.prepared.sample if dialog.prepared else ()
    )
    assert 0.5 < estimate / result.bytes < 2.0


def test_selected_rows_export_only_those(window: MainWindow, qtbot: QtBot, tmp_path: Path) -> None:
    selection = window.table.selectionModel()
    wanted = []
    for row in (0, 2, 5):
        selection.select(
            window.model.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
        r = window.model.row_at(row)
        assert r is not None
        wanted.append(r.idx)
    dialog = window.show_export_dialog()
    assert dialog is not None
    qtbot.addWidget(dialog)
    assert dialog.source.selection == tuple(sorted(wanted))
    assert "3 selected rows" in dialog.scope.text()
    qtbot.waitUntil(lambda: dialog.state == "ready", timeout=10_000)
    assert dialog.summary.text().startswith("3 verified events")
    dialog.path_edit.setText(str(tmp_path / "three.json"))
    dialog.set_format("json")
    run_export(qtbot, dialog)
    report = verify_file(tmp_path / "three.json", [window_vkey(window)])
    assert report.report.status == "verified"
    assert report.report.evidence is not None
    assert [a for a, _ in report.report.evidence.indexes] == sorted(wanted)


def window_vkey(window: MainWindow) -> str:
    conn = sqlite3.connect(window.reader.path)  # type: ignore[union-attr]
    try:
        return str(conn.execute("SELECT value FROM meta WHERE key = 'vkey'").fetchone()[0])
    finally:
        conn.close()


def test_a_large_export_shows_progress_and_cancel_leaves_no_file(
    qtbot: QtBot, large_mirror: BuiltMirror, runner: TaskRunner, tmp_path: Path
) -> None:
    source = ExportSource(large_mirror.path, EventFilter(), "all events")
    dialog = open_dialog(qtbot, source, runner, tmp_path / "all.csv")
    assert dialog.summary.text().startswith(f"{LARGE:,} verified events")
    dialog.start_export()
    worker = dialog.worker
    assert worker is not None
    # Cancel from inside the export thread at its first progress report: deterministic.
    worker.observe(lambda _: worker.cancel())
    assert dialog.progress.isVisible() and dialog.cancel_button.isVisible()
    assert f"of {LARGE:,} events" in dialog.progress_label.text()
    assert not dialog.close_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.state == "cancelled", timeout=20_000)
    assert dialog.result_title.text() == "Export cancelled"
    assert "Nothing was written" in dialog.result_text.text()
    assert list(tmp_path.iterdir()) == []
    assert dialog.export_button.isEnabled()  # the person may retry


def test_the_cancel_button_cancels(
    qtbot: QtBot, large_mirror: BuiltMirror, runner: TaskRunner, tmp_path: Path
) -> None:
    dialog = open_dialog(
        qtbot, ExportSource(large_mirror.path, EventFilter(), "all"), runner, tmp_path / "a.json"
    )
    dialog.set_format("json")
    dialog.start_export()
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.worker is None, timeout=20_000)
    # Either the cancel arrived in time (nothing written) or the export had already finished
    # (a complete, verified file): never a partial file.
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files in ([], ["a.json"])
    if files:
        assert verify_file(tmp_path / "a.json", [large_mirror.vkey]).report.status == "verified"


@pytest.fixture
def tampered(tmp_path: Path, demo_mirror: BuiltMirror) -> Path:
    """A copy of the demo mirror with one stored entry edited after it was verified."""
    path = tmp_path / "tampered.sqlite"
    shutil.copy(demo_mirror.path, path)
    conn = sqlite3.connect(path)
    raw = conn.execute("SELECT raw FROM entries WHERE idx = 42").fetchone()[0]
    edited = bytes(raw).replace(b'"outcome":"failure"', b'"outcome":"success"', 1)
    if edited == bytes(raw):
        edited = bytes(raw).replace(b'"outcome":"success"', b'"outcome":"failure"', 1)
    conn.execute("UPDATE entries SET raw = ? WHERE idx = 42", (edited,))
    conn.commit()
    conn.close()
    return path


def test_a_refused_export_shows_the_code_and_writes_nothing(
    qtbot: QtBot, tampered: Path, tmp_path: Path
) -> None:
    window = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(window)
    window.open_mirror(tampered)
    window.show()
    wait_loaded(qtbot, window)
    out = tmp_path / "out"
    out.mkdir()
    dialog = window.show_export_dialog()
    assert dialog is not None
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.state == "ready", timeout=10_000)
    dialog.path_edit.setText(str(out / "x.json"))
    dialog.set_format("json")
    run_export(qtbot, dialog)
    assert dialog.state == "failed"
    assert dialog.result_title.text() == "Verification failed: INCLUSION_FAILED"
    assert "do not hash to the root signed" in dialog.result_text.text()
    assert "Nothing was written" in dialog.result_text.text()
    assert dialog.result_frame.property("state") == "refused"
    assert window.banner.isVisible()
    assert "INCLUSION_FAILED" in window.banner.code.text()
    assert list(out.iterdir()) == []
    window.runner.wait()
    window.close()


def open_signed_in(qtbot: QtBot, viewer: Viewer) -> ExportDialog:
    """The window's export dialog, ready to export."""
    dialog = viewer.window.show_export_dialog()
    assert dialog is not None
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.state == "ready", timeout=10_000)
    return dialog


def export_signed_in(
    qtbot: QtBot,
    viewer: Viewer,
    path: Path,
    fmt: ExportFormat = "ndjson",
    dialog: ExportDialog | None = None,
) -> ExportDialog:
    """Export to ``path`` from the window's export dialog and wait for the outcome."""
    dialog = dialog or open_signed_in(qtbot, viewer)
    dialog.path_edit.setText(str(path))
    dialog.set_format(fmt)
    run_export(qtbot, dialog)
    qtbot.waitUntil(lambda: dialog.record_outcome is not None, timeout=10_000)
    return dialog


@pytest.mark.parametrize("fmt", ["ndjson", "json"])
def test_a_signed_in_export_is_attested_complete_and_the_next_sync_shows_its_record(
    viewer: Viewer, qtbot: QtBot, server: DemoServer, tmp_path: Path, fmt: ExportFormat
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    window = viewer.window
    wait_loaded(qtbot, window)
    assert window.pinned_vkey == server.vkey and window.export_attester is not None
    dialog = open_signed_in(qtbot, viewer)
    assert [chip.label.text() for chip in dialog.chip_widgets] == ["All events"]
    assert dialog.attest_note.text().startswith("The server will record this export and attest")
    with qtbot.waitSignal(viewer.sync_done, timeout=30_000):  # recorded -> the app syncs
        dialog = export_signed_in(qtbot, viewer, tmp_path / f"everything.{fmt}", fmt, dialog)
    outcome = dialog.record_outcome
    assert outcome is not None and outcome.recorded, outcome
    result = dialog.export_result
    assert result is not None and result.record_index is not None
    assert dialog.record_label.text() == (
        f"✔ Complete: the server attests {result.count:,} events matching this filter at tree "
        f"size {result.tree_size:,} (recorded as an audit.exported event at index "
        f"{result.record_index:,})."
    )
    verified = verify_file(result.path, [server.vkey], origin=server.origin).report
    assert verified.status == "verified", verified.findings
    assert verified.completeness is not None and verified.completeness.status == "complete"
    assert "COMPLETE: the log's own record attests" in render_report(result.path, server)
    session = viewer.session
    assert session is not None
    page = httpx.get(
        f"{server.url}/v1/audit-logs",
        params={"type": "audit.exported", "limit": 10},
        headers={"Authorization": f"Bearer {session.client.token}"},
    ).json()
    recorded = [i for i in page["items"] if i["index"] == result.record_index]
    assert len(recorded) == 1
    event = recorded[0]["event"]
    assert event["user_id"] == session.identity.user.id
    assert event["event"]["format"] == fmt
    assert event["event"]["count"] == result.count
    assert event["event"]["filter"] == {}
    assert event["event"]["attestation"] == "auditlens-completeness/1"
    if fmt == "ndjson":  # a JSON export holds its record, so it cannot know its own hash
        assert event["event"]["sha256"] == result.sha256
    # The sync that followed the record brought the event into the table.
    window.apply_filter(EventFilter(types=frozenset({"audit.exported"})))
    wait_loaded(qtbot, window)
    model = window.model
    types = {model.data(model.index(r, TYPE)) for r in range(model.rowCount())}
    assert "audit.exported" in types
    ids = {row.id for r in range(model.rowCount()) if (row := model.row_at(r)) is not None}
    assert event["id"] in ids


def render_report(path: Path, server: DemoServer) -> str:
    return render(verify_file(path, [server.vkey], origin=server.origin))


def test_a_filter_the_server_cannot_attest_says_why(
    viewer: Viewer, qtbot: QtBot, server: DemoServer, tmp_path: Path
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    window = viewer.window
    window.apply_filter(EventFilter(types=frozenset({"agent"})))
    wait_loaded(qtbot, window)
    ip = next(
        row.ip
        for r in range(window.model.rowCount())
        if (row := window.model.row_at(r)) is not None and row.ip
    )
    window.apply_filter(EventFilter(ip=ip, types=frozenset({"agent"})))
    wait_loaded(qtbot, window)
    dialog = open_signed_in(qtbot, viewer)
    # Before the click: the chips the window shows, the one the server cannot attest marked.
    chips = [chip.label.text() for chip in dialog.chip_widgets]
    assert chips == ["Type: agent", f"⚠ IP {ip}"]
    assert dialog.chip_widgets[1].property("unattested") is True
    forecast = dialog.attest_note.text()
    assert forecast.startswith("Completeness will not be attested: "), forecast
    assert "request addresses" in forecast and "Remove the marked condition" in forecast
    dialog = export_signed_in(qtbot, viewer, tmp_path / "by-ip.ndjson", dialog=dialog)
    result = dialog.export_result
    assert result is not None and result.count > 0 and result.record_index is None
    text = dialog.record_label.text()
    assert text.startswith("⚠ Completeness is not attested: "), text
    assert "request addresses" in text
    verified = verify_file(result.path, [server.vkey], origin=server.origin).report
    assert verified.status == "verified" and verified.completeness is None


def test_selected_rows_are_recorded_but_said_not_attested(
    viewer: Viewer, qtbot: QtBot, server: DemoServer, tmp_path: Path
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    window = viewer.window
    wait_loaded(qtbot, window)
    selection = window.table.selectionModel()
    for row in (0, 3):
        selection.select(
            window.model.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
    dialog = open_signed_in(qtbot, viewer)
    assert [chip.label.text() for chip in dialog.chip_widgets] == ["⚠ 2 selected rows"]
    assert "rows picked by hand have no filter" in dialog.attest_note.text()
    assert "recorded on the server" in dialog.attest_note.text()
    dialog = export_signed_in(qtbot, viewer, tmp_path / "two.json", "json", dialog)
    result = dialog.export_result
    assert result is not None and result.count == 2 and result.record_index is None
    text = dialog.record_label.text()
    assert text.startswith("⚠ Completeness is not attested: a hand-picked selection"), text
    assert "recorded as an audit.exported event at index" in text
    outcome = dialog.record_outcome
    assert outcome is not None and outcome.recorded  # the window syncs the record in
    verified = verify_file(result.path, [server.vkey], origin=server.origin).report
    assert verified.status == "verified" and verified.completeness is None


def test_selected_rows_that_are_not_loaded_are_never_widened_to_the_filter(
    window: MainWindow, qtbot: QtBot
) -> None:
    far = window.model.rowCount() - 1
    assert window.model.row_at(far) is None  # its page was never read
    selection = window.table.selectionModel()
    for row in (0, far):
        selection.select(
            window.model.index(row, 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )
    assert window.show_export_dialog() is None
    assert "not loaded yet" in window.statusBar().currentMessage()


# -- typing a path, switching formats, the remembered folder ----------------------------------


@pytest.fixture
def settings(tmp_path: Path) -> QSettings:
    return QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.mark.parametrize("typed", ["/", "/tmp/", "~/"])
def test_typing_a_folder_instead_of_a_file_says_to_name_the_file(
    qtbot: QtBot, demo_mirror: BuiltMirror, runner: TaskRunner, typed: str
) -> None:
    dialog = open_dialog(qtbot, ExportSource(demo_mirror.path, AGENT, "agents"), runner)
    dialog.path_edit.clear()
    qtbot.keyClicks(dialog.path_edit, typed)  # each character: "/" first, as a person types
    assert dialog.path_note.isVisible()
    assert "Add a file name" in dialog.path_note.text()
    assert not dialog.export_button.isEnabled()
    dialog.reject()


def test_switching_to_json_leaves_no_empty_gaps(
    qtbot: QtBot, demo_mirror: BuiltMirror, runner: TaskRunner
) -> None:
    dialog = open_dialog(qtbot, ExportSource(demo_mirror.path, AGENT, "agents"), runner)
    csv_height = dialog.height()
    dialog.set_format("json")
    qtbot.waitUntil(lambda: dialog.height() <= dialog.sizeHint().height() + 2)
    assert dialog.height() < csv_height - 100  # the CSV columns went, and their room with them
    gap = dialog.export_button.geometry().top() - dialog.form.geometry().bottom()
    assert gap < 60, gap
    dialog.set_format("csv")
    qtbot.waitUntil(dialog.csv_box.isVisible)
    layout = dialog.layout()
    assert layout is not None
    needed = layout.totalHeightForWidth(dialog.width())
    assert dialog.height() >= needed  # and back: nothing squeezed
    dialog.reject()


def test_the_dialog_starts_in_the_folder_of_the_last_export(
    qtbot: QtBot,
    demo_mirror: BuiltMirror,
    runner: TaskRunner,
    tmp_path: Path,
    settings: QSettings,
) -> None:
    source = ExportSource(demo_mirror.path, AGENT, "agents")
    first = ExportDialog(source, runner, settings=settings)
    qtbot.addWidget(first)
    assert first.path.parent == Path.home()  # nothing remembered yet
    first.show()
    qtbot.waitUntil(lambda: first.state == "ready", timeout=10_000)
    folder = tmp_path / "evidence"
    folder.mkdir()
    first.path_edit.setText(str(folder / "case-17.csv"))
    run_export(qtbot, first)
    assert first.state == "done"
    first.reject()

    second = ExportDialog(source, runner, settings=settings)
    qtbot.addWidget(second)
    assert second.path.parent == folder
    second.reject()
    for child in folder.iterdir():
        child.unlink()
    folder.rmdir()
    third = ExportDialog(source, runner, settings=settings)  # a folder since deleted: home
    qtbot.addWidget(third)
    assert third.path.parent == Path.home()
    third.reject()


def test_an_email_prefix_is_marked_as_not_attestable_before_the_export(
    qtbot: QtBot, demo_mirror: BuiltMirror, runner: TaskRunner
) -> None:
    def never(request: AttestRequest) -> Completeness:
        raise AssertionError("no export is made in this test")

    source = ExportSource(
        demo_mirror.path, EventFilter(user_email="ana*", outcome="denied"), "ana's refusals"
    )
    dialog = ExportDialog(source, runner, never)
    qtbot.addWidget(dialog)
    chips = [chip.label.text() for chip in dialog.chip_widgets]
    assert chips == ["⚠ User starts with ana", "Outcome: denied"]
    assert "email prefix" in dialog.chip_widgets[0].toolTip()
    assert dialog.attest_note.text().startswith(
        "Completeness will not be attested: the server cannot attest an email prefix"
    )
    dialog.reject()
