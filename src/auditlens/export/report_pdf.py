"""The task report as a PDF people print: tables laid out and drawn with QPainter on QPdfWriter.

What the printout looks like, and why:

- A4 landscape, 10 mm margins. The timeline has seven columns; in portrait its What column
  would get a third of the line and most steps would wrap to three lines.
- Column widths are measured, not guessed: a column that does not wrap is as wide as its widest
  cell (so an email or a log index stays on one line); the wrapping column (What in the
  timeline, Reason, Role) takes the rest, and at least 40% of the page. Only when the other
  columns alone would take more do the widest of them give way (their longest cells wrap).
- A step is one row: its type, headline and details in one paragraph, so a common step takes
  one line and a page holds about 38 of them.
- Tables continue over pages with their header row repeated on each page; a heading is never
  left at the bottom of a page without the first rows of its table.
- Each page's footer names the task, the checkpoint the events were verified against, and
  "page N of M": the whole document is laid out before the first page is painted.
- The PDF carries no evidence (anyone can edit a PDF). It says so, points to the HTML report
  (which embeds the events and their proofs and which ``auditlens verify`` checks), and leaves
  out the HTML report's table of leaf hashes, which would double the page count and prove
  nothing on paper; each step's log index is in the timeline.

Why not ``QTextDocument`` (the previous printout): its table layout squeezed the short columns
to a character or two whatever widths were given, took time growing faster than the row count
(a 5,000-row table took ~40 s), and cannot repeat a header over a split table or write a footer
with the task. Here each cell is measured once (``QFontMetricsF`` for one-line cells, a
``QTextLayout`` for wrapping ones), so the cost is linear in the number of steps.

Threads: no widget is involved, and QPdfWriter, QPainter, QFont and QTextLayout work on any
thread, so the viewer runs :func:`write_pdf` on a worker. Fonts need a ``QGuiApplication``:
:func:`ensure_gui_application` makes an offscreen one for the command line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PySide6.QtCore import QMarginsF, QPointF, QRectF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QGuiApplication,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
    QTextCharFormat,
    QTextLayout,
    QTextOption,
)

from auditlens.core.events import format_timestamp
from auditlens.export.report_html import PALETTE, ReportInput, person, summary_rows
from auditlens.export.trail_model import Row, Step, TaskStory, format_duration

__all__ = ["ensure_gui_application", "write_pdf"]

_DPI = 288  # device units per inch; geometry below is in points, times _PT
_PT = _DPI / 72
_MARGIN_MM = 10.0
_PAD_X = 3.0  # cell padding, points
_PAD_Y = 1.2
_FOOTER = 16.0  # points reserved at the bottom of each page
_WRAP_SHARE = 0.4  # the page width the wrapping columns keep at least

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


def ensure_gui_application() -> None:
    """Create an offscreen ``QGuiApplication`` when none exists (fonts need one)."""
    if QGuiApplication.instance() is None:
        QGuiApplication(["auditlens", "-platform", "offscreen"])


# ---------------------------------------------------------------------------------------------
# Text


class _Typesetter:
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


class _Flow:
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


class _Gap(_Flow):
    """Vertical space; dropped at the top of a page."""

    def __init__(self, points: float) -> None:
        self.height = points * _PT

    def unit_height(self, unit: int) -> float:
        return self.height

    def draw_unit(self, painter: QPainter, unit: int, y: float) -> None:
        pass


class _Paragraph(_Flow):
    def __init__(
        self, ts: _Typesetter, cell: Cell, width: float, keep: bool = False, below: float = 0.0
    ) -> None:
        self.ts, self.cell, self.width, self.keep_with_next = ts, cell, width, keep
        self.height = ts.height(cell, width) + below * _PT

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


class _Table(_Flow):
    """A table as wide as the page; only its ``wrap`` columns wrap.

    ``row_at(n)`` builds row ``n`` (called once to measure, once to paint).
    """

    def __init__(
        self,
        ts: _Typesetter,
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
        pad = 2 * _PAD_X * _PT
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
        pad = 2 * _PAD_X * _PT
        tallest = max(self.ts.height(cell, w - pad) for cell, _x, w, _a in self._spans(row))
        return tallest + 2 * _PAD_Y * _PT

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
        pad_x, pad_y = _PAD_X * _PT, _PAD_Y * _PT
        for cell, x, width, align in self._spans(row):
            inner = width - 2 * pad_x
            shift = 0.0
            if align == "right" and self.ts.natural_width(cell) <= inner:
                shift = inner - self.ts.natural_width(cell)
            self.ts.draw(painter, cell, x + pad_x + shift, y + pad_y, inner)
        if self.rule is not None:
            painter.setPen(QPen(self.rule, 0.5 * _PT))
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
_Page = list[tuple[float, _Flow, int, int]]


def _first_height(flows: Sequence[_Flow], n: int) -> float:
    """What must fit on a page for block ``n`` to start there (with the blocks it keeps)."""
    flow = flows[n]
    units = range(flow.units() if flow.keep_whole else min(flow.units(), 1))
    need = flow.head_height + sum(flow.unit_height(u) for u in units)
    if flow.keep_with_next and n + 1 < len(flows):
        need += _first_height(flows, n + 1)
    return need


def _paginate(flows: Sequence[_Flow], body_height: float) -> list[_Page]:
    """Cut the blocks into pages: rows never split, headers repeat, headings stay with text."""
    pages: list[_Page] = [[]]
    y = 0.0
    for n, flow in enumerate(flows):
        if isinstance(flow, _Gap):
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


def _draw_run(painter: QPainter, top: float, flow: _Flow, first: int, end: int) -> None:
    flow.draw_head(painter, top)
    y = top + flow.head_height
    for unit in range(first, end):
        flow.draw_unit(painter, unit, y)
        y += flow.unit_height(unit)


# ---------------------------------------------------------------------------------------------
# The report's content


def _when(ms: int) -> str:
    return format_timestamp(ms).replace("T", " ").rstrip("Z")


_ROW_TINT = {
    "denied": PALETTE["denied"][1],
    "failure": PALETTE["failure"][1],
    "approval": "#f3f0fa",
    "task": "#f7f9fb",
}
_VERDICT_STYLE = {"denied": "denied", "failure": "failed"}


def _step_tint(step: Step) -> str | None:
    if step.denied:
        return _ROW_TINT["denied"]
    if step.failed:
        return _ROW_TINT["failure"]
    return _ROW_TINT.get(step.kind)


def _timeline_row(row: Row, story: TaskStory, inp: ReportInput) -> TableRow:
    step = row.step
    if step is None:
        name = story.agent_names.get(row.agent_id or "", row.agent_id or "no agent")
        failed = f", {row.failures} failed" if row.failures else ""
        failed += f", {row.denials} denied" if row.denials else ""
        calls = f"{row.calls} tool call{'s' if row.calls != 1 else ''}"
        return TableRow((((f"Agent {name} — {calls}{failed}", "group"),),), "#e8eef5")
    verdict = step.verdict
    flag = _VERDICT_STYLE.get(verdict)
    what: list[Span] = []
    if row.indent:
        what.append(("\u2003", "body"))
    if flag:
        what.append(("✖ ", flag))
    what.append((step.type, flag or "bold"))
    what.append((" " + step.headline, "body"))
    if step.details:
        what.append(("  ·  " + "  ·  ".join(step.details), "muted"))
    delta = "" if step.since_previous_ms is None else "+" + format_duration(step.since_previous_ms)
    return TableRow(
        (
            ((str(step.position + 1), "body"),),
            ((_when(step.ts), "mono"),),
            ((delta, "muted"),),
            tuple(what),
            ((person(step.user_id, inp.users), "body"),),
            ((verdict or "-", flag or "body"),),
            ((str(step.idx), "body"),),
        ),
        _step_tint(step),
    )


_TIMELINE = (
    Column("#", "right"),
    Column("Time (UTC)"),
    Column("+", "right"),
    Column("What", wrap=True),
    Column("Who"),
    Column("Outcome"),
    Column("Index", "right"),
)


def _approval_rows(story: TaskStory, inp: ReportInput) -> list[TableRow]:
    def at(pos: int | None) -> str:
        return f"#{pos + 1}" if pos is not None else "-"

    out = []
    for a in story.approvals:
        denied = a.state == "denied"
        out.append(
            TableRow(
                (
                    ((a.approval_id, "mono"),),
                    ((a.tool, "body"),),
                    ((a.state.upper(), "denied" if denied else "bold"),),
                    ((person(a.approver_id, inp.users) if a.approver_id else "-", "body"),),
                    ((a.reason or "", "body"),),
                    ((at(a.requested), "body"),),
                    ((at(a.gated), "body"),),
                ),
                _ROW_TINT["denied"] if denied else _ROW_TINT["approval"],
            )
        )
    return out


_APPROVALS = (
    Column("Approval"),
    Column("Tool"),
    Column("Decision"),
    Column("By"),
    Column("Reason", wrap=True),
    Column("Requested", "right"),
    Column("Gated step", "right"),
)


def _people_rows(story: TaskStory, inp: ReportInput) -> list[TableRow]:
    roles: dict[str, list[str]] = {}
    if story.started_by:
        roles.setdefault(story.started_by, []).append("started the task")
    for a in story.approvals:
        if a.approver_id:
            roles.setdefault(a.approver_id, []).append(f"{a.state} {a.approval_id}")
    for s in story.steps:
        if s.type == "task.cancelled" and s.user_id:
            roles.setdefault(s.user_id, []).append("cancelled the task")
    out = [
        TableRow(
            (
                ((person(uid, inp.users), "body"),),
                ((uid, "mono"),),
                (("; ".join(roles.get(uid, ["acted in the task"])), "body"),),
            )
        )
        for uid in story.people
    ]
    for agent in story.agents:
        calls = sum(1 for s in story.steps if s.agent_id == agent and s.kind == "agent")
        name = story.agent_names.get(agent, agent)
        out.append(
            TableRow(
                (
                    ((f"Agent {name}", "body"),),
                    ((agent, "mono"),),
                    ((f"{calls} tool calls", "body"),),
                )
            )
        )
    return out


_PEOPLE = (Column("Who"), Column("Id"), Column("Role in this task", wrap=True))
_KEY_VALUE = (Column(""), Column("", wrap=True))


def _content(ts: _Typesetter, inp: ReportInput, width: float) -> list[_Flow]:
    story = inp.story()
    ev = inp.evidence

    def block(cell: Cell, keep: bool = False, below: float = 0.0) -> _Paragraph:
        return _Paragraph(ts, cell, width, keep, below)

    def table(columns: Sequence[Column], rows: Sequence[TableRow]) -> _Table:
        return _Table(ts, columns, len(rows), rows.__getitem__, width)

    def heading(text: str) -> list[_Flow]:
        return [_Gap(10), block(((text, "h2"),), keep=True, below=3)]

    def key_values(rows: Sequence[tuple[str, Cell]], pairs: int = 1) -> _Table:
        """Label-value rows, ``pairs`` side by side (the summary takes two to save paper)."""
        cells: list[Cell] = [c for k, v in rows for c in (((k, "bold"),), v)]
        cells += [((("", "body"),))] * (-len(cells) % (2 * pairs))
        step = 2 * pairs
        table = [TableRow(tuple(cells[n : n + step])) for n in range(0, len(cells), step)]
        return _Table(
            ts, _KEY_VALUE * pairs, len(table), table.__getitem__, width, header=False, rules=False
        )

    outcome_style = {"failed": "failed", "cancelled": "failed"}.get(story.outcome, "bold")
    summary = [
        (k, ((v, outcome_style if k == "Outcome" else "body"),))
        for k, v in summary_rows(story, inp.users)
    ]
    rows = story.rows
    items: list[_Flow] = [
        block(((f"Task trail: {story.title or inp.task_id}", "title"),), below=2),
        block(
            (
                (
                    f"Task {inp.task_id} · report made {inp.generated_at} (UTC) by auditlens "
                    f"{inp.auditlens_version} · filter {inp.filter_text} · a printout, not "
                    "evidence (see Verification)",
                    "muted",
                ),
            )
        ),
        *heading("Summary"),
        key_values(summary, pairs=2),
        *heading("Timeline"),
        _Table(ts, _TIMELINE, len(rows), lambda n: _timeline_row(rows[n], story, inp), width),
        *heading("Approvals"),
    ]
    if story.approvals:
        items.append(table(_APPROVALS, _approval_rows(story, inp)))
    else:
        items.append(block((("No approval was requested in this task.", "muted"),)))
    items.extend(heading("People and agents"))
    items.append(table(_PEOPLE, _people_rows(story, inp)))
    items.extend(heading("Verification"))
    items.append(
        block(
            (
                (
                    "Every step above was re-verified against the latest trusted checkpoint "
                    f"when this report was made: {len(inp.events):,} event(s) of the log "
                    f"{ev.origin}, checkpoint size {ev.tree_size:,}. ",
                    "body",
                ),
                ("Verified.", "bold"),
            ),
            keep=True,  # the verification section is read as one: it moves to a page whole
            below=3,
        )
    )
    items.append(
        block(
            (
                (
                    "This PDF is a printout for reading and carries no evidence: a PDF can be "
                    "edited without a trace. The verifiable copy is the HTML report of the same "
                    "task (Save report… in the viewer, or auditlens report --format html): it "
                    "embeds every event's exact log bytes, its inclusion proof and each step's "
                    "leaf hash, and `auditlens verify` checks it offline.",
                    "body",
                ),
            ),
            keep=True,
            below=3,
        )
    )
    proof = key_values(
        [
            ("Origin", ((ev.origin, "mono"),)),
            ("Verifier key (hint)", ((ev.vkey, "mono"),)),
            ("Tree size", ((f"{ev.tree_size:,}", "body"),)),
            ("Signed checkpoint", ((ev.checkpoint.rstrip("\n"), "mono"),)),
        ]
    )
    proof.keep_whole = True
    items.append(proof)
    return items


# ---------------------------------------------------------------------------------------------
# Writing the file


def _footer(inp: ReportInput) -> Callable[[int, int], tuple[str, str]]:
    ev = inp.evidence
    left = (
        f"Task {inp.task_id} · verified at checkpoint {ev.tree_size:,} of {ev.origin} · "
        "a printout, not evidence: verify the HTML report"
    )
    return lambda page, pages: (left, f"Page {page} of {pages}")


def write_pdf(report: ReportInput, path: Path | str) -> int:
    """Write the report as an A4 landscape PDF at ``path`` (atomically); return its size."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        pages = _render(report, tmp_name)
        size = Path(tmp_name).stat().st_size
        if size == 0 or pages == 0:
            raise OSError(f"Qt wrote an empty PDF for {path}")
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return size


