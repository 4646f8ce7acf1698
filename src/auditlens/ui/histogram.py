"""The events-over-time strip above the table: how many events match the filter per time bucket.

"When did the failures start?" is answered by looking, not by paging: each bar is a bucket of
time (from one minute to one month, whichever gives at most :data:`MAX_BUCKETS` bars for the
span in view), its failures and denials stacked at its foot in the table's verdict colours.

- Drag across the strip to show only that period (the custom From/To of the sidebar).
- Click a bar to zoom into its bucket; Back (Alt+Left) walks the zoom out again, because each
  zoom is a filter change in the window's history (:mod:`auditlens.ui.history`).
- Hover a bar for its period and counts.

The counts come from the mirror's indexes
(:meth:`~auditlens.mirror.reader.MirrorReader.bucket_counts`) on a worker of the long-job pool,
after the table's count arrived (the rows come first, and scrolling never waits behind the
bars); a new filter cancels the computation of the old one. Buckets are UTC: days start at
midnight UTC, weeks on Monday, months on the 1st.
"""

from __future__ import annotations

import calendar
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime

from PySide6.QtCore import QPoint, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QToolTip, QWidget

from auditlens.core.timestamps import format_timestamp
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.pool import QueryScope
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import Buckets
from auditlens.ui import theme
from auditlens.ui.table_model import EventTableModel
from auditlens.ui.tasks import TaskRunner

MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
#: Bucket widths tried in order; beyond a week, calendar months.
WIDTHS = (
    MINUTE,
    5 * MINUTE,
    15 * MINUTE,
    30 * MINUTE,
    HOUR,
    3 * HOUR,
    6 * HOUR,
    12 * HOUR,
    DAY,
    WEEK,
)
MONTH = -1
MAX_BUCKETS = 120
#: 1970-01-01 was a Thursday: weeks are aligned to the Monday four days later.
WEEK_ORIGIN = 4 * DAY
SUCCESS_BAR = QColor("#7f9cc0")
HEIGHT = 78
#: Pixels a press must move to be a drag (a range) rather than a click (a zoom).
DRAG_THRESHOLD = 4


@dataclass(frozen=True)
class Bar:
    """One bucket: ``[start_ms, end_ms)`` and its counts."""

    start_ms: int
    end_ms: int
    total: int
    failures: int
    denied: int


def bucket_width(span_ms: int) -> int:
    """The narrowest width giving at most :data:`MAX_BUCKETS` buckets (:data:`MONTH` beyond)."""
    for width in WIDTHS:
        if span_ms <= width * MAX_BUCKETS:
            return width
    return MONTH


def align(ms: int, width: int) -> int:
    """The start of the bucket holding ``ms`` (UTC days; weeks from Monday)."""
    if width == WEEK:
        return ms - (ms - WEEK_ORIGIN) % WEEK
    return ms - ms % width


