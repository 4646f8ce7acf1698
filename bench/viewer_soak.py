"""Soak of the real window: many filter and sort changes, scrollbar jumps and wheel scrolls.

Workload (printed): the mirror bench/viewer.py builds (N demo events, default 1,000,000, cached
in bench/out/), opened in the real main window, shown offscreen and painting. Each round picks a
random filter of the ``--matrix`` set (single filters and 2-filter combinations) or a search
(:data:`SEARCHES`: 365,000 hits for "browser" at 5M, ~24,000 for "timeout") and a random
sort column and direction, then makes ``--jumps`` scrollbar jumps to random positions and
``--scrolls`` wheel steps (3 rows, up or down, with a page step now and then) from there. After
each action it runs the event loop until every row in view is loaded, as a person waits to read
them: nothing asks the model for rows but the view's own painting.

Printed: per kind of action (first page after a change, then its count, jump, scroll) the
number, median, p90 and worst (the count: its time after the first page); every action whose
rows did not all show within ``--timeout`` seconds (filter, sort, position: rerun that case by
hand) and the 12 slowest; every error the window reported; resident memory at the end. A
benchmark measures: it exits 1 on an error or a timeout, never on a figure.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/viewer_soak.py [--events N]
[--rounds 40] [--jumps 3] [--scrolls 20] [--seed 1]``
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from viewer import OUT, build, matrix_filters, rss_mb  # noqa: E402

if TYPE_CHECKING:
    from auditlens.ui.main_window import MainWindow

#: Searches among the filters (a common word, rarer ones): many hits sorted by a column walk.
SEARCHES = ("browser", "timeout", "denied", "github")
AGENT = frozenset({"agent"})


class Figures:
    """Each action's time by kind, the slowest cases, and those that never showed."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {
            k: [] for k in ("first page", "count", "jump", "scroll")
        }
        self.slowest: list[tuple[float, str]] = []
        self.stuck: list[str] = []

    def record(self, kind: str, case: str, seconds: float | None) -> None:
        if seconds is None:
            self.stuck.append(f"{kind:10s} {case}")
            return
        self.times[kind].append(seconds * 1000)
        self.slowest.append((seconds * 1000, f"{kind:10s} {case}"))

    def print(self, timeout: float) -> None:
        print(f"{'action':12s} {'n':>6s} {'median':>9s} {'p90':>9s} {'worst':>9s}   (ms)")
        for kind, values in self.times.items():
            if values:
                values.sort()
                p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
                print(
                    f"{kind:12s} {len(values):6d} {statistics.median(values):9.1f} {p90:9.1f} "
                    f"{values[-1]:9.1f}"
                )
        print("slowest:")
        for ms, case in sorted(self.slowest, reverse=True)[:12]:
            print(f"  {ms:8.1f}  {case}")
        print(f"not shown within {timeout:.0f} s: {len(self.stuck)}")
        for line in self.stuck:
            print(f"  {line}")


def settle(predicate: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until ``predicate()`` holds with the Qt event loop running, or None.

    Not ``viewer.wait_until``: that returns at once when the predicate already holds, without
    letting the view paint, so a wheel step over loaded rows measured 0 ms and left its paint
    to the next action. Here the loop always runs at least one tick."""
    from PySide6.QtCore import QEventLoop, QTimer

    started = time.perf_counter()
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(1)

    def check() -> None:
        if predicate() or time.perf_counter() - started > timeout:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    return time.perf_counter() - started if predicate() else None


def in_view_loaded(window: MainWindow) -> bool:
    """Whether every row the table shows now is loaded (none drawn as "loading")."""
    model, table = window.model, window.table
    n = model.rowCount()
    if n == 0:
        return model.count == 0
    first = max(table.rowAt(0), 0)
    last = table.rowAt(table.viewport().height() - 1)
    last = n - 1 if last < 0 else last
    return all(model.row_at(r) is not None for r in range(first, last + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--jumps", type=int, default=3)
    parser.add_argument("--scrolls", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=15.0)
    args = parser.parse_args()

    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication
    from tests.ui.mirror_factory import NOW_MS

    from auditlens.ui.main_window import MainWindow
    from auditlens.ui.resources import stylesheet
    from auditlens.ui.table_model import COLUMNS

    path = OUT / f"viewer-{args.events}.sqlite"
    print(
        f"workload: {args.events:,} demo events, real window offscreen; {args.rounds} rounds of "
        f"a random filter x sort, {args.jumps} scrollbar jumps and {args.scrolls} wheel steps "
        f"each (seed {args.seed}); rows in view awaited up to {args.timeout:.0f} s"
    )
    build(path, args.events)
    from auditlens.mirror.filter import EventFilter

    filters = sorted(matrix_filters(path).items())
    filters += [(f'search "{w}"', EventFilter(text=w)) for w in SEARCHES]
    filters.append(('search "browser" + type=agent', EventFilter(text="browser", types=AGENT)))
    sortable = [i for i, c in enumerate(COLUMNS) if c.sort is not None]
    rng = random.Random(args.seed)

    app = QApplication(sys.argv[:1])
    app.setStyleSheet(stylesheet())
    window = MainWindow(clock=lambda: NOW_MS)
    window.resize(1400, 900)
    model, table = window.model, window.table
    bar = table.verticalScrollBar()
    errors: list[str] = []
    model.load_failed.connect(errors.append)
    figures = Figures()
    shown = partial(in_view_loaded, window)

    window.open_mirror(path)
    window.show()
    settle(lambda: model.row_at(0) is not None, args.timeout)
    started = time.perf_counter()
    for _ in range(args.rounds):
        name, f = rng.choice(filters)
        section = rng.choice(sortable)
        order = rng.choice((Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder))
        case = f"{name} / {COLUMNS[section].title} {order.name}"
        window.apply_filter(f)
        table.sortByColumn(section, order)
        figures.record("first page", case, settle(shown, args.timeout))
        figures.record("count", case, settle(lambda: model.count is not None, args.timeout))
        for _ in range(args.jumps):
            bar.setValue(rng.randrange(bar.maximum() + 1))
            figures.record("jump", f"{case} @ row {table.rowAt(0):,}", settle(shown, args.timeout))
        for _ in range(args.scrolls):
            step = bar.pageStep() if rng.random() < 0.1 else 3
            bar.setValue(bar.value() + rng.choice((-step, step)))
            figures.record(
                "scroll", f"{case} @ row {table.rowAt(0):,}", settle(shown, args.timeout)
            )
    total = time.perf_counter() - started

    figures.print(args.timeout)
    rss, peak = rss_mb()
    print(f"soak: {total:,.1f} s; RSS {rss:,.0f} MB (peak {peak:,.0f} MB)")
    print(f"errors reported by the window: {len(errors)}")
    for line in errors:
        print(f"  {line}")
    window.close()
    return 1 if figures.stuck or errors else 0


if __name__ == "__main__":
    sys.exit(main())
