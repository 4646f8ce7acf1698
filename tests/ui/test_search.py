"""Free text in the query bar, in the real window: `/`, Enter, Esc, hits in log order, marks."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QTextCursor
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from auditlens.mirror import search
from auditlens.mirror.filter import EventFilter
from auditlens.ui.main_window import MainWindow
from auditlens.ui.query_bar import HIT_BACKGROUND
from auditlens.ui.table_model import HIGHLIGHT_ROLE, PAGE_SIZE, SUMMARY
from tests.ui.conftest import wait_loaded


def run_search(qtbot: QtBot, window: MainWindow, text: str) -> None:
    field = window.query_bar.field
    field.clear()
    qtbot.keyClicks(field, text)
    qtbot.keyClick(field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.model.event_filter.text == text, timeout=3_000)
    wait_loaded(qtbot, window)


def shown_rows(window: MainWindow) -> list[int]:
    rows = [window.model.row_at(r) for r in range(min(window.model.rowCount(), PAGE_SIZE))]
    return [row.idx for row in rows if row is not None]


def test_slash_focuses_the_search_from_the_table(window: MainWindow, qtbot: QtBot) -> None:
    window.activateWindow()
    window.table.setFocus()
    qtbot.waitUntil(lambda: window.table.hasFocus() or QApplication.focusWidget() is not None)
    qtbot.keyClick(window.table, Qt.Key.Key_Slash)
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.query_bar.field)
    assert window.query_bar.field.text() == ""  # the "/" was not typed into it


def test_typing_a_term_shows_only_matching_rows_in_log_order(
    window: MainWindow, qtbot: QtBot
) -> None:
    reader = window.reader
    assert reader is not None
    everything = window.model.count
    run_search(qtbot, window, "pytest")
    count = window.model.count
    assert count is not None and 0 < count < (everything or 0)
    assert count == reader.count(EventFilter(text="pytest"))
    shown = shown_rows(window)
    assert shown and shown == sorted(shown, reverse=True)  # newest first, as the table sorts
    query = search.SearchQuery.parse("pytest")
    for idx in shown:
        record = reader.event(idx)
        assert record is not None and search.matches(query, record.raw), idx
    # Combined with the sidebar: both narrow, the search text stays applied.
    window.filters.set_types({"agent"})
    qtbot.waitUntil(lambda: window.model.event_filter.types == frozenset({"agent"}))
    wait_loaded(qtbot, window)
    assert window.model.event_filter.text == "pytest"
    assert window.model.count == reader.count(
        EventFilter(text="pytest", types=frozenset({"agent"}))
    )
    # Esc clears the search; the sidebar's filter stays.
    window.query_bar.field.setFocus()
    qtbot.keyClick(window.query_bar.field, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: window.model.event_filter.text is None)
    assert window.model.event_filter == EventFilter(types=frozenset({"agent"}))


def test_hits_are_highlighted_in_the_table_and_the_json_pane(
    window: MainWindow, qtbot: QtBot
) -> None:
    run_search(qtbot, window, "pytest")
    model = window.model
    marked = [
        r
        for r in range(min(model.rowCount(), PAGE_SIZE))
        if model.data(model.index(r, SUMMARY), HIGHLIGHT_ROLE)
    ]
    assert marked, "some summary shows the command that matched"
    row = marked[0]
    text = model.data(model.index(row, SUMMARY))
    start, end = model.data(model.index(row, SUMMARY), HIGHLIGHT_ROLE)[0]
    assert text[start:end].lower() == "pytest"
    window.select_row(row)
    shown = model.row_at(row)
    assert shown is not None
    qtbot.waitUntil(
        lambda: window.detail.record is not None and window.detail.record.idx == shown.idx
    )
    document = window.detail.json.document()
    found = document.find("pytest")
    assert not found.isNull()
    block = found.block()
    offset = found.selectionStart() - block.position()
    formats = block.layout().formats()
    assert any(
        f.start <= offset < f.start + f.length
        and f.format.background().color() == QColor(HIT_BACKGROUND)
        for f in formats
    )
    window.detail.json.moveCursor(QTextCursor.MoveOperation.Start)
    window.resize(1400, 820)
    qtbot.wait(100)


def test_the_json_pane_marks_values_not_keys(qtbot: QtBot) -> None:
    from PySide6.QtGui import QTextDocument

    from auditlens.ui.json_view import JsonHighlighter

    document = QTextDocument('  "path": "/srv/path/main.py",')
    highlighter = JsonHighlighter(document)
    highlighter.set_search(search.SearchQuery.parse("path"))
    block = document.firstBlock()
    marked = [
        block.text()[f.start : f.start + f.length]
        for f in block.layout().formats()
        if f.format.background().color() == QColor(HIT_BACKGROUND)
    ]
    assert marked == ["path"]
    assert block.text().index("path", 10) == next(
        f.start
        for f in block.layout().formats()
        if f.format.background().color() == QColor(HIT_BACKGROUND)
    )


def test_a_slash_typed_in_the_search_field_stays_in_it(window: MainWindow, qtbot: QtBot) -> None:
    run_search(qtbot, window, "services/")
    assert window.query_bar.field.text() == "services/"
    assert window.model.count == window.reader.count(EventFilter(text="services/"))  # type: ignore[union-attr]


def test_a_search_exports_every_row_it_shows_with_its_query_line(
    window: MainWindow, qtbot: QtBot, tmp_path: Path
) -> None:
    """The evidence's attested filters cannot state a search, so a search's export is the rows
    of the view (never the sidebar's wider filter), all of them, loaded in the table or not,
    collected off the UI thread; the query line goes with them as information. A search was
    refused before, and then a view was exported only when every row had been scrolled into
    the table."""
    import json

    import pytest

    from auditlens.export.verify import verify_file
    from auditlens.mirror.snapshot import MirrorSnapshot, ViewRows

    line = "acme OR python"
    run_search(qtbot, window, line)
    reader = window.reader
    assert reader is not None
    hits = reader.page(EventFilter(text=line), "ts", False, None, 100_000)
    assert len(hits) > 2 * PAGE_SIZE  # more than the table has loaded
    assert any(window.model.row_at(r) is None for r in range(len(hits)))
    source = window.export_source()
    assert source is not None and source.selection == ViewRows(EventFilter(text=line))
    assert source.query == line
    dialog = window.show_export_dialog()
    assert dialog is not None
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.state == "ready", timeout=10_000)
    assert dialog.summary.text().startswith(f"{len(hits):,} verified events")
    dialog.set_format("json")
    dialog.path_edit.setText(str(tmp_path / "hits.json"))
    with qtbot.waitSignal(dialog.finished_export, timeout=20_000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    exported = json.loads((tmp_path / "hits.json").read_bytes())
    assert [e["id"] for e in exported["events"]] == [row.id for row in hits]
    assert exported["evidence"]["filter"]["selected_rows"] == len(hits)
    assert exported["evidence"]["query"] == line
    assert verify_file(tmp_path / "hits.json", [reader.meta()["vkey"]]).report.verified
    with pytest.raises(ValueError, match="free-text search"):  # never as an attested filter
        MirrorSnapshot(reader.path, EventFilter(text="pytest"))
