"""The task trail window: one task's whole story as a vertical timeline, and its report.

The timeline is ONE ``QListView`` over a ``QAbstractListModel`` of the story's rows
(:mod:`auditlens.export.trail_model`) painted by a custom delegate, so a task of thousands of
steps costs a list of small Python objects and paints only the visible rows; no widget per
step. The mirror is read on a worker (:func:`auditlens.mirror.trail.read_task_trail`) and the
story built there too; the UI thread only swaps the model's rows in.

Reading it: a time gutter (time of day, time since the previous step), a vertical line with a
dot per step (red for a failure, amber for a refusal, violet for an approval, navy for the
task's own events, green for a successful call), tool calls indented under a header naming the
agent, approvals as violet cards linked to the call they gated, failures on a red ground and
refusals (denied approvals, actions or logins refused by policy or permission) on an amber one,
each labelled FAILED or DENIED. Each step shows its log index and a shield when a trusted
checkpoint covers it. Selecting a step shows the whole event and its verified status in the
detail pane below.

"Save report..." writes the verified HTML report (:mod:`auditlens.export.report`) or a printable
PDF of it (:mod:`auditlens.export.report_pdf`), off the UI thread: both re-verify the events
first, and the PDF is laid out there too.
"""

from __future__ import annotations

import gc
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from auditlens.core.events import category_of
from auditlens.core.timestamps import format_timestamp
from auditlens.export.report import prepare_report, save_html
from auditlens.export.report_html import PALETTE
from auditlens.export.report_pdf import write_pdf
from auditlens.export.trail_model import Row, SourceEvent, Step, TaskStory, build_story
from auditlens.export.trail_model import format_duration as duration
from auditlens.mirror.query import EventRecord, MirrorReader
from auditlens.mirror.query import Row as TableRow
from auditlens.mirror.trail import TaskTrail, TrailEntry, read_task_trail
from auditlens.ui.detail_pane import DetailPane
from auditlens.ui.resources import icon
from auditlens.ui.tasks import TaskRunner

__all__ = ["ROW_ROLE", "TaskTrailWindow", "TrailDelegate", "TrailListModel", "load_story"]

ROW_ROLE = Qt.ItemDataRole.UserRole + 1
_Index = QModelIndex | QPersistentModelIndex

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


@dataclass(frozen=True)
class LoadedTrail:
    """What a worker read and built: the mirror's trail and its story."""

    trail: TaskTrail
    story: TaskStory


def load_story(reader: MirrorReader, task_id: str) -> LoadedTrail:
    """Read ``task_id`` from the mirror and build its story (runs on a worker)."""
    trail = read_task_trail(reader, task_id)
    sources = [SourceEvent(e.idx, e.raw, e.checkpoint_size) for e in trail.entries]
    return LoadedTrail(trail, build_story(trail.task_id, sources, trail.emails))


