"""The task trail's delegate: paints one timeline row (a group header, a step or a card).

Row heights depend only on the row's kind, so the view lays out thousands of steps without
measuring text; only the visible rows are painted.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from auditlens.core.timestamps import format_timestamp
from auditlens.export.report_html import PALETTE
from auditlens.export.trail_story import Row, Step
from auditlens.export.trail_story import format_duration as duration
from auditlens.ui.resources import icon
from auditlens.ui.task_trail_model import Index, TrailListModel

__all__ = ["TrailDelegate"]

HEADER_HEIGHT = 28
STEP_HEIGHT = 46
CARD_HEIGHT = 54
GUTTER = 118  # time column; the timeline line sits at GUTTER + 10
INDENT = 22

_NAVY = QColor("#1f3a5f")
_MUTED = QColor("#6b7886")
_TEXT = QColor("#1d2733")
_RED = QColor("#c62828")
_DARK_RED = QColor("#8e1b1b")
_VIOLET = QColor("#6a4fb3")
_GREEN = QColor("#2e7d4f")
_DENIED = QColor(PALETTE["denied"][0])
_DENIED_BG = QColor(PALETTE["denied"][1])
_FAILED_BG = QColor(PALETTE["failure"][1])
_LINE = QColor("#cfd8e2")


def _dot_color(step: Step) -> QColor:
    if step.denied:
        return _DENIED
    if step.failed:
        return _RED
    if step.kind == "approval":
        return _VIOLET
    if step.kind in ("task", "other"):
        return _NAVY
    return _GREEN


class TrailDelegate(QStyledItemDelegate):
    """Paints one timeline row; row heights depend only on the row's kind (cheap layout)."""

    def __init__(self, model: TrailListModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._model = model
        self._bold = QFont()
        self._bold.setBold(True)
        self._small = QFont()
        self._small.setPointSizeF(max(self._small.pointSizeF() - 1.0, 7.0))
        self._mono = QFont("DejaVu Sans Mono")
        self._mono.setStyleHint(QFont.StyleHint.Monospace)
        self._mono.setPointSizeF(max(self._mono.pointSizeF() - 1.5, 7.0))
        self._verified = icon("verified")
        self._warning = icon("warning")

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        row = self._model.row_at(index.row())
        if row is None or row.step is None:
            return QSize(400, HEADER_HEIGHT)
        if row.step.kind == "approval" or row.step.flagged:
            return QSize(400, CARD_HEIGHT)
        return QSize(400, STEP_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        row = self._model.row_at(index.row())
        if row is None:
            return
        rect: QRect = option.rect
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        line_x = rect.left() + GUTTER + 10
        if row.step is None:
            self._paint_header(painter, rect, row, line_x)
        else:
            selected = bool(option.state & QStyle.StateFlag.State_Selected)
            self._paint_step(painter, rect, row, row.step, line_x, selected)
        painter.restore()

    def _paint_header(self, painter: QPainter, rect: QRect, row: Row, line_x: int) -> None:
        painter.fillRect(rect, QColor("#f0f4f9"))
        painter.setPen(QPen(_LINE, 2))
        painter.drawLine(line_x, rect.top(), line_x, rect.bottom())
        name = self._model._agent_name(row.agent_id)
        failed = f"  ·  {row.failures} failed" if row.failures else ""
        failed += f"  ·  {row.denials} denied" if row.denials else ""
        text = f"Agent {name} — {row.calls} tool call{'s' if row.calls != 1 else ''}{failed}"
        painter.setFont(self._bold)
        painter.setPen(_DARK_RED if row.failures else _DENIED if row.denials else _NAVY)
        painter.drawText(
            rect.adjusted(GUTTER + 26, 0, -12, 0),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            text,
        )

    def _paint_step(  # noqa: PLR0917 (one call site, all of it is the row's geometry)
        self, painter: QPainter, rect: QRect, row: Row, step: Step, line_x: int, selected: bool
    ) -> None:
        card = step.kind == "approval" or step.flagged
        if selected:
            painter.fillRect(rect, QColor("#d6e4f5"))
        elif step.denied:
            painter.fillRect(rect, _DENIED_BG)
        elif step.failed:
            painter.fillRect(rect, _FAILED_BG)
        else:
            painter.fillRect(rect, QColor("#ffffff"))
        painter.setPen(QPen(QColor("#edf1f5"), 1))
        painter.drawLine(rect.left(), rect.bottom(), rect.right(), rect.bottom())
        # Time gutter: time of day and the gap since the previous step.
        painter.setFont(self._mono)
        painter.setPen(_TEXT)
        top = rect.adjusted(10, 6, 0, 0)
        painter.drawText(top, Qt.AlignmentFlag.AlignLeft, format_timestamp(step.ts)[11:19])
        if step.since_previous_ms is not None:
            painter.setPen(_MUTED)
            painter.drawText(
                rect.adjusted(10, 22, 0, 0),
                Qt.AlignmentFlag.AlignLeft,
                "+" + duration(step.since_previous_ms),
            )
        # The line and the dot.
        painter.setPen(QPen(_LINE, 2))
        painter.drawLine(line_x, rect.top(), line_x, rect.bottom())
        color = _dot_color(step)
        painter.setPen(QPen(QColor("#ffffff"), 2))
        painter.setBrush(color)
        radius = 6 if card or step.kind == "task" else 5
        painter.drawEllipse(line_x - radius, rect.top() + 14 - radius, 2 * radius, 2 * radius)
        left = rect.left() + GUTTER + 26 + INDENT * row.indent
        right = rect.right() - 150
        if card:  # approvals, failures and denials are cards that stand out
            border = _DENIED if step.denied else _DARK_RED if step.failed else _VIOLET
            fill = QColor("#f3f0fa") if not step.flagged else QColor("#fff7f6")
            box = QRect(left - 8, rect.top() + 4, right - left + 16, rect.height() - 8)
            painter.setPen(QPen(border, 1.5 if step.denied else 1))
            painter.setBrush(fill if not selected else QColor("#e6eef9"))
            painter.drawRoundedRect(box, 5, 5)
            painter.fillRect(QRect(box.left(), box.top(), 4, box.height()), border)
            left += 4
        # Headline and details.
        painter.setFont(self._small)
        tag_metrics = QFontMetrics(self._small)
        painter.setPen(color if step.flagged else _MUTED)
        tag = step.type + ("  ✖" if step.flagged else "")
        tag_width = tag_metrics.horizontalAdvance(tag) + 10
        y0 = rect.top() + (10 if card else 6)
        painter.drawText(QRect(left, y0, tag_width, 18), Qt.AlignmentFlag.AlignLeft, tag)
        font = self._bold if (card or step.kind == "task") else option_font(painter)
        painter.setFont(font)
        painter.setPen(color if step.flagged else _TEXT)
        metrics = QFontMetrics(font)
        head_rect = QRect(left + tag_width, y0 - 2, max(right - left - tag_width, 10), 20)
        painter.drawText(
            head_rect,
            Qt.AlignmentFlag.AlignLeft,
            metrics.elidedText(step.headline, Qt.TextElideMode.ElideRight, head_rect.width()),
        )
        if step.details:
            painter.setFont(self._small)
            painter.setPen(_DENIED if step.denied else _MUTED)
            detail = "  ·  ".join(step.details)
            detail_rect = QRect(left, y0 + 18, right - left, 18)
            painter.drawText(
                detail_rect,
                Qt.AlignmentFlag.AlignLeft,
                tag_metrics.elidedText(detail, Qt.TextElideMode.ElideRight, detail_rect.width()),
            )
        # Right: the log index and the verified shield.
        painter.setFont(self._mono)
        painter.setPen(_MUTED)
        painter.drawText(
            QRect(rect.right() - 140, rect.top() + 6, 108, 18),
            Qt.AlignmentFlag.AlignRight,
            f"#{step.idx:,}",
        )
        if step.flagged:  # the verdict in words, in its colour: a refusal is not a failure
            painter.setFont(self._bold)
            painter.setPen(color)
            painter.drawText(
                QRect(rect.right() - 140, rect.top() + 26, 108, 18),
                Qt.AlignmentFlag.AlignRight,
                "DENIED" if step.denied else "FAILED",
            )
        mark = self._verified if step.verified else self._warning
        mark.paint(painter, QRect(rect.right() - 26, rect.top() + 7, 16, 16))


def option_font(painter: QPainter) -> QFont:
    """The painter's default font (the view's font) for ordinary step headlines."""
    font = QFont(painter.font())
    font.setBold(False)
    return font