def month_starts(start_ms: int, end_ms: int) -> list[int]:
    """The first instant (UTC) of each calendar month from ``start_ms``'s to past ``end_ms``."""
    first = datetime.fromtimestamp(start_ms / 1000, UTC)
    year, month = first.year, first.month
    edges: list[int] = []
    while True:
        edge = calendar.timegm((year, month, 1, 0, 0, 0)) * 1000
        edges.append(edge)
        if edge >= end_ms:
            return edges
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def compute_bars(reader: MirrorReader, f: EventFilter) -> list[Bar]:
    """The bars for ``f``: over its own time range where it has one, else over the span of the
    events it matches (runs on a worker)."""
    span = reader.span(f)
    if span is None:
        return []
    start = f.since_ms if f.since_ms is not None else span[0]
    end = f.until_ms if f.until_ms is not None else span[1] + 1
    end = max(end, start + 1)
    width = bucket_width(end - start)
    if width == MONTH:
        edges = month_starts(start, end)
        bars = []
        for low, high in itertools.pairwise(edges):
            b = reader.bucket_counts(f, low, high - low, 1)
            bars.append(Bar(low, high, b.total[0], b.failures[0], b.denied[0]))
        return bars
    first = align(start, width)
    n = max(1, -(-(end - first) // width))
    return bars_of(reader.bucket_counts(f, first, width, n))


def bars_of(buckets: Buckets) -> list[Bar]:
    w = buckets.width_ms
    return [
        Bar(buckets.start_ms + i * w, buckets.start_ms + (i + 1) * w, t, fl, d)
        for i, (t, fl, d) in enumerate(
            zip(buckets.total, buckets.failures, buckets.denied, strict=True)
        )
    ]


def period(bar: Bar) -> str:
    """``2026-02-27 14:00 – 15:00 UTC`` (the date of the end only when it differs)."""
    low = format_timestamp(bar.start_ms)[:16].replace("T", " ")
    high = format_timestamp(bar.end_ms)[:16].replace("T", " ")
    if high[:10] == low[:10]:
        high = high[11:]
    return f"{low} – {high} UTC"


class HistogramStrip(QWidget):
    """Counts per time bucket for the table's filter; drag sets a range, click zooms."""

    #: ``(since_ms, until_ms)``: show this period (``until`` exclusive).
    range_selected = Signal(object, object)
    #: The bars of the current filter arrived (tests, screenshots).
    bars_changed = Signal()

    def __init__(
        self, model: EventTableModel, runner: TaskRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("Histogram")
        self.setAccessibleName("Events over time")
        self.setFixedHeight(HEIGHT)
        self.setMouseTracking(True)
        self.setToolTip("Drag across to show that period; click a bar to zoom into it")
        self._model = model
        self._runner = runner
        self._scope = QueryScope()
        self._shown: tuple[int, EventFilter, int] | None = None
        self.bars: list[Bar] = []
        self.computing = False
        self._press: QPoint | None = None
        self._drag_to: QPoint | None = None
        #: The bars drawn belong to the previous filter (the new count is on its way): faded.
        self.stale = False
        model.count_changed.connect(self._count_changed)
        model.filter_refused.connect(lambda _message: self._clear())

    # -- data -----------------------------------------------------------------------------------

    def _count_changed(self, n: int) -> None:
        reader, f = self._model.reader, self._model.event_filter
        if n < 0:  # counting: the bars follow the count, so the rows come first
            if not self.stale and self.bars:
                self.stale = True
                self.update()
            return
        if reader is None or n == 0:
            self._clear()
            return
        key = (id(reader), f, n)
        if key == self._shown:
            return  # the same filter sorted differently: the same bars
        self._shown = key
        self._scope.cancel()
        self._scope = scope = QueryScope()
        self.computing = True
        counted = scope.wrap(lambda: compute_bars(reader, f))
        # The long-job pool: the table's page reads (the short pool) never queue behind it.
        self._runner.start(
            lambda _progress, _cancel: counted(),
            lambda bars: self._arrived(scope, bars),
            lambda _exc: self._arrived(scope, None),
        )

    def _arrived(self, scope: QueryScope, bars: list[Bar] | None) -> None:
        if scope is not self._scope:
            return  # replaced by a newer filter meanwhile
        self.computing = False
        if bars is not None:
            self._set_bars(bars)
        else:  # the counts failed (logged by the runner): show none rather than stale ones
            self._set_bars([])

    def _clear(self) -> None:
        """No bars: nothing matches, or the filter was refused (never the last filter's)."""
        self._scope.cancel()
        self._shown = None
        self.computing = False
        self._set_bars([])

    def _set_bars(self, bars: list[Bar]) -> None:
        self.stale = False
        self.bars = bars
        self.update()
        self.bars_changed.emit()

    # -- geometry -------------------------------------------------------------------------------

    def _plot(self) -> QRect:
        return self.rect().adjusted(8, 6, -8, -18)

    def bar_at(self, x: int) -> int | None:
        """The bar under horizontal position ``x`` (None outside the bars)."""
        plot = self._plot()
        if not self.bars or not plot.left() <= x <= plot.right():
            return None
        i = (x - plot.left()) * len(self.bars) // max(plot.width(), 1)
        return min(max(i, 0), len(self.bars) - 1)

    def bar_rect(self, i: int) -> QRectF:
        plot = self._plot()
        width = plot.width() / len(self.bars)
        return QRectF(plot.left() + i * width, plot.top(), width, plot.height())

    # -- painting -------------------------------------------------------------------------------

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().base())
        plot = self._plot()
        painter.setPen(QPen(QColor(theme.current().muted)))
        if not self.bars:
            text = "Counting events over time…" if self.computing else ""
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, text)
            return
        if self.stale:
            painter.setOpacity(0.35)
        peak = max(bar.total for bar in self.bars) or 1
        gap = 1.0 if plot.width() / len(self.bars) > 3 else 0.0
        for i, bar in enumerate(self.bars):
            cell = self.bar_rect(i)
            x, w = cell.left(), max(cell.width() - gap, 1.0)
            top = float(plot.bottom())
            rest = bar.total - bar.failures - bar.denied
            for count, colour in (
                (bar.failures, QColor(theme.current().failure_text)),
                (bar.denied, QColor(theme.current().denied_text)),
                (rest, SUCCESS_BAR),
            ):
                h = plot.height() * count / peak
                if count and h < 1.0:
                    h = 1.0  # one failure among thousands still shows
                painter.fillRect(QRectF(x, top - h, w, h), colour)
                top -= h
        if self._press is not None and self._drag_to is not None:
            low, high = sorted((self._press.x(), self._drag_to.x()))
            band = QRect(low, plot.top(), high - low, plot.height())
            painter.fillRect(band, QColor(61, 111, 168, 60))
            painter.setPen(QPen(QColor("#3d6fa8")))
            painter.drawRect(band)
        painter.setOpacity(1.0)
        painter.setPen(QPen(QColor(theme.current().muted)))
        labels = self.rect().adjusted(8, 0, -8, 0)
        labels.setTop(plot.bottom() + 2)
        first, last = self.bars[0], self.bars[-1]
        painter.drawText(
            labels,
            Qt.AlignmentFlag.AlignLeft,
            format_timestamp(first.start_ms)[:16].replace("T", " "),
        )
        painter.drawText(
            labels,
            Qt.AlignmentFlag.AlignRight,
            format_timestamp(last.end_ms)[:16].replace("T", " ") + " UTC",
        )
        painter.drawText(
            labels,
            Qt.AlignmentFlag.AlignHCenter,
            f"{self.bucket_name()} per bar · highest {peak:,}",
        )

    def bucket_name(self) -> str:
        if not self.bars:
            return ""
        width = self.bars[0].end_ms - self.bars[0].start_ms
        names = {
            MINUTE: "1 minute",
            5 * MINUTE: "5 minutes",
            15 * MINUTE: "15 minutes",
            30 * MINUTE: "30 minutes",
            HOUR: "1 hour",
            3 * HOUR: "3 hours",
            6 * HOUR: "6 hours",
            12 * HOUR: "12 hours",
            DAY: "1 day",
            WEEK: "1 week",
        }
        return names.get(width, "1 month")

    # -- mouse ----------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.button() == Qt.MouseButton.LeftButton and self.bars:
            self._press = event.position().toPoint()
            self._drag_to = None

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        pos = event.position().toPoint()
        if self._press is not None:
            if abs(pos.x() - self._press.x()) >= DRAG_THRESHOLD:
                self._drag_to = pos
                self.update()
            return
        i = self.bar_at(pos.x())
        if i is not None:
            bar = self.bars[i]
            text = (
                f"{period(bar)}\n{bar.total:,} events · {bar.failures:,} failures · "
                f"{bar.denied:,} denied\nClick to zoom in, drag to choose a period"
            )
            QToolTip.showText(event.globalPosition().toPoint(), text, self)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        press, self._press = self._press, None
        drag_to, self._drag_to = self._drag_to, None
        self.update()
        if press is None or event.button() != Qt.MouseButton.LeftButton:
            return
        if drag_to is None:  # a click: zoom into the bar
            i = self.bar_at(press.x())
            if i is not None:
                self.range_selected.emit(self.bars[i].start_ms, self.bars[i].end_ms)
            return
        low, high = sorted((press.x(), drag_to.x()))
        first, last = (
            self.bar_at(max(low, self._plot().left())),
            self.bar_at(min(high, self._plot().right())),
        )
        if first is not None and last is not None:
            self.range_selected.emit(self.bars[first].start_ms, self.bars[last].end_ms)
