"""The task report as a PDF people print: tables laid out and drawn with QPainter on QPdfWriter.

What the printout looks like, and why:

- Landscape, 10 mm margins, on A4, or on US Letter where the locale measures in US units
  (``QLocale``). The timeline has seven columns; in portrait its What column would get a third
  of the line and most steps would wrap to three lines.
- Column widths are measured, not guessed: a column that does not wrap is as wide as its widest
  cell (so an email or a log index stays on one line); the wrapping column (What in the
  timeline, Reason, Role) takes the rest, and at least 35% of the page. Only when the other
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
``QTextLayout`` for wrapping ones) by a small layout engine
(:mod:`auditlens.export.report_pdf_layout`), so the cost is linear in the number of steps.
This module says what is printed; the engine where and how.

Threads: no widget is involved, and QPdfWriter, QPainter, QFont and QTextLayout work on any
thread, so the viewer runs :func:`write_pdf` on a worker. Fonts need a ``QGuiApplication``:
:func:`ensure_gui_application` makes an offscreen one for the command line.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtCore import QLocale, QMarginsF, QPointF, Qt
from PySide6.QtGui import (
    QColor,
    QGuiApplication,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
)

from auditlens.core.timestamps import format_timestamp
from auditlens.export.report_html import PALETTE, ReportInput, person, summary_rows
from auditlens.export.report_pdf_layout import (
    DPI,
    PT,
    Cell,
    Column,
    Flow,
    Gap,
    Paragraph,
    Span,
    Table,
    TableRow,
    Typesetter,
    draw_run,
    paginate,
)
from auditlens.export.trail_story import Row, Step, TaskStory, format_duration, people_roles

__all__ = ["ensure_gui_application", "write_pdf"]

_MARGIN_MM = 10.0
_FOOTER = 16.0  # points reserved at the bottom of each page


def ensure_gui_application() -> None:
    """Create an offscreen ``QGuiApplication`` when none exists (fonts need one)."""
    if QGuiApplication.instance() is None:
        QGuiApplication(["auditlens", "-platform", "offscreen"])


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
    out = [
        TableRow(
            (
                ((person(uid, inp.users), "body"),),
                ((uid, "mono"),),
                (("; ".join(roles), "body"),),
            )
        )
        for uid, roles in people_roles(story).items()
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


def _content(ts: Typesetter, inp: ReportInput, width: float) -> list[Flow]:
    story = inp.story()
    ev = inp.evidence

    def block(cell: Cell, keep: bool = False, below: float = 0.0) -> Paragraph:
        return Paragraph(ts, cell, width, keep, below)

    def table(columns: Sequence[Column], rows: Sequence[TableRow]) -> Table:
        return Table(ts, columns, len(rows), rows.__getitem__, width)

    def heading(text: str) -> list[Flow]:
        return [Gap(10), block(((text, "h2"),), keep=True, below=3)]

    def key_values(rows: Sequence[tuple[str, Cell]], pairs: int = 1) -> Table:
        """Label-value rows, ``pairs`` side by side (the summary takes two to save paper)."""
        cells: list[Cell] = [c for k, v in rows for c in (((k, "bold"),), v)]
        cells += [((("", "body"),))] * (-len(cells) % (2 * pairs))
        step = 2 * pairs
        table = [TableRow(tuple(cells[n : n + step])) for n in range(0, len(cells), step)]
        return Table(
            ts, _KEY_VALUE * pairs, len(table), table.__getitem__, width, header=False, rules=False
        )

    outcome_style = {"failed": "failed", "cancelled": "failed"}.get(story.outcome, "bold")
    summary = [
        (k, ((v, outcome_style if k == "Outcome" else "body"),))
        for k, v in summary_rows(story, inp.users)
    ]
    rows = story.rows
    items: list[Flow] = [
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
        Table(ts, _TIMELINE, len(rows), lambda n: _timeline_row(rows[n], story, inp), width),
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


def _paper() -> QPageSize.PageSizeId:
    """US Letter where the locale measures in US units, else A4 (the rest of the world)."""
    if QLocale().measurementSystem() == QLocale.MeasurementSystem.ImperialUSSystem:
        return QPageSize.PageSizeId.Letter
    return QPageSize.PageSizeId.A4


def write_pdf(report: ReportInput, path: Path | str) -> int:
    """Write the report as a landscape PDF at ``path`` (atomically); return its size."""
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
    writer.setResolution(DPI)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(_paper()),
            QPageLayout.Orientation.Landscape,
            QMarginsF(_MARGIN_MM, _MARGIN_MM, _MARGIN_MM, _MARGIN_MM),
            QPageLayout.Unit.Millimeter,
        )
    )
    body = writer.pageLayout().paintRectPixels(DPI)
    width, height = float(body.width()), float(body.height())
    ts = Typesetter(writer)
    pages = paginate(_content(ts, report, width), height - _FOOTER * PT)
    footer = _footer(report)
    painter = QPainter()
    if not painter.begin(writer):
        raise OSError(f"cannot write a PDF to {file_name}")
    try:
        for number, page in enumerate(pages, 1):
            if number > 1:
                writer.newPage()
            for run in page:
                draw_run(painter, *run)
            _draw_footer(painter, ts, footer(number, len(pages)), width, height)
    finally:
        painter.end()
    return len(pages)


def _draw_footer(
    painter: QPainter, ts: Typesetter, texts: tuple[str, str], width: float, height: float
) -> None:
    metrics = ts.metrics["footer"]
    top = height - metrics.height()
    painter.setPen(QPen(QColor("#cfd8e2"), 0.5 * PT))
    painter.drawLine(QPointF(0, top - 3 * PT), QPointF(width, top - 3 * PT))
    painter.setFont(ts.fonts["footer"])
    painter.setPen(ts.colors["footer"])
    left, right = texts
    right_width = metrics.horizontalAdvance(right)
    left = metrics.elidedText(left, Qt.TextElideMode.ElideRight, width - right_width - 12 * PT)
    baseline = top + metrics.ascent()
    painter.drawText(QPointF(0, baseline), left)
    painter.drawText(QPointF(width - right_width, baseline), right)
