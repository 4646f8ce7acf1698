"""The printout's layout engine: styled text, paragraphs and tables cut into pages.

Pure layout over Qt's font metrics, with no knowledge of tasks or reports
(:mod:`auditlens.export.report_pdf` says what to print). Geometry is in device units of the
PDF (``PT`` per point). A cell is a tuple of ``(text, style)`` spans (the printout's styles,
fonts and colours are the table below); a block (:class:`Flow`) is a paragraph, a gap or a
table; :func:`paginate` places blocks on pages so that rows never split, table headers repeat
on each page and headings stay with what follows; :func:`draw_run` paints one page's share of
a block.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPdfWriter,
    QPen,
    QTextCharFormat,
    QTextLayout,
    QTextOption,
)

from auditlens.export.report_html import PALETTE

__all__ = [
    "PT",
    "Cell",
    "Column",
    "Flow",
    "Gap",
    "Page",
    "Paragraph",
    "Span",
    "Table",
    "TableRow",
    "Typesetter",
    "draw_run",
    "paginate",
]

DPI = 288  # device units per inch; geometry is in points times PT
PT = DPI / 72
_PAD_X = 3.0  # cell padding, points
_PAD_Y = 1.2
_WRAP_SHARE = 0.35  # the page width the wrapping columns keep at least

_STYLES: dict[str, tuple[str, float, bool, str]] = {
    # style: (family, size in points, bold, colour)
    "body": ("sans", 8.0, False, "#1d2733"),
    "bold": ("sans", 8.0, True, "#1d2733"),
    "muted": ("sans", 7.0, False, "#51606f"),
    "mono": ("mono", 7.0, False, "#1d2733"),
    "head": ("sans", 7.5, True, "#33414f"),
    "group": ("sans", 8.0, True, "#1f3a5f"),
    "h2": ("sans", 11.0, True, "#1f3a5f"),
    "title": ("sans", 15.0, True, "#1f3a5f"),
    "failed": ("sans", 8.0, True, PALETTE["failure"][0]),
    "denied": ("sans", 8.0, True, PALETTE["denied"][0]),
    "footer": ("sans", 6.5, False, "#51606f"),
}
_FAMILIES = {"sans": "DejaVu Sans", "mono": "DejaVu Sans Mono"}

Span = tuple[str, str]  # (text, style); "\n" in the text starts a new line
Cell = tuple[Span, ...]


# ---------------------------------------------------------------------------------------------
# Text


class Typesetter:
    """Fonts and metrics bound to the PDF's resolution; measures and draws cells."""

    def __init__(self, device: QPdfWriter) -> None:
        self.device = device
        self.fonts: dict[str, QFont] = {}
        self.metrics: dict[str, QFontMetricsF] = {}
        self.formats: dict[str, QTextCharFormat] = {}
        self.colors: dict[str, QColor] = {}
        for name, (family, size, bold, color) in _STYLES.items():
            font = QFont(_FAMILIES[family])
            font.setStyleHint(
                QFont.StyleHint.Monospace if family == "mono" else QFont.StyleHint.SansSerif
            )
            font.setPointSizeF(size)
            font.setBold(bold)
            font = QFont(font, device)
            self.fonts[name] = font
            self.metrics[name] = QFontMetricsF(font, device)
            self.colors[name] = QColor(color)
            fmt = QTextCharFormat()
            fmt.setFont(font)
            fmt.setForeground(self.colors[name])
            self.formats[name] = fmt
        # Widths of the texts measured so far, keyed "style\0text": a cell is measured to size
        # its column, its row and to draw it, and many texts repeat (outcomes, people, types).
        # Plain strings and floats, which the garbage collector does not track.
        self._widths: dict[str, float] = {}

    def advance(self, text: str, style: str) -> float:
        key = f"{style}\0{text}"
        width = self._widths.get(key)
        if width is None:
            width = self._widths[key] = self.metrics[style].horizontalAdvance(text)
        return width

    def natural_width(self, cell: Cell) -> float:
        """The width of ``cell`` on one line (its widest line), device units."""
        widest = line = 0.0
        for text, style in cell:
            parts = text.split("\n")
            for n, part in enumerate(parts):
                if n:
                    widest, line = max(widest, line), 0.0
                line += self.advance(part, style)
        return max(widest, line)

    def _one_line(self, cell: Cell, width: float) -> bool:
        return all("\n" not in t for t, _ in cell) and self.natural_width(cell) <= width

    def height(self, cell: Cell, width: float) -> float:
        """The height of ``cell`` drawn at ``width`` (what :meth:`draw` will take)."""
        if self._one_line(cell, width):
            return max(self.metrics[style].height() for _, style in cell)
        return self._layout(cell, width)[1]

    def draw(self, painter: QPainter, cell: Cell, x: float, y: float, width: float) -> float:
        """Draw ``cell`` in ``width`` from ``(x, y)``; return the width its text took."""
        if self._one_line(cell, width):  # the common case: runs drawn one after the other
            ascent = max(self.metrics[style].ascent() for _, style in cell)
            left = x
            for text, style in cell:
                painter.setFont(self.fonts[style])
                painter.setPen(self.colors[style])
                painter.drawText(QPointF(left, y + ascent), text)
                left += self.advance(text, style)
            return left - x
        layout, _height, widest = self._layout(cell, width)
        layout.draw(painter, QPointF(x, y))
        return widest

    def _layout(self, cell: Cell, width: float) -> tuple[QTextLayout, float, float]:
        """``cell`` wrapped at ``width`` (at words, or anywhere in a word wider than that)."""
        text = "".join(t for t, _ in cell).replace("\n", "\u2028")
        layout = QTextLayout(text, self.fonts[cell[0][1]], self.device)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        layout.setTextOption(option)
        ranges = []
        start = 0
        for part, style in cell:
            fr = QTextLayout.FormatRange()
            fr.start, fr.length, fr.format = start, len(part), self.formats[style]
            ranges.append(fr)
            start += len(part)
        layout.setFormats(ranges)
        layout.beginLayout()
        y = widest = 0.0
        while True:
            line = layout.createLine()
            if not line.isValid():
                break
            line.setLineWidth(width)
            line.setPosition(QPointF(0, y))
            y += line.height()
            widest = max(widest, line.naturalTextWidth())
        layout.endLayout()
        return layout, y, widest


