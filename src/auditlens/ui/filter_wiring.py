"""Keeps the window's views of the one filter in step: query bar, sidebar, chips, table, count.

The sidebar (:class:`~auditlens.ui.filter_panel.FilterPanel`) holds the filter; everything else
shows it or asks it to change:

- the query bar's Enter puts the parsed filter into the sidebar (``show_filter``);
- every ``filter_changed`` of the sidebar (a control, a chip's ✕, Back/Forward, a pivot, a
  histogram drag, a saved search) reaches :meth:`FilterWiring.show`, which sets the table's
  filter, the chips and the bar's line (without a signal back, so nothing loops);
- the match count, the "nothing matches" message and the span "Custom (UTC)…" opens on follow
  the table's answers.

Completion lists (emails, agent ids, IPs, task ids by prefix) are read from the mirror on the
window's worker threads, never on the UI thread, and offered to both the sidebar and the bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject
from PySide6.QtGui import QKeySequence, QShortcut

from auditlens.mirror.filter import EventFilter
from auditlens.mirror.query_format import format_query
from auditlens.mirror.query_text import ParsedQuery
from auditlens.mirror.reader import MirrorReader
from auditlens.ui.query_bar import HighlightDelegate, QueryBar
from auditlens.ui.table_model import HIGHLIGHT_ROLE, IP, SUMMARY, TYPE, USER

if TYPE_CHECKING:
    from auditlens.ui.main_window import MainWindow

#: Completion lists of the filter fields: (field, mirror column).
COMPLETED_FIELDS = (("agent", "agent_id"), ("ip", "ip"))
#: Task ids offered per typed prefix (there can be hundreds of thousands).
TASK_COMPLETIONS = 50


class FilterWiring(QObject):
    """Connects a window's query bar, sidebar, chips, table model and count label."""

    def __init__(self, window: MainWindow, clock: Callable[[], int]) -> None:
        super().__init__(window)
        self._window = window
        self._refusal: str | None = None
        self.bar = QueryBar(clock)
        self.bar.query_applied.connect(self._query_applied)
        self.bar.completion_wanted.connect(self._complete)
        window.table.empty_state.clear_button.clicked.connect(window.filters.reset)
        self.hit_delegate = HighlightDelegate(HIGHLIGHT_ROLE, window.table)
        for column in (SUMMARY, TYPE, USER, IP):
            window.table.setItemDelegateForColumn(column, self.hit_delegate)
        QShortcut(QKeySequence("/"), window, self.bar.focus)
        window.filters.filter_changed.connect(self.show)
        window.filters.completion_wanted.connect(self._complete)
        window.model.count_changed.connect(self._count_changed)
        window.model.filter_refused.connect(self._filter_refused)

    # -- the filter -----------------------------------------------------------------------------

    def _query_applied(self, parsed: ParsedQuery) -> None:
        self._window.filters.show_filter(parsed.filter, parsed.last_ms)

    def query_text(self) -> str:
        """The shown filter as its canonical query line (a relative range stays relative)."""
        filters = self._window.filters
        return format_query(self._window.model.event_filter, filters.relative_length())

    def show(self, f: EventFilter) -> None:
        """Show the rows matching ``f`` (the sidebar's filter) and say so in the bar."""
        window = self._window
        window.chips.show_filter(f)
        # The words are shown in the bar, not as a chip: say that they narrow the view.
        window.chips.all_label.setText("All events matching the search" if f.text else "All events")
        line = format_query(f, window.filters.relative_length())
        window.chips.setToolTip(f"As a query: {line}" if line else "")
        window.model.set_filter(f)
        self.bar.show_query(line)
        window.detail.highlighter.set_search(window.model.search)

    def _count_changed(self, n: int) -> None:
        window = self._window
        window.count_label.setText("Counting…" if n < 0 else f"{n:,} matching events")
        if n < 0:
            self._refusal = None
            window.table.empty_state.setVisible(False)
            return
        if n == 0:
            self.show_empty()
        reader, f = window.reader, window.model.event_filter
        if n > 0 and reader is not None:
            window.runner.submit(
                lambda: reader.span(f),
                lambda span: self._span_arrived(reader, f, span),
            )

    def _span_arrived(
        self, reader: MirrorReader, f: EventFilter, span: tuple[int, int] | None
    ) -> None:
        window = self._window
        if reader is window.reader and f == window.model.event_filter and span is not None:
            window.filters.set_data_span(*span)

    def _filter_refused(self, message: str) -> None:
        self._refusal = message
        self._window.count_label.setText("Too many to list")  # not "0": nothing was counted
        self.show_empty()

    def show_empty(self) -> None:
        """Nothing to show: say why, and offer the way back (unless the mirror is empty)."""
        window = self._window
        empty_state = window.table.empty_state
        if window.reader is None:
            empty_state.show_message(
                "No mirror open", "Sign in and sync to see the audit log.", can_clear=False
            )
        elif self._refusal is not None:
            message = self._refusal[0].upper() + self._refusal[1:]
            empty_state.show_message("Too many matches to list", message + ".", can_clear=True)
        elif window.model.event_filter.is_empty():
            empty_state.show_message(
                "No events yet",
                "This mirror holds no events: sync to fetch the log.",
                can_clear=False,
            )
        else:
            empty_state.show_message(
                "No events match these filters",
                "Remove a filter above (✕), or clear them all.",
                can_clear=True,
            )

    # -- completion -----------------------------------------------------------------------------

    def load_completions(self, reader: MirrorReader) -> None:
        """Emails, agent ids and IPs the mirror holds, for the sidebar's fields and the bar."""
        window = self._window

        def known() -> dict[str, list[str]]:
            found = {field: reader.known_values(column) for field, column in COMPLETED_FIELDS}
            found["user"] = reader.user_emails()
            return found

        def show(values: dict[str, list[str]]) -> None:
            if reader is window.reader:
                window.filters.set_user_emails(values["user"])
                for field, items in values.items():
                    if field != "user":
                        window.filters.set_known_values(field, items)
                    self.bar.set_values(field, items)

        window.runner.submit(known, show)

    def _complete(self, kind: str, typed: str) -> None:
        """Task ids starting with what was typed in the sidebar or the bar (index seeks on a
        worker; a stale answer for a shorter prefix is dropped)."""
        window = self._window
        reader = window.reader
        if reader is None or kind != "task":
            return

        def show(values: list[str]) -> None:
            if reader is not window.reader:
                return
            if window.filters.task.text().strip().rstrip("*") == typed:
                window.filters.set_known_values("task", values)
            if self.bar.typed_value("task") == typed:
                self.bar.set_values("task", values)

        window.runner.submit(
            lambda: reader.values_starting("task_id", typed, TASK_COMPLETIONS),
            show,
            lambda _exc: None,  # a prefix too broad to list: no completions, no error
        )
