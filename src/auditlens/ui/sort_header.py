"""A table header whose sort arrow points the way the rows run: ▲ ascending, ▼ descending.

Qt's styles disagree on the sort indicator: ``QHeaderView`` hands the style ``SortDown`` for
``Qt.AscendingOrder`` and Fusion then draws a downward arrow over oldest-first rows, while
other styles draw the opposite or nothing. An auditor reading "newest first" off the header
must not be misled, so this header asks the style to draw no indicator and paints its own
triangle: pointing up when the rows ascend (oldest, smallest first), down when they descend.
The header's ``sortIndicatorOrder()`` stays the truth the model sorts by.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QPolygonF
from PySide6.QtWidgets import QHeaderView, QStyleOptionHeader, QWidget

from auditlens.ui import theme

ARROW_COLOR = QColor("#51606f")
ARROW_WIDTH = 9  # pixels, base of the triangle
ARROW_MARGIN = 8  # from the section's right edge


def arrow_points(rect: QRect, ascending: bool) -> QPolygonF:
    """The triangle drawn in ``rect`` (a section): apex up when ``ascending``."""
    half = ARROW_WIDTH / 2
    height = ARROW_WIDTH / 2 + 1
    cx = rect.right() - ARROW_MARGIN - half
    cy = rect.center().y() + 0.5
    top, bottom = cy - height / 2, cy + height / 2
    if ascending:
        return QPolygonF([QPointF(cx - half, bottom), QPointF(cx + half, bottom), QPointF(cx, top)])
    return QPolygonF([QPointF(cx - half, top), QPointF(cx + half, top), QPointF(cx, bottom)])


class SortHeader(QHeaderView):
    """Horizontal header that draws ▲ for ascending and ▼ for descending, in every style."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        # What QTableView sets on the header it makes itself (a replaced header lacks it).
        self.setSectionsClickable(True)
        self.setHighlightSections(True)

    def initStyleOptionForIndex(  # noqa: N802 (Qt override)
        self, option: QStyleOptionHeader, logical_index: int
    ) -> None:
        super().initStyleOptionForIndex(option, logical_index)
        # The style draws no arrow (each style draws its own way); paintSection draws ours.
        option.sortIndicator = QStyleOptionHeader.SortIndicator.None_

    def paintSection(  # noqa: N802 (Qt override)
        self, painter: QPainter, rect: QRect, logical_index: int
    ) -> None:
        painter.save()
        super().paintSection(painter, rect, logical_index)
        painter.restore()
        if not self.isSortIndicatorShown() or logical_index != self.sortIndicatorSection():
            return
        ascending = self.sortIndicatorOrder() == Qt.SortOrder.AscendingOrder
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(theme.current().secondary))  # ARROW_COLOR in the light theme
        painter.drawPolygon(arrow_points(rect, ascending))
        painter.restore()