# ---------------------------------------------------------------------------------------------
# Flow: blocks cut into pages
#
# Why so little is kept per row: the PDF is made on a worker thread, and every object it keeps
# alive counts towards CPython's full garbage collections, which hold the interpreter lock (so
# freeze the UI thread) for as long as they take. A table keeps its rows' heights in an array
# and rebuilds each row's cells when it paints them; a 5,000-step task leaves a few hundred
# objects, not hundreds of thousands.


class Flow:
    """A block of the report: ``units`` rows (1 for a paragraph), optionally with a header."""

    #: Keep on the page of the block that follows (headings).
    keep_with_next = False
    #: Start on a new page unless the whole block fits (short tables that read as one).
    keep_whole = False
    head_height = 0.0

    def units(self) -> int:
        return 1

    def unit_height(self, unit: int) -> float:
        raise NotImplementedError

    def draw_head(self, painter: QPainter, y: float) -> None:
        """Draw the header row (repeated at the top of each page the block runs over)."""

    def draw_unit(self, painter: QPainter, unit: int, y: float) -> None:
        raise NotImplementedError


class Gap(Flow):
    """Vertical space; dropped at the top of a page."""

    def __init__(self, points: float) -> None:
        self.height = points * PT

    def unit_height(self, unit: int) -> float:
        return self.height

    def draw_unit(self, painter: QPainter, unit: int, y: float) -> None:
        pass


class Paragraph(Flow):
    def __init__(
        self, ts: Typesetter, cell: Cell, width: float, keep: bool = False, below: float = 0.0
    ) -> None:
        self.ts, self.cell, self.width, self.keep_with_next = ts, cell, width, keep
        self.height = ts.height(cell, width) + below * PT

    def unit_height(self, unit: int) -> float:
        return self.height

    def draw_unit(self, painter: QPainter, unit: int, y: float) -> None:
        self.ts.draw(painter, self.cell, 0.0, y, self.width)


@dataclass(frozen=True)
class Column:
    title: str
    align: Literal["left", "right"] = "left"
    wrap: bool = False  # takes the width the other columns leave


@dataclass(frozen=True)
class TableRow:
    cells: tuple[Cell, ...]  # one per column, or one cell spanning every column
    tint: str | None = None


