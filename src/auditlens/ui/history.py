"""Back and Forward through the filters shown, like a browser's history.

An investigation walks: from a failure to its user, from the user to the ten minutes around a
sign-in, from there to one IP. Each step (a pivot, a chip removed, a field edited, a histogram
zoom) is a filter change; :class:`FilterHistory` keeps every sidebar state shown, so Back
(Alt+Left) returns to the previous one exactly as it was (a relative range stays relative, a
typed prefix stays a prefix) and Forward (Alt+Right) walks on again. A new change after going
back drops the states ahead, as a browser does. The history lives as long as the window; it is
not kept across restarts.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence

from auditlens.mirror.filter import EventFilter
from auditlens.ui.filter_panel import FilterPanel, PanelState, filter_chips
from auditlens.ui.resources import icon

#: States kept; the oldest go first (a long session of typing must not grow without bound).
MAX_ENTRIES = 200


def describe(f: EventFilter) -> str:
    """A filter in a few words, for the buttons' tooltips."""
    chips = [text for _, text in filter_chips(f)]
    return "; ".join(chips) if chips else "every event"


class FilterHistory(QObject):
    """The sidebar states shown, and the Back / Forward actions that walk them."""

    #: The current position moved or the list changed (the actions are already updated).
    changed = Signal()

    def __init__(self, panel: FilterPanel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._panel = panel
        self._entries: list[tuple[PanelState, str]] = [
            (panel.state(), describe(panel.current_filter()))
        ]
        self._position = 0
        self._restoring = False
        self.back_action = QAction(icon("back"), "Back", self)
        self.back_action.setShortcut(QKeySequence("Alt+Left"))
        self.back_action.triggered.connect(self.back)
        self.forward_action = QAction(icon("forward"), "Forward", self)
        self.forward_action.setShortcut(QKeySequence("Alt+Right"))
        self.forward_action.triggered.connect(self.forward)
        panel.filter_changed.connect(self._filter_changed)
        self._update_actions()

    @property
    def position(self) -> int:
        return self._position

    def __len__(self) -> int:
        return len(self._entries)

    def can_go_back(self) -> bool:
        return self._position > 0

    def can_go_forward(self) -> bool:
        return self._position < len(self._entries) - 1

    def back(self) -> None:
        """Show the previous filter (and sidebar) again."""
        if self.can_go_back():
            self._go(self._position - 1)

    def forward(self) -> None:
        """Show the filter that Back left."""
        if self.can_go_forward():
            self._go(self._position + 1)

    def _go(self, position: int) -> None:
        self._position = position
        self._restoring = True
        try:
            self._panel.restore(self._entries[position][0])
        finally:
            self._restoring = False
        self._update_actions()

    def _filter_changed(self, f: EventFilter) -> None:
        if self._restoring:
            return
        state = self._panel.state()
        if state == self._entries[self._position][0]:
            return  # the same sidebar again (Enter pressed twice): not a step
        del self._entries[self._position + 1 :]
        self._entries.append((state, describe(f)))
        del self._entries[:-MAX_ENTRIES]
        self._position = len(self._entries) - 1
        self._update_actions()

    def _update_actions(self) -> None:
        back, forward = self.can_go_back(), self.can_go_forward()
        self.back_action.setEnabled(back)
        self.forward_action.setEnabled(forward)
        previous = self._entries[self._position - 1][1] if back else "nothing before"
        following = self._entries[self._position + 1][1] if forward else "nothing after"
        self.back_action.setToolTip(f"Back to the previous filter (Alt+Left): {previous}")
        self.forward_action.setToolTip(f"Forward (Alt+Right): {following}")
        self.changed.emit()
