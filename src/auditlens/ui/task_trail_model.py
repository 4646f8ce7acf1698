"""The task trail's list model: one task's story, as rows a ``QListView`` shows.

The story itself (steps, groups, approval cards) is built without Qt by
:mod:`auditlens.export.trail_story`; this model only hands its rows to the view
(:class:`~auditlens.ui.task_trail_delegate.TrailDelegate` paints them) and answers the view's
questions (text, tooltip, which rows can be selected). :func:`load_story` reads and builds on a
worker, so the UI thread only swaps the rows in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, QObject, QPersistentModelIndex, Qt

from auditlens.export.trail_story import Row, SourceEvent, TaskStory, build_story
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.trail import TaskTrail, read_task_trail

__all__ = ["ROW_ROLE", "Index", "LoadedTrail", "TrailListModel", "load_story"]

ROW_ROLE = Qt.ItemDataRole.UserRole + 1
Index = QModelIndex | QPersistentModelIndex


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

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 (Qt API)
        return 0 if parent.isValid() else len(self._rows)

    def row_at(self, row: int) -> Row | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of_position(self, position: int) -> int:
        """The model row showing step ``position`` (-1 when none)."""
        for n, row in enumerate(self._rows):
            if row.step is not None and row.step.position == position:
                return n
        return -1

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
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

    def flags(self, index: Index) -> Qt.ItemFlag:
        row = self.row_at(index.row()) if index.isValid() else None
        if row is None or row.step is None:
            return Qt.ItemFlag.ItemIsEnabled  # group headers are not selectable
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