class Table(Flow):
    """A table as wide as the page; only its ``wrap`` columns wrap.

    ``row_at(n)`` builds row ``n`` (called once to measure, once to paint).
    """

    def __init__(
        self,
        ts: Typesetter,
        columns: Sequence[Column],
        count: int,
        row_at: Callable[[int], TableRow],
        width: float,
        *,
        header: bool = True,
        rules: bool = True,
    ) -> None:
        self.ts, self.columns, self.count, self.row_at = ts, columns, count, row_at
        self.width = width
        self.head = TableRow(tuple(((c.title, "head"),) for c in columns), "#eef2f6")
        self.header = header
        self.rule = QColor("#dfe5ec") if rules else None
        pad = 2 * _PAD_X * PT
        natural = [0.0] * len(columns)
        for n in range(-1 if header else 0, count):
            row = self.head if n < 0 else row_at(n)
            if len(row.cells) != len(columns):
                continue  # a spanning row does not size the columns
            for c, cell in enumerate(row.cells):
                if not columns[c].wrap:
                    natural[c] = max(natural[c], ts.natural_width(cell) + pad)
        wrapping = [n for n, c in enumerate(columns) if c.wrap]
        widths = _fit(natural, width * (1.0 - _WRAP_SHARE) if wrapping else width)
        rest = width - sum(widths)
        for n in wrapping:
            widths[n] = rest / len(wrapping)
        if not wrapping:
            widths[-1] += rest
        self.widths = widths
        self.xs = [sum(widths[:n]) for n in range(len(widths))]
        self.heights = array("d", (self._height(row_at(n)) for n in range(count)))
        self.head_height = self._height(self.head) if header else 0.0

    def _spans(self, row: TableRow) -> list[tuple[Cell, float, float, str]]:
        """Each cell of ``row`` with its column's x, width and alignment."""
        if len(row.cells) == 1 and len(self.columns) > 1:
            return [(row.cells[0], 0.0, self.width, "left")]
        return [
            (cell, self.xs[n], self.widths[n], self.columns[n].align)
            for n, cell in enumerate(row.cells)
        ]

    def _height(self, row: TableRow) -> float:
        pad = 2 * _PAD_X * PT
        tallest = max(self.ts.height(cell, w - pad) for cell, _x, w, _a in self._spans(row))
        return tallest + 2 * _PAD_Y * PT

    def units(self) -> int:
        return self.count

    def unit_height(self, unit: int) -> float:
        return self.heights[unit]

    def draw_head(self, painter: QPainter, y: float) -> None:
        if self.header:
            self._draw(painter, self.head, y, self.head_height)

    def draw_unit(self, painter: QPainter, unit: int, y: float) -> None:
        self._draw(painter, self.row_at(unit), y, self.heights[unit])

    def _draw(self, painter: QPainter, row: TableRow, y: float, height: float) -> None:
        if row.tint:
            painter.fillRect(QRectF(0, y, self.width, height), QColor(row.tint))
        pad_x, pad_y = _PAD_X * PT, _PAD_Y * PT
        for cell, x, width, align in self._spans(row):
            inner = width - 2 * pad_x
            shift = 0.0
            if align == "right" and self.ts.natural_width(cell) <= inner:
                shift = inner - self.ts.natural_width(cell)
            self.ts.draw(painter, cell, x + pad_x + shift, y + pad_y, inner)
        if self.rule is not None:
            painter.setPen(QPen(self.rule, 0.5 * PT))
            painter.drawLine(QPointF(0, y + height), QPointF(self.width, y + height))


def _fit(widths: Sequence[float], budget: float) -> list[float]:
    """``widths`` capped at one common width so that they sum to at most ``budget``.

    Only the widest columns give way, and only as much as needed: a column of emails next to a
    column of free text keeps its emails on one line unless they alone would fill the page.
    """
    if sum(widths) <= budget:
        return list(widths)
    remaining, left = budget, len(widths)
    cap = 0.0
    for w in sorted(widths):
        if w * left >= remaining:
            cap = remaining / left
            break
        remaining -= w
        left -= 1
    return [min(w, cap) for w in widths]


#: One page: ``(y, block, first unit, end unit)`` runs, each under the block's header row.
Page = list[tuple[float, Flow, int, int]]


def _first_height(flows: Sequence[Flow], n: int) -> float:
    """What must fit on a page for block ``n`` to start there (with the blocks it keeps)."""
    flow = flows[n]
    units = range(flow.units() if flow.keep_whole else min(flow.units(), 1))
    need = flow.head_height + sum(flow.unit_height(u) for u in units)
    if flow.keep_with_next and n + 1 < len(flows):
        need += _first_height(flows, n + 1)
    return need


def paginate(flows: Sequence[Flow], body_height: float) -> list[Page]:
    """Cut the blocks into pages: rows never split, headers repeat, headings stay with text."""
    pages: list[Page] = [[]]
    y = 0.0
    for n, flow in enumerate(flows):
        if isinstance(flow, Gap):
            if y > 0.0:
                y += flow.height
            continue
        if y > 0.0 and y + _first_height(flows, n) > body_height:
            pages.append([])
            y = 0.0
        top, first = y, 0
        y += flow.head_height
        for unit in range(flow.units()):
            height = flow.unit_height(unit)
            if y + height > body_height and unit > first:
                pages[-1].append((top, flow, first, unit))
                pages.append([])
                top, first = 0.0, unit
                y = flow.head_height
            y += height
        pages[-1].append((top, flow, first, flow.units()))
    return pages


def draw_run(painter: QPainter, top: float, flow: Flow, first: int, end: int) -> None:
    flow.draw_head(painter, top)
    y = top + flow.head_height
    for unit in range(first, end):
        flow.draw_unit(painter, unit, y)
        y += flow.unit_height(unit)
