"""The active filter above the table, as readable chips that each remove their condition.

A query string (``?user_email=…&outcome=…``) is how a machine reads a filter; a person reads
"User starts with elena ✕  Outcome: denied ✕". Each chip names one condition in plain words
(:func:`auditlens.ui.filter_panel.filter_chips`) and its ✕ asks to drop just that condition
(``remove_requested(part)``); "Clear all" asks to drop every one. With no condition the bar says
"All events". The chips are built from the filter the table shows, so they never disagree.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from auditlens.mirror.filter import EventFilter
from auditlens.ui.filter_panel import filter_chips


class FilterChip(QFrame):
    """One condition: its words and a ✕ that removes it."""

    def __init__(self, part: str, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("FilterChip")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.part = part
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 1, 2, 1)
        layout.setSpacing(2)
        self.label = QLabel(text)
        self.label.setToolTip(text)
        layout.addWidget(self.label)
        self.close_button = QToolButton()
        self.close_button.setObjectName("ChipClose")
        self.close_button.setText("✕")
        self.close_button.setToolTip("Remove this filter")
        self.close_button.setAccessibleName(f"Remove filter: {text}")
        self.close_button.setAutoRaise(True)
        self.close_button.setCursor(Qt.CursorShape.PointingHandCursor)
        layout.addWidget(self.close_button)


class FilterChips(QWidget):
    """A row of :class:`FilterChip` for the current filter, or "All events"."""

    #: The part of the filter to drop (``time``, ``user``, ``types``, ``task``, ...).
    remove_requested = Signal(str)
    clear_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self.all_label = QLabel("All events")
        self.all_label.setObjectName("FilterAll")
        self._layout.addWidget(self.all_label)
        self.clear_button = QPushButton("Clear all")
        self.clear_button.setObjectName("ClearFilters")
        self.clear_button.setFlat(True)
        self.clear_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.clear_button.clicked.connect(self.clear_requested)
        self._layout.addWidget(self.clear_button)
        self._layout.addStretch(1)
        self.chips: list[FilterChip] = []
        self.show_filter(EventFilter())

    def show_filter(self, f: EventFilter) -> None:
        """Replace the chips with those of ``f``."""
        for chip in self.chips:
            self._layout.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        for position, (part, text) in enumerate(filter_chips(f)):
            chip = FilterChip(part, text, self)
            chip.close_button.clicked.connect(lambda _=False, p=part: self.remove_requested.emit(p))
            self._layout.insertWidget(position + 1, chip)
            self.chips.append(chip)
        self.all_label.setVisible(not self.chips)
        self.clear_button.setVisible(len(self.chips) > 1)

    def texts(self) -> list[str]:
        """What the chips say, in order (for tests and the accessible summary)."""
        return [chip.label.text() for chip in self.chips]