class TrailListModel(QAbstractListModel):
    """The story's rows; ``ROW_ROLE`` gives the :class:`Row`, DisplayRole its text."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.story: TaskStory | None = None
        self._rows: tuple[Row, ...] = ()

    def set_story(self, story: TaskStory | None) -> None:
        self.beginResetModel()
        self.story = story
        self._rows = story.rows if story is not None else ()
        self.endResetModel()

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: N802, B008 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def row_at(self, row: int) -> Row | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of_position(self, position: int) -> int:
        """The model row showing step ``position`` (-1 when none)."""
        for n, row in enumerate(self._rows):
            if row.step is not None and row.step.position == position:
                return n
        return -1

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None:
            return None
        if role == ROW_ROLE:
            return row
        step = row.step
        if role == Qt.ItemDataRole.DisplayRole:
            if step is None:
                return f"{self._agent_name(row.agent_id)}: {row.calls} tool calls"
            return f"{step.type} {step.headline}"
        if role == Qt.ItemDataRole.ToolTipRole and step is not None:
            lines = [step.headline, *step.details, f"outcome: {step.verdict or '-'}"]
            lines.append(f"log index {step.idx}")
            return "\n".join(lines)
        return None

    def _agent_name(self, agent_id: str | None) -> str:
        if self.story is None or agent_id is None:
            return agent_id or "no agent"
        return self.story.agent_names.get(agent_id, agent_id)

    def flags(self, index: _Index) -> Qt.ItemFlag:
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None or row.step is None:
            return Qt.ItemFlag.ItemIsEnabled  # group headers are not selectable
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable


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

    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:  # noqa: N802
        row = self._model.row_at(index.row())
        if row is None or row.step is None:
            return QSize(400, HEADER_HEIGHT)
        if row.step.kind == "approval" or row.step.flagged:
            return QSize(400, CARD_HEIGHT)
        return QSize(400, STEP_HEIGHT)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
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


_OUTCOME_STYLE = {
    "completed": ("#e3f2e8", "#1e5a37", "COMPLETED"),
    "failed": ("#fdecea", "#8e1b1b", "FAILED"),
    "cancelled": ("#fdecea", "#8e1b1b", "CANCELLED"),
    "running": ("#fff4e5", "#7a4b00", "RUNNING — no end event yet"),
    "empty": ("#f0f2f5", "#51606f", "NO EVENTS"),
}


def summary_html(story: TaskStory, emails: dict[str, str]) -> str:
    """The header above the timeline: outcome, duration, who started it, agents, approvers."""

    def who(uid: str | None) -> str:
        return html.escape(emails.get(uid, uid) if uid else "unknown")

    bg, fg, label = _OUTCOME_STYLE[story.outcome]
    started = (
        "a schedule"
        if story.source == "schedule"
        else who(story.started_by)
        if story.started_by
        else "unknown"
    )
    first = format_timestamp(story.first_ms)[:19].replace("T", " ") if story.first_ms else "-"
    agents = ", ".join(html.escape(story.agent_names.get(a, a)) for a in story.agents) or "none"
    approvers = ", ".join(who(u) for u in story.approvers) or "none"
    so_far = " so far" if story.running else ""
    why = ""
    if story.end_error and story.outcome in ("failed", "cancelled"):
        error = story.end_error if len(story.end_error) <= 140 else story.end_error[:139] + "…"
        why = f' &nbsp;·&nbsp; <span style="color:#8e1b1b">{html.escape(error)}</span>'
    flagged = ""
    if story.failures or story.denials:
        flagged = (
            f' &nbsp;<span style="color:#c62828; font-weight:600">{story.failures} failed</span>'
            f' · <span style="color:{PALETTE["denied"][0]}; font-weight:600">'
            f"{story.denials} denied</span>"
        )
    return (
        f'<span style="font-size:13pt; font-weight:600; color:#1f3a5f">'
        f"{html.escape(story.title or story.task_id)}</span><br>"
        f'<span style="background:{bg}; color:{fg}; font-weight:700">&nbsp;{label}&nbsp;</span>'
        f" &nbsp;<b>{duration(story.duration_ms)}</b>{so_far} &nbsp;·&nbsp; started {first} UTC"
        f" by <b>{started}</b>{why}<br>"
        f"Agents: <b>{agents}</b> &nbsp;·&nbsp; Approvers: <b>{approvers}</b> &nbsp;·&nbsp; "
        f"{len(story.steps):,} events, {story.tool_calls:,} tool calls, "
        f"{len(story.approvals)} approval{'' if len(story.approvals) == 1 else 's'}{flagged}"
        f" &nbsp;·&nbsp; {story.verified_count:,}/{len(story.steps):,} verified"
    )


def _spare_from_full_collections() -> None:
    """Keep the objects alive now out of the full garbage collections a report job triggers.

    A report job builds the story of every step, enough to trigger CPython's full collection,
    which walks every tracked object of the process while holding the interpreter lock: ~1 µs
    per object, so ~200 ms for the viewer's ~160,000 (modules, widgets, the loaded trail), and
    the window cannot repaint meanwhile. Everything alive when a report starts outlives the
    job, so it is moved out of the collector's reach (``gc.freeze``, which costs nothing);
    the job's own collections then walk only what it allocated. Reference counting still frees
    frozen objects; only a reference cycle that was already alive then is never collected.
    """
    gc.freeze()


class TaskTrailWindow(QWidget):
    """A top-level window showing one task's trail; ``show_task`` loads one."""

    #: The story of the current task is shown (tests and the benchmark wait on it).
    loaded = Signal()
    #: A report was saved (message) or could not be (message).
    report_saved = Signal(str)
    report_failed = Signal(str)

    def __init__(
        self,
        reader: MirrorReader | None,
        runner: TaskRunner,
        origin: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("TaskTrail")
        self.setWindowTitle("Task trail — auditlens")
        self.setWindowIcon(icon("app"))
        self.resize(1280, 900)
        self.reader = reader
        self.runner = runner
        self.origin = origin
        self.task_id: str | None = None
        self.trail: TaskTrail | None = None
        self._entries: dict[int, TrailEntry] = {}
        self._generation = 0
        self.saving = False

        bar = QHBoxLayout()
        bar.setContentsMargins(12, 8, 12, 4)
        bar.addWidget(QLabel("Task ID"))
        self.task_field = QLineEdit()
        self.task_field.setObjectName("TaskIdField")
        self.task_field.setPlaceholderText("tsk_… (paste a task id and press Enter)")
        self.task_field.returnPressed.connect(self._open_typed)
        bar.addWidget(self.task_field, 1)
        self.open_button = QPushButton("Show trail")
        self.open_button.clicked.connect(self._open_typed)
        bar.addWidget(self.open_button)
        self.save_button = QPushButton("Save report…")
        self.save_button.setToolTip(
            "Re-verify this task's events and save a self-contained HTML report (or a PDF)"
        )
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save_clicked)
        bar.addWidget(self.save_button)

        self.header = QLabel("Type a task id to see its whole story.")
        self.header.setObjectName("TrailHeader")
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setWordWrap(False)  # explicit lines: the frame gets the exact height
        # ...and a long line is clipped rather than widening the window.
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.header.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        header_frame = QFrame()
        header_frame.setObjectName("TrailHeaderFrame")
        header_frame.setStyleSheet(
            "#TrailHeaderFrame { background: #ffffff; border-bottom: 1px solid #dde3ea; }"
        )
        hl = QVBoxLayout(header_frame)
        hl.setContentsMargins(14, 8, 14, 10)
        hl.addWidget(self.header)

        self.model = TrailListModel(self)
        self.view = QListView()
        self.view.setObjectName("TrailView")
        self.view.setModel(self.model)
        self.view.setItemDelegate(TrailDelegate(self.model, self.view))
        self.view.setUniformItemSizes(False)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.setMouseTracking(False)
        self.view.setStyleSheet("QListView { background: #ffffff; border: none; }")
        self.view.selectionModel().currentChanged.connect(self._current_changed)
        self.view.doubleClicked.connect(self._follow_link)
        self.detail = DetailPane()

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setSizes([600, 260])
        self.splitter.setChildrenCollapsible(False)

        self.status = QLabel()
        self.status.setObjectName("TrailStatus")
        self.status.setContentsMargins(12, 4, 12, 6)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addLayout(bar)
        layout.addWidget(header_frame)
        layout.addWidget(self.splitter, 1)
        layout.addWidget(self.status)
        QShortcut(QKeySequence("Ctrl+L"), self, self.focus_task_field)
        # Esc and Ctrl+W close the window, as they do a dialog or a browser tab (it is a side
        # window: closing it hides it, and the main window reopens it on the next task).
        for keys in (QKeySequence(Qt.Key.Key_Escape), QKeySequence("Ctrl+W")):
            QShortcut(keys, self, self.close)

    # -- loading --------------------------------------------------------------------------------

    def set_reader(self, reader: MirrorReader | None, origin: str | None = None) -> None:
        """Use another mirror (after sign-in); the shown task is re-read from it."""
        self.reader = reader
        self.origin = origin or self.origin
        if reader is None:
            self._generation += 1  # drop a read still running on the old mirror
            self.model.set_story(None)
            self.detail.clear()
            self.save_button.setEnabled(False)
            self.header.setText("No mirror open: sign in and sync first.")
            return
        self.reload()

    def focus_task_field(self) -> None:
        self.task_field.setFocus()
        self.task_field.selectAll()

    def _open_typed(self) -> None:
        text = self.task_field.text().strip()
        if text:
            self.show_task(text)

    def show_task(self, task_id: str) -> None:
        """Read and show the trail of ``task_id`` (in the background)."""
        task_id = task_id.strip()
        self.task_id = task_id
        self.task_field.setText(task_id)
        self.setWindowTitle(f"Task trail {task_id} — auditlens")
        self.status.setText("Reading the task's events…")
        self._load(keep_idx=None)

    def reload(self) -> None:
        """Re-read the shown task (after a sync); the selected step stays selected."""
        if self.task_id is None:
            return
        current = self.current_step()
        self._load(keep_idx=current.idx if current is not None else None)

    def _load(self, keep_idx: int | None) -> None:
        reader, task_id = self.reader, self.task_id
        self._generation += 1
        generation = self._generation
        if reader is None or task_id is None:
            self.status.setText("No mirror open: sign in and sync first.")
            return
        self.runner.submit(
            lambda: load_story(reader, task_id),
            lambda loaded: self._loaded(generation, loaded, keep_idx),
            lambda exc: self._load_failed(generation, exc),
        )

    def _load_failed(self, generation: int, exc: BaseException) -> None:
        if generation == self._generation:
            self.status.setText(f"Could not read the task: {exc}")

    def _loaded(self, generation: int, loaded: LoadedTrail, keep_idx: int | None) -> None:
        if generation != self._generation:
            return
        self.trail = loaded.trail
        self._entries = {e.idx: e for e in loaded.trail.entries}
        story = loaded.story
        self.model.set_story(story)
        self.detail.clear()
        if not story.steps:
            self.header.setText(
                f"<b>No events for task {html.escape(story.task_id)}</b> in this mirror "
                "(check the id, or sync to fetch newer events)."
            )
            self.save_button.setEnabled(False)
            self.status.setText("")
        else:
            self.header.setText(summary_html(story, loaded.trail.emails))
            self.save_button.setEnabled(True)
            cp = loaded.trail.checkpoint
            where = f" up to checkpoint size {cp.size:,}" if cp is not None else ""
            running = " The task is still running: no end event yet." if story.running else ""
            self.status.setText(
                f"{len(story.steps):,} events in log order{where}.{running} "
                "Double-click an approval or a gated call to jump to its counterpart."
            )
        if keep_idx is not None:
            self.select_idx(keep_idx)
        self.loaded.emit()

    # -- selection ------------------------------------------------------------------------------

    def current_step(self) -> Step | None:
        row = self.model.row_at(self.view.currentIndex().row())
        return row.step if row is not None else None

    def select_idx(self, idx: int) -> bool:
        """Select the step at log index ``idx``; False when it is not in the trail."""
        story = self.model.story
        if story is None:
            return False
        for step in story.steps:
            if step.idx == idx:
                return self.select_position(step.position)
        return False

    def select_position(self, position: int) -> bool:
        row = self.model.row_of_position(position)
        if row < 0:
            return False
        index = self.model.index(row, 0)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def _follow_link(self, index: QModelIndex) -> None:
        row = self.model.row_at(index.row())
        if row is not None and row.step is not None and row.step.link is not None:
            self.select_position(row.step.link)

    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        row = self.model.row_at(current.row()) if current.isValid() else None
        step = row.step if row is not None else None
        entry = self._entries.get(step.idx) if step is not None else None
        if step is None or entry is None or self.trail is None:
            self.detail.clear()
            return
        table_row = TableRow(
            idx=step.idx,
            id=step.id,
            ts=step.ts,
            type=step.type,
            category=category_of(step.type) if "." in step.type else None,
            user_id=step.user_id,
            task_id=self.trail.task_id,
            agent_id=step.agent_id,
            outcome=step.outcome,
            summary=step.headline,
        )
        cp = self.trail.checkpoint
        record = EventRecord(
            idx=entry.idx,
            id=entry.id,
            ts=entry.ts,
            raw=entry.raw,
            leaf_hash=entry.leaf_hash,
            checkpoint_size=entry.checkpoint_size,
            checkpoint_verified_at=(
                cp.verified_at if cp is not None and cp.size == entry.checkpoint_size else None
            ),
        )
        email = self.trail.emails.get(step.user_id) if step.user_id else None
        self.detail.show_event(table_row, record, email, self.origin or self.trail.origin)

    # -- the report -----------------------------------------------------------------------------

    def _save_clicked(self) -> None:
        if self.task_id is None:
            return
        name, chosen = QFileDialog.getSaveFileName(
            self,
            "Save task report",
            f"{self.task_id}-report.html",
            "HTML report, verifiable (*.html);;PDF printout (*.pdf)",
        )
        if not name:
            return
        path = Path(name)
        if not path.suffix:
            path = path.with_suffix(".pdf" if "pdf" in chosen.lower() else ".html")
        self.save_report(path)

    def save_report(self, path: Path) -> None:
        """Re-verify the task's events, then write ``path`` (``.pdf``: a PDF, else HTML)."""
        reader, task_id = self.reader, self.task_id
        if reader is None or task_id is None:
            self.report_failed.emit("No task shown.")
            return
        pdf = path.suffix.lower() == ".pdf"
        _spare_from_full_collections()
        self.saving = True
        self.save_button.setEnabled(False)
        self.status.setText("Re-verifying the task's events and writing the report…")

        def work() -> str:
            report = prepare_report(reader.path, task_id)
            if not pdf:
                return save_html(report, path).summary()
            # On the worker too: laying out a 5,000-step task takes about a second, and the PDF
            # writer touches no widget and no GUI-thread object.
            size = write_pdf(report, path)
            return (
                f"Saved the PDF of {len(report.events):,} verified event(s) to {path} "
                f"({size:,} bytes)."
            )

        def done(message: str) -> None:
            self.saving = False
            self.save_button.setEnabled(True)
            self.status.setText(message)
            self.report_saved.emit(message)

        def failed(exc: BaseException) -> None:
            self.saving = False
            self.save_button.setEnabled(True)
            message = f"The report was not saved: {exc}"
            self.status.setText(message)
            self.report_failed.emit(message)

        # Started once the window has repainted to say so: the worker and the UI thread share
        # the interpreter lock, and the repaint of a busy window waits on it for tens of ms.
        QTimer.singleShot(0, self, lambda: self.runner.submit(work, done, failed))
