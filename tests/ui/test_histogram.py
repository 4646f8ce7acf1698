"""The events-over-time strip in the real window: counts per bucket that add up to the table's
count, failures and denials among them, drag to choose a period, click to zoom, Back to return."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QToolTip
from pytestqt.qtbot import QtBot

from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.ui.histogram import (
    DAY,
    HOUR,
    MAX_BUCKETS,
    MINUTE,
    MONTH,
    WEEK,
    align,
    bucket_width,
    compute_bars,
    month_starts,
)
from auditlens.ui.main_window import MainWindow
from tests.ui.conftest import wait_loaded
from tests.ui.mirror_factory import BuiltMirror, event_dict, write_mirror


def bars_for(qtbot: QtBot, window: MainWindow, f: EventFilter) -> None:
    qtbot.waitUntil(lambda: window.model.event_filter == f, timeout=3_000)
    wait_loaded(qtbot, window)

    def arrived() -> bool:
        strip, count = window.histogram, window.model.count
        if count is None or count <= 0 or not strip.bars or strip.computing or strip.stale:
            return False
        return sum(b.total for b in strip.bars) == count

    qtbot.waitUntil(arrived, timeout=5_000)


def test_the_bars_add_up_to_the_count_with_failures_and_denials(
    window: MainWindow, qtbot: QtBot, demo_mirror: BuiltMirror
) -> None:
    bars_for(qtbot, window, EventFilter())
    strip = window.histogram
    assert 1 < len(strip.bars) <= MAX_BUCKETS
    conn = sqlite3.connect(demo_mirror.path)
    failures, denied = conn.execute(
        "SELECT SUM(verdict = 'failure'), SUM(verdict = 'denied') FROM entries"
    ).fetchone()
    conn.close()
    assert sum(b.failures for b in strip.bars) == failures > 0
    assert sum(b.denied for b in strip.bars) == denied > 0
    starts = [b.start_ms for b in strip.bars]
    assert starts == sorted(starts)
    assert all(a.end_ms == b.start_ms for a, b in zip(strip.bars, strip.bars[1:], strict=False))
    # A narrower filter: its own bars, still adding up.
    window.filters.set_field("type", "auth")
    bars_for(qtbot, window, EventFilter(types=frozenset({"auth"})))


def test_dragging_across_sets_the_date_range_and_back_returns(
    window: MainWindow, qtbot: QtBot
) -> None:
    bars_for(qtbot, window, EventFilter())
    strip = window.histogram
    bars = list(strip.bars)
    y = strip.height() // 2
    first, last = len(bars) // 4, len(bars) // 2
    x1 = int(strip.bar_rect(first).center().x())
    x2 = int(strip.bar_rect(last).center().x())
    qtbot.mousePress(strip, Qt.MouseButton.LeftButton, pos=QPoint(x1, y))
    qtbot.mouseMove(strip, QPoint((x1 + x2) // 2, y))
    qtbot.mouseMove(strip, QPoint(x2, y))
    qtbot.mouseRelease(strip, Qt.MouseButton.LeftButton, pos=QPoint(x2, y))
    chosen = EventFilter(since_ms=bars[first].start_ms, until_ms=bars[last].end_ms)
    bars_for(qtbot, window, chosen)
    assert strip.bars[0].start_ms >= bars[first].start_ms
    assert strip.bars[-1].end_ms <= bars[last].end_ms + (
        strip.bars[-1].end_ms - strip.bars[-1].start_ms
    )
    window.history.back()
    bars_for(qtbot, window, EventFilter())
    assert strip.bars == bars


def test_a_click_zooms_into_a_bar_and_back_walks_the_zoom(window: MainWindow, qtbot: QtBot) -> None:
    window.filters.set_field("type", "agent")
    outer = EventFilter(types=frozenset({"agent"}))
    bars_for(qtbot, window, outer)
    strip = window.histogram
    busiest = max(range(len(strip.bars)), key=lambda i: strip.bars[i].total)
    bar = strip.bars[busiest]
    centre = strip.bar_rect(busiest).center().toPoint()
    qtbot.mouseClick(strip, Qt.MouseButton.LeftButton, pos=centre)
    zoomed = EventFilter(since_ms=bar.start_ms, until_ms=bar.end_ms, types=outer.types)
    bars_for(qtbot, window, zoomed)
    assert sum(b.total for b in strip.bars) == bar.total
    assert strip.bars[1].end_ms - strip.bars[1].start_ms < bar.end_ms - bar.start_ms  # finer
    window.history.back()
    bars_for(qtbot, window, outer)
    window.history.forward()
    bars_for(qtbot, window, zoomed)


def test_bucket_sizes_scale_from_minutes_to_months() -> None:
    assert bucket_width(30 * MINUTE) == MINUTE
    assert bucket_width(6 * HOUR) == 5 * MINUTE
    assert bucket_width(3 * DAY) == HOUR
    assert bucket_width(90 * DAY) == DAY
    assert bucket_width(2 * 365 * DAY) == WEEK
    assert bucket_width(5 * 365 * DAY) == MONTH
    monday = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp() * 1000)
    assert align(monday + 3 * DAY + 5 * HOUR, WEEK) == monday
    edges = month_starts(monday, monday + 40 * DAY)
    assert [datetime.fromtimestamp(e / 1000, UTC).strftime("%Y-%m-%d") for e in edges] == [
        "2026-03-01",
        "2026-04-01",
        "2026-05-01",
    ]


def test_no_match_shows_no_bars_rather_than_the_last_filters(
    window: MainWindow, qtbot: QtBot
) -> None:
    bars_for(qtbot, window, EventFilter())
    window.filters.set_field("ip", "192.0.2.255")
    qtbot.waitUntil(lambda: window.model.count == 0)
    qtbot.waitUntil(lambda: not window.histogram.bars)
    window.history.back()
    bars_for(qtbot, window, EventFilter())


def test_a_span_of_years_has_calendar_month_bars(tmp_path: Path) -> None:
    start = int(datetime(2023, 1, 15, tzinfo=UTC).timestamp() * 1000)
    times = [start + i * 9 * DAY for i in range(130)]  # about 3 years and 2 months
    events = [
        event_dict(
            ts,
            "task.failed" if i % 4 == 0 else "task.created",
            id_=f"log_{i:026d}",
            outcome="failure" if i % 4 == 0 else "success",
        )
        for i, ts in enumerate(times)
    ]
    path = write_mirror(tmp_path / "years.sqlite", events).path
    reader = MirrorReader(path)
    try:
        bars = compute_bars(reader, EventFilter())
    finally:
        reader.close()
    assert sum(b.total for b in bars) == 130
    assert sum(b.failures for b in bars) == 33
    first = datetime.fromtimestamp(bars[0].start_ms / 1000, UTC)
    assert (first.year, first.month, first.day, first.hour) == (2023, 1, 1, 0)
    assert all(datetime.fromtimestamp(b.start_ms / 1000, UTC).day == 1 for b in bars)
    assert all(a.end_ms == b.start_ms for a, b in itertools.pairwise(bars))


def test_hovering_a_bar_tells_its_period_and_counts(window: MainWindow, qtbot: QtBot) -> None:
    bars_for(qtbot, window, EventFilter())
    strip = window.histogram
    busiest = max(range(len(strip.bars)), key=lambda i: strip.bars[i].total)
    qtbot.mouseMove(strip, strip.bar_rect(busiest).center().toPoint())
    bar = strip.bars[busiest]
    qtbot.waitUntil(lambda: f"{bar.total:,} events" in QToolTip.text())
    assert "UTC" in QToolTip.text() and "failures" in QToolTip.text()