def _render(report: ReportInput, file_name: str) -> int:
    """Lay the report out, then paint every page; return the page count."""
    writer = QPdfWriter(file_name)
    writer.setTitle(f"Task trail {report.task_id}")
    writer.setCreator("auditlens")
    writer.setResolution(_DPI)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Landscape,
            QMarginsF(_MARGIN_MM, _MARGIN_MM, _MARGIN_MM, _MARGIN_MM),
            QPageLayout.Unit.Millimeter,
        )
    )
    body = writer.pageLayout().paintRectPixels(_DPI)
    width, height = float(body.width()), float(body.height())
    ts = _Typesetter(writer)
    pages = _paginate(_content(ts, report, width), height - _FOOTER * _PT)
    footer = _footer(report)
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot write a PDF to {file_name}")
    try:
        for number, page in enumerate(pages, 1):
            if number > 1:
                writer.newPage()
            for run in page:
                _draw_run(painter, *run)
            _draw_footer(painter, ts, footer(number, len(pages)), width, height)
    finally:
        painter.end()
    return len(pages)


def _draw_footer(
    painter: QPainter, ts: _Typesetter, texts: tuple[str, str], width: float, height: float
) -> None:
    metrics = ts.metrics["footer"]
    top = height - metrics.height()
    painter.setPen(QPen(QColor("#cfd8e2"), 0.5 * _PT))
    painter.drawLine(QPointF(0, top - 3 * _PT), QPointF(width, top - 3 * _PT))
    painter.setFont(ts.fonts["footer"])
    painter.setPen(ts.colors["footer"])
    left, right = texts
    right_width = metrics.horizontalAdvance(right)
    left = metrics.elidedText(left, Qt.TextElideMode.ElideRight, width - right_width - 12 * _PT)
    baseline = top + metrics.ascent()
    painter.drawText(QPointF(0, baseline), left)
    painter.drawText(QPointF(width - right_width, baseline), right)
