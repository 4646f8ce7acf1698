"""The task trail window: one task's whole story as a vertical timeline, and its report.

The timeline is ONE ``QListView`` over a ``QAbstractListModel`` of the story's rows
(:mod:`auditlens.export.trail_story`; the model is :mod:`auditlens.ui.task_trail_model`)
painted by a custom delegate (:mod:`auditlens.ui.task_trail_delegate`), so a task of thousands of
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
from pathlib import Path

from PySide6.QtCore import (
    QModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeySequence, QShortcut
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
    QVBoxLayout,
    QWidget,
)

from auditlens.core.events import category_of
from auditlens.core.timestamps import format_timestamp
from auditlens.export.report import prepare_report, save_html
from auditlens.export.report_html import PALETTE
from auditlens.export.report_pdf import write_pdf
from auditlens.export.trail_story import Step, TaskStory
from auditlens.export.trail_story import format_duration as duration
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import EventRecord
from auditlens.mirror.records import Row as TableRow
from auditlens.mirror.trail import TaskTrail, TrailEntry
from auditlens.ui.detail_pane import DetailPane
from auditlens.ui.resources import icon
from auditlens.ui.task_trail_delegate import TrailDelegate
from auditlens.ui.task_trail_model import LoadedTrail, TrailListModel, load_story
from auditlens.ui.tasks import TaskRunner

__all__ = ["TaskTrailWindow"]


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
        self.task_field.setAccessibleName("Task id")
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
        self.view.setAccessibleName("Task trail steps")
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
