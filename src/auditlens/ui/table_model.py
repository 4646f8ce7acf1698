"""The events table model: millions of rows from the mirror, a few pages in memory.

A custom ``QAbstractTableModel`` in the manner of DB Browser for SQLite's table model:
the row count and the pages (:data:`PAGE_SIZE` rows) are read on worker threads
through :class:`auditlens.mirror.reader.MirrorReader`; ``data()`` only looks into the page cache
and, on a miss, asks for the page and shows a placeholder until it arrives. A generation number
drops results of a filter or sort that was replaced meanwhile. Sorting is an ``ORDER BY`` in the
query layer (``sort()`` starts a new query); there is no proxy model over the rows (benchmarks.md:
97 s to sort 200k rows in a ``QSortFilterProxyModel``).

The first page usually arrives before the count: the model then shows that page's rows at once
and grows to the full count when it is known, so the table fills in milliseconds even when a
broad count takes longer.

The Outcome column shows the *verdict* (:func:`auditlens.core.summaries.verdict_of`): a refusal (a
denied approval, a login refused by policy) reads "denied" in amber, never a green "success" a
manager would take for "it went through". Every cell's tooltip holds its full value, so a cut
off id can always be read. IP address and user agent (the event's ``request``) are columns too,
hidden until chosen from the header's menu.

With a free-text search in the filter, :data:`HIGHLIGHT_ROLE` gives the ``(start, end)`` spans
of its hits in a cell's text (:func:`auditlens.mirror.search.highlight_spans`), which
:class:`auditlens.ui.query_bar.HighlightDelegate` paints.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QIcon

from auditlens.core.timestamps import format_timestamp
from auditlens.mirror.filter import EventFilter, SortColumn
from auditlens.mirror.pool import QueryCancelledError, QueryScope
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import Row
from auditlens.mirror.resolve import PrefixTooBroadError
from auditlens.mirror.search import SearchQuery, highlight_spans
from auditlens.ui import theme
from auditlens.ui.resources import icon
from auditlens.ui.tasks import TaskRunner

PAGE_SIZE = 200
#: ``data()`` role: the hits of the search in the cell's text, ``[(start, end), ...]``.
HIGHLIGHT_ROLE = int(Qt.ItemDataRole.UserRole) + 1
MAX_CACHED_PAGES = 64  # 12,800 rows: a few screens either side of every place visited


class Column(NamedTuple):
    title: str
    sort: SortColumn | None  # None: not sortable (no index for it)
    width: int  # default width in pixels


COLUMNS: tuple[Column, ...] = (
    Column("Time (UTC)", "ts", 196),
    Column("Type", "type", 160),
    Column("User", "user", 220),
    Column("Task", "task", 130),
    Column("Agent", "agent", 130),
    Column("Outcome", "outcome", 100),
    Column("Summary", None, 380),
    Column("Index", "idx", 72),
    Column("IP address", None, 130),
    Column("User agent", None, 240),
)
TIME, TYPE, USER, TASK, AGENT, OUTCOME, SUMMARY, INDEX, IP, USER_AGENT = range(len(COLUMNS))
#: Shown until the person chooses otherwise (the header's right-click menu).
HIDDEN_BY_DEFAULT = frozenset({IP, USER_AGENT})

# The light theme's status colours; data() paints with the current theme's (auditlens.ui.theme).
FAILURE_TEXT = QColor(theme.LIGHT.failure_text)
FAILURE_BACKGROUND = QColor(theme.LIGHT.failure_bg)
#: Refused by policy or permission: amber, apart from both success and failure.
DENIED_TEXT = QColor(theme.LIGHT.denied_text)
DENIED_BACKGROUND = QColor(theme.LIGHT.denied_bg)
MUTED = QColor(theme.LIGHT.muted)
PLACEHOLDER = "…"
TimeMode = Literal["utc", "relative"]
#: The Time column's title per mode: UTC is always named, also when times are relative.
TIME_TITLES: dict[TimeMode, str] = {"utc": "Time (UTC)", "relative": "Time (relative · UTC)"}


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def relative_time(ts_ms: int, now_ms: int) -> str:
    """``ts_ms`` as a person says it, from ``now_ms``: "just now", "3 min ago", "in 2 h".

    Minutes up to 90, hours up to 36, days up to 14, then weeks up to 8, months up to 18,
    then years: a coarse reading; the exact UTC time is in the tooltip.
    """
    delta = (now_ms - ts_ms) // 1000
    ahead, seconds = delta < 0, abs(delta)
    if seconds < 45:
        return "just now"
    for limit, unit_seconds, unit in (
        (90 * 60, 60, "min"),
        (36 * 3600, 3600, "h"),
        (14 * 86400, 86400, "day"),
        (8 * 7 * 86400, 7 * 86400, "week"),
        (548 * 86400, 30 * 86400, "month"),
        (None, 365 * 86400, "year"),
    ):
        if limit is None or seconds < limit:
            n = max(1, round(seconds / unit_seconds))
            word = unit if unit in ("min", "h") or n == 1 else unit + "s"
            return f"in {n} {word}" if ahead else f"{n} {word} ago"
    raise AssertionError("unreachable")  # pragma: no cover


_Index = QModelIndex | QPersistentModelIndex


def verdict_of_row(row: Row) -> str:
    """What the Outcome column says: the stored verdict, else the signed outcome."""
    return row.verdict or row.outcome or ""


class EventTableModel(QAbstractTableModel):
    """Rows of the mirror matching a filter, in a sort order, paged in the background."""

    #: The number of matching events, once counted (-1 while counting).
    count_changed = Signal(int)
    #: A page of rows arrived (its first row number); tests and the benchmark wait on it.
    page_loaded = Signal(int)
    #: A background read failed (message for the status bar).
    load_failed = Signal(str)
    #: The filter cannot be answered as typed (a prefix of too many values): what to do.
    filter_refused = Signal(str)

    def __init__(
        self,
        runner: TaskRunner,
        parent: QObject | None = None,
        clock: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        super().__init__(parent)
        self._runner = runner
        self._clock = clock
        self.time_mode: TimeMode = "utc"
        self._reader: MirrorReader | None = None
        self._filter = EventFilter()
        self._search = SearchQuery(())
        self._sort_section = TIME
        self._descending = True
        self._generation = 0
        self._scope = QueryScope()  # the current query's reads, interrupted when it is replaced
        #: The latest jump's read (a page far from every loaded one), interrupted by the next
        #: jump: dragging the scrollbar asks for many positions, and at millions of rows a jump
        #: into a broad filter sorted by task, agent or user can still take 1-2 s (OFFSET along
        #: the walk; up to plan.JUMP_SORT_CAP rows the filter's rows are sorted instead).
        self._jump = QueryScope()
        self._rows = 0
        self._count: int | None = None
        self._pages: OrderedDict[int, list[Row]] = OrderedDict()
        self._pending: set[int] = set()
        self._emails: dict[str, str] = {}
        self._count_started = False
        self._failure_icon: QIcon = icon("failure")
        self._success_icon: QIcon = icon("success")
        self._denied_icon: QIcon = icon("denied")
        self._mono = QFont("DejaVu Sans Mono")
        self._mono.setStyleHint(QFont.StyleHint.Monospace)

    # -- state ----------------------------------------------------------------------------------

    @property
    def reader(self) -> MirrorReader | None:
        return self._reader

    @property
    def event_filter(self) -> EventFilter:
        return self._filter

    @property
    def search(self) -> SearchQuery:
        """The free-text search of the filter, parsed (empty when there is none)."""
        return self._search

    @property
    def count(self) -> int | None:
        """The number of matching events, or None while it is being counted."""
        return self._count

    @property
    def sort_section(self) -> int:
        return self._sort_section

    @property
    def descending(self) -> bool:
        return self._descending

    @property
    def loading(self) -> bool:
        """True while the count or a page of the current query is still being read."""
        return self._count is None or bool(self._pending)

    def set_time_mode(self, mode: TimeMode) -> None:
        """Show times as UTC timestamps (the default) or relative to now ("3 min ago")."""
        if mode not in TIME_TITLES:
            raise ValueError(f"unknown time mode {mode!r}; use utc or relative")
        if mode != self.time_mode:
            self.time_mode = mode
            self.headerDataChanged.emit(Qt.Orientation.Horizontal, TIME, TIME)
            self.refresh_times()

    def refresh_times(self) -> None:
        """Repaint the Time column (relative times age; the app calls this each minute)."""
        if self._rows:
            self.dataChanged.emit(
                self.index(0, TIME), self.index(self._rows - 1, TIME), [Qt.ItemDataRole.DisplayRole]
            )

    def set_reader(self, reader: MirrorReader | None) -> None:
        """Show the rows of another mirror (or none); the filter and sort are kept."""
        self._reader = reader
        self._emails = {}
        if reader is not None:
            self._runner.submit(
                lambda: {u.id: u.email for u in reader.users() if u.email},
                lambda emails: self._set_emails(reader, emails),
                self._failed,
            )
        self._restart()

    def set_filter(self, f: EventFilter) -> None:
        """Show the rows matching ``f`` (a new query; stale pages are dropped)."""
        if f == self._filter:
            return
        self._filter = f
        self._search = SearchQuery.parse(f.text or "")
        self._restart()

    def refresh(self) -> None:
        """Re-read everything (after a sync added entries); the filter and sort are kept."""
        if self._reader is not None:
            self._reader.refresh()
        self.set_reader(self._reader)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sort by ``column`` in SQL; a column without an index (Summary) is ignored."""
        if not 0 <= column < len(COLUMNS) or COLUMNS[column].sort is None:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        if (column, descending) == (self._sort_section, self._descending):
            return
        self._sort_section, self._descending = column, descending
        self._restart()

    def row_at(self, row: int) -> Row | None:
        """The row at ``row`` when its page is loaded (None while it is being read)."""
        page = self._pages.get(row // PAGE_SIZE)
        if page is None:
            return None
        offset = row % PAGE_SIZE
        return page[offset] if offset < len(page) else None

    def email_of(self, user_id: str | None) -> str | None:
        """The directory email of ``user_id`` (None when unknown)."""
        return self._emails.get(user_id) if user_id else None

    # -- Qt model interface ---------------------------------------------------------------------

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else self._rows

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008, N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(  # noqa: N802 (Qt override)
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return TIME_TITLES[self.time_mode] if section == TIME else COLUMNS[section].title
            if role == Qt.ItemDataRole.ToolTipRole and section == TIME:
                if self.time_mode == "relative":
                    return "How long ago, from now; hover a cell for its exact time in UTC"
                return "When the event happened, in UTC (Coordinated Universal Time)"
            if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section].sort is None:
                return "Not sortable: filter instead"
        return None

    def flags(self, index: _Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self._rows:
            return None
        row = self.row_at(index.row())
        column = index.column()
        if row is None:
            if role == Qt.ItemDataRole.DisplayRole:
                self._request(index.row() // PAGE_SIZE)
                return PLACEHOLDER if column == TIME else None
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.UserRole:
            return row.idx
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(row, column)
        if column == OUTCOME:
            return self._outcome_style(verdict_of_row(row), role)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == INDEX:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == HIGHLIGHT_ROLE and self._search and column not in (TIME, INDEX):
            return list(highlight_spans(self._search, self._display(row, column))) or None
        return None

    def _foreground(self, row: Row, column: int) -> QBrush | None:
        """A failure or refusal in its colour; a missing user, id or address greyed."""
        colours = theme.current()
        if column == OUTCOME:
            verdict = verdict_of_row(row)
            if verdict == "failure":
                return QBrush(QColor(colours.failure_text))
            return QBrush(QColor(colours.denied_text)) if verdict == "denied" else None
        missing = {
            USER: row.user_id,
            TASK: row.task_id,
            AGENT: row.agent_id,
            IP: row.ip,
            USER_AGENT: row.user_agent,
        }
        if column in missing and missing[column] is None:
            return QBrush(QColor(colours.muted))
        return None

    def _outcome_style(self, verdict: str, role: int) -> Any:
        """The Outcome cell's icon, and for a failure or refusal its background and bold."""
        marked = verdict in ("failure", "denied")
        if role == Qt.ItemDataRole.DecorationRole:
            if verdict == "denied":
                return self._denied_icon
            return self._failure_icon if verdict == "failure" else self._success_icon
        if role == Qt.ItemDataRole.BackgroundRole and marked:
            colours = theme.current()
            failed = verdict == "failure"
            return QBrush(QColor(colours.failure_bg if failed else colours.denied_bg))
        if role == Qt.ItemDataRole.FontRole and marked:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _display(self, row: Row, column: int) -> str:
        if column == TIME:
            if self.time_mode == "relative":
                return relative_time(row.ts, self._clock())
            return format_timestamp(row.ts)
        if column == TYPE:
            return row.type or ""
        if column == USER:
            if row.user_id is None:
                return "—"
            return self._emails.get(row.user_id) or row.user_id
        if column == TASK:
            return row.task_id or "—"
        if column == AGENT:
            return row.agent_id or "—"
        if column == OUTCOME:
            return verdict_of_row(row)
        if column == SUMMARY:
            return row.summary or ""
        if column == IP:
            return row.ip or "—"
        if column == USER_AGENT:
            return row.user_agent or "—"
        return str(row.idx)

    def _tooltip(self, row: Row, column: int) -> str | None:
        """The cell's full value (a narrow column cuts it off), with what it means."""
        if column == USER:
            if row.user_id is None:
                return "No user: the event was not caused by a person"
            email = self._emails.get(row.user_id)
            return f"{email}\nuser id {row.user_id}" if email else f"user id {row.user_id}"
        if column == OUTCOME:
            verdict = verdict_of_row(row)
            if verdict == "denied":
                return (
                    "denied: refused by policy or permission, it did not go through "
                    f"(signed outcome: {row.outcome or 'none'})"
                )
            if verdict == "failure":
                return "failure: this operation failed"
            return "success: this operation succeeded" if verdict == "success" else None
        if column == TIME:
            if self.time_mode == "relative":
                return f"{format_timestamp(row.ts)} (UTC), {relative_time(row.ts, self._clock())}"
            return f"{format_timestamp(row.ts)} (UTC)"
        text = self._display(row, column)
        return text if text and text != "—" else None

    # -- background reads -----------------------------------------------------------------------

    def _restart(self) -> None:
        """Drop every row and read the count and the first page of the current query."""
        self._generation += 1
        self._scope.cancel()  # the replaced query's count and pages stop now, not at their end
        self._scope = QueryScope()
        self._jump.cancel()
        self.beginResetModel()
        self._rows = 0
        self._count = None
        self._pages.clear()
        self._pending.clear()
        self.endResetModel()
        self.count_changed.emit(-1)
        reader = self._reader
        if reader is None:
            self._count = 0
            self.count_changed.emit(0)
            return
        # The first page goes first and alone: the count (up to ~200 ms at 5M rows) starts
        # when it has arrived, so the two never compete for the 2 cores and the rows show first.
        self._count_started = False
        self._request(0)

    def _start_count(self) -> None:
        reader = self._reader
        if reader is None or self._count_started:
            return
        self._count_started = True
        generation, f = self._generation, self._filter
        self._runner.submit(
            self._scope.wrap(lambda: reader.count(f)),
            lambda n: self._count_arrived(generation, n),
            self._failed,
        )

    def _sort_key(self) -> tuple[SortColumn, bool]:
        sort = COLUMNS[self._sort_section].sort
        assert sort is not None
        return sort, self._descending

    def _request(self, page: int) -> None:
        """Ask a worker for ``page`` unless it is loaded or on its way."""
        reader = self._reader
        if reader is None or page in self._pending or page in self._pages:
            return
        self._pending.add(page)
        generation, f = self._generation, self._filter
        sort, desc = self._sort_key()
        before = self._pages.get(page - 1)
        after = self._pages.get(page + 1)
        scope: QueryScope = self._scope
        failed: Callable[[BaseException], None] = self._failed
        if page == 0:
            job = lambda: reader.page(f, sort, desc, None, PAGE_SIZE)  # noqa: E731
        elif before is not None and len(before) == PAGE_SIZE:
            last = before[-1]
            job = lambda: reader.page(  # noqa: E731
                f, sort, desc, reader.key_of(last, sort), PAGE_SIZE
            )
        elif after is not None and after:
            first = after[0]
            job = lambda: reader.page_before(  # noqa: E731
                f, sort, desc, reader.key_of(first, sort), PAGE_SIZE
            )
        else:
            total = self._count
            job = lambda: reader.page_at(  # noqa: E731
                f, sort, desc, page * PAGE_SIZE, PAGE_SIZE, total=total
            )
            self._jump.cancel()  # an older jump's rows are no longer where the person looks
            self._jump = scope = QueryScope()
            failed = lambda exc: self._jump_failed(generation, page, exc)  # noqa: E731
        self._runner.submit(
            scope.wrap(job), lambda rows: self._page_arrived(generation, page, rows), failed
        )

    def _set_emails(self, reader: MirrorReader, emails: dict[str, str]) -> None:
        if reader is not self._reader:
            return
        self._emails = emails
        if self._rows:
            self.dataChanged.emit(self.index(0, USER), self.index(self._rows - 1, USER))

    def _count_arrived(self, generation: int, n: int) -> None:
        if generation != self._generation:
            return
        self._count = n
        self._resize(n)
        self.count_changed.emit(n)

    def _page_arrived(self, generation: int, page: int, rows: list[Row]) -> None:
        if generation != self._generation:
            return
        self._pending.discard(page)
        self._pages[page] = rows
        self._pages.move_to_end(page)
        while len(self._pages) > MAX_CACHED_PAGES:
            self._pages.popitem(last=False)
        first = page * PAGE_SIZE
        if self._count is None and page == 0:
            # Show the first rows now; the count will grow the table to its real size.
            self._resize(len(rows))
            self._start_count()
        elif rows and first < self._rows:
            last = min(first + len(rows), self._rows) - 1
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))
        self.page_loaded.emit(first)

    def _resize(self, n: int) -> None:
        if n > self._rows:
            self.beginInsertRows(QModelIndex(), self._rows, n - 1)
            self._rows = n
            self.endInsertRows()
        elif n < self._rows:
            self.beginRemoveRows(QModelIndex(), n, self._rows - 1)
            self._rows = n
            self.endRemoveRows()

    def _jump_failed(self, generation: int, page: int, exc: BaseException) -> None:
        if generation == self._generation and isinstance(exc, QueryCancelledError):
            self._pending.discard(page)  # overtaken by a newer jump: asked again when in view
            return
        self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, QueryCancelledError):
            return  # a read of a replaced query: its generation is gone
        self._pending.clear()
        if isinstance(exc, PrefixTooBroadError):  # the filter's fault, not the mirror's
            self._count = 0
            self._count_started = True
            self.count_changed.emit(0)
            self.filter_refused.emit(str(exc))
            return
        self._start_count()
        self.load_failed.emit(f"Reading the mirror failed: {exc}")
