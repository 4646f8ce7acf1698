"""The header's sort arrow tells the truth: ▲ over ascending rows, ▼ over descending rows."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHeaderView
from pytestqt.qtbot import QtBot

from auditlens.ui.main_window import MainWindow
from auditlens.ui.sort_header import ARROW_MARGIN, ARROW_WIDTH
from auditlens.ui.table_model import SUMMARY, TIME, TYPE
from tests.ui.conftest import wait_loaded


def drawn_arrow(header: QHeaderView, section: int) -> str | None:
    """ "up", "down" or None: the triangle as painted at the right end of ``section``."""
    image = header.grab().toImage()
    right = header.sectionViewportPosition(section) + header.sectionSize(section)
    left = right - ARROW_MARGIN - ARROW_WIDTH - 4
    widths = []
    for y in range(image.height()):
        dark = sum(
            1 for x in range(max(left, 0), right - 2) if QColor(image.pixel(x, y)).lightness() < 120
        )
        if dark:
            widths.append(dark)
    if len(widths) < 3:
        return None
    return "up" if widths[-1] > widths[0] else "down"


def click_header(qtbot: QtBot, window: MainWindow, section: int) -> None:
    header = window.table.horizontalHeader()
    x = header.sectionViewportPosition(section) + 20
    qtbot.mouseClick(
        header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, header.height() // 2)
    )


def times(window: MainWindow, n: int = 50) -> list[int]:
    rows = [window.model.row_at(r) for r in range(n)]
    return [row.ts for row in rows if row is not None]


def test_the_first_view_is_newest_first_with_a_down_arrow(window: MainWindow) -> None:
    header = window.table.horizontalHeader()
    assert header.sortIndicatorSection() == TIME
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    ts = times(window)
    assert ts == sorted(ts, reverse=True) and ts[0] > ts[-1]
    assert drawn_arrow(header, TIME) == "down"


def test_clicking_time_shows_oldest_first_under_an_up_arrow(
    window: MainWindow, qtbot: QtBot
) -> None:
    header = window.table.horizontalHeader()
    click_header(qtbot, window, TIME)
    qtbot.waitUntil(lambda: not window.model.descending)
    wait_loaded(qtbot, window)
    assert header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    ts = times(window)
    assert ts == sorted(ts) and ts[0] < ts[-1]
    assert drawn_arrow(header, TIME) == "up"
    click_header(qtbot, window, TIME)  # and back: newest first, arrow down
    qtbot.waitUntil(lambda: window.model.descending)
    wait_loaded(qtbot, window)
    assert drawn_arrow(header, TIME) == "down"
    assert times(window) == sorted(times(window), reverse=True)


def test_the_arrow_moves_to_the_column_the_rows_are_sorted_by(
    window: MainWindow, qtbot: QtBot
) -> None:
    header = window.table.horizontalHeader()
    click_header(qtbot, window, TYPE)
    qtbot.waitUntil(lambda: window.model.sort_section == TYPE)
    wait_loaded(qtbot, window)
    types = [window.model.data(window.model.index(r, TYPE)) for r in range(50)]
    ascending = header.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
    assert types == sorted(types, reverse=not ascending)
    assert drawn_arrow(header, TYPE) == ("up" if ascending else "down")
    assert drawn_arrow(header, TIME) is None


def test_clicking_summary_keeps_the_arrow_and_the_order(window: MainWindow, qtbot: QtBot) -> None:
    header = window.table.horizontalHeader()
    click_header(qtbot, window, SUMMARY)
    assert header.sortIndicatorSection() == TIME
    assert header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
    assert window.model.sort_section == TIME and window.model.descending
    assert drawn_arrow(header, TIME) == "down"
    assert drawn_arrow(header, SUMMARY) is None
