"""Free text in the query bar, in the real window: `/`, Enter, Esc, hits in log order, marks."""

from __future__ import annotations

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


def test_a_search_exports_as_the_rows_it_shows_with_its_query_line(
    window: MainWindow, qtbot: QtBot
) -> None:
    """The evidence's attested filters cannot state a search, so a search's export is the rows
    of the view (never the sidebar's wider filter), and the query line goes with it as
    information (it was refused before)."""
    import pytest

    from auditlens.mirror.snapshot import MirrorSnapshot

    run_search(qtbot, window, "pytest OR ruff")
    assert window.reader is not None
    hits = window.reader.page(EventFilter(text="pytest OR ruff"), limit=100_000)
    qtbot.waitUntil(lambda: window.model.rowCount() == len(hits) > 0)
    qtbot.waitUntil(lambda: all(window.model.row_at(r) for r in range(len(hits))))
    source = window.export_source()
    assert source is not None and not isinstance(source.selection, EventFilter)
    assert list(source.selection) == sorted(row.idx for row in hits)
    assert source.query == "pytest OR ruff"
    assert source.filter_record["selected_rows"] == len(hits)
    with pytest.raises(ValueError, match="free-text search"):
        MirrorSnapshot(window.reader.path, EventFilter(text="pytest"))
