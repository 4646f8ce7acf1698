"""Viewer benchmark: a 1,000,000-event mirror, offscreen, real window.

Workload (printed): a mirror of N demo events (default 1,000,000) built directly with the mirror
schema (tests/ui/mirror_factory.py; cached in bench/out/ and reused), opened by a fresh process
that measures:

- launch -> first page shown: from the process start (before Qt is imported) until the first
  page of rows is in the table and painted;
- first page after each filter change and each sort (median and worst of several runs);
- a jump to the last row (scrollbar to the end) and to the middle;
- resident memory (VmRSS and peak VmHWM).

Aims (issue 4): first page <= 1.5 s after launch, <= 100 ms after a filter or sort, RSS <= 400 MB.

``--screens`` saves the PNGs of the sign-in dialog, the trust dialog, the main window with a
filter applied and a row selected, the changed-key error and the tamper banner to bench/out/.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/viewer.py [--events N] [--screens]``
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import argparse  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory in MB, from /proc."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def wait_until(predicate: object, timeout: float = 60.0) -> None:
    """Run the Qt event loop until ``predicate()`` holds (checked every millisecond)."""
    from PySide6.QtCore import QEventLoop, QTimer

    if predicate():  # type: ignore[operator]
        return
    loop = QEventLoop()
    deadline = time.perf_counter() + timeout
    timer = QTimer()
    timer.setInterval(1)

    def check() -> None:
        if predicate() or time.perf_counter() > deadline:  # type: ignore[operator]
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    if not predicate():  # type: ignore[operator]
        raise TimeoutError("the window did not load in time")


def build(path: Path, events: int) -> None:
    from tests.ui.mirror_factory import build_demo_mirror

    if path.exists():
        print(f"mirror: reusing {path} ({path.stat().st_size / 1e6:,.0f} MB)")
        return
    t = time.perf_counter()
    partial = path.with_name(path.name + ".partial")
    for leftover in path.parent.glob(partial.name + "*"):
        leftover.unlink()
    build_demo_mirror(partial, events)
    partial.rename(path)  # only a complete mirror is ever reused
    print(
        f"mirror: built {events:,} demo events in {time.perf_counter() - t:,.1f} s "
        f"({path.stat().st_size / 1e6:,.0f} MB)"
    )


def measure(path: Path) -> None:
    """Runs in a fresh process: every timing of the window on the mirror at ``path``."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication
    from tests.ui.mirror_factory import NOW_MS

    from auditlens.mirror.query import EventFilter
    from auditlens.ui.main_window import MainWindow
    from auditlens.ui.resources import stylesheet
    from auditlens.ui.table_model import COLUMNS

    app = QApplication(sys.argv[:1])
    app.setStyleSheet(stylesheet())
    window = MainWindow(clock=lambda: NOW_MS)
    model = window.model

    def wait(predicate: object, timeout: float = 60.0) -> None:
        wait_until(predicate, timeout)

    def first_page_shown() -> bool:
        return model.row_at(0) is not None

    window.open_mirror(path)
    window.show()
    wait(first_page_shown)
    window.table.viewport().repaint()
    launch = time.perf_counter() - STARTED
    wait(lambda: model.count is not None)
    counted = time.perf_counter() - STARTED
    print(f"launch -> first page shown: {launch * 1000:,.0f} ms (count known at {counted:,.2f} s)")
    print(f"rows: {model.rowCount():,}")

    reader = window.reader
    assert reader is not None
    users = reader.users()
    sample = reader.page(EventFilter(types=frozenset({"agent.action"})), "ts", True, None, 500)
    task = next(r.task_id for r in sample[400:] if r.task_id)
    agent = next(r.agent_id for r in sample[300:] if r.agent_id)
    day = 86_400_000
    filters = {
        "outcome=failure": EventFilter(outcome="failure"),
        "type=agent (category)": EventFilter(types=frozenset({"agent"})),
        "type=approval.denied,task.failed": EventFilter(
            types=frozenset({"approval.denied", "task.failed"})
        ),
        "user_email": EventFilter(user_email=users[len(users) // 2].email),
        "task_id": EventFilter(task_id=task),
        "agent_id": EventFilter(agent_id=agent),
        "last 24 hours": EventFilter(since_ms=NOW_MS - day),
        "last 7 days + failure + agent": EventFilter(
            since_ms=NOW_MS - 7 * day, outcome="failure", types=frozenset({"agent"})
        ),
        "custom 10-day window": EventFilter(since_ms=NOW_MS - 40 * day, until_ms=NOW_MS - 30 * day),
        "auth + user_email": EventFilter(
            types=frozenset({"auth"}), user_email=users[len(users) // 3].email
        ),
    }

    def timed(action: object) -> float:
        t = time.perf_counter()
        action()  # type: ignore[operator]
        wait(lambda: model.row_at(0) is not None or model.count == 0)
        window.table.viewport().repaint()
        return (time.perf_counter() - t) * 1000

    print("\nfirst page after a filter change (ms; runs 1 / later median):")
    all_times: list[float] = []
    for name, f in filters.items():
        runs = []
        for _ in range(4):
            runs.append(timed(lambda f=f: window.apply_filter(f)))
            wait(lambda: model.count is not None)
            window.apply_filter(EventFilter())
            wait(lambda: model.row_at(0) is not None)
        all_times.extend(runs)
        print(
            f"  {name:36s} first {runs[0]:7.1f}  median {statistics.median(runs[1:]):6.1f}"
            f"  ({model.count if model.count is not None else '?'} rows last)"
        )
    print(
        f"  all filters: median {statistics.median(all_times):.1f} ms, "
        f"worst {max(all_times):.1f} ms"
    )

    print("\nfirst page after a sort (ms), no filter and with outcome=failure:")
    sort_times: list[float] = []
    for base_name, base in (
        ("no filter", EventFilter()),
        ("failure", EventFilter(outcome="failure")),
    ):
        window.apply_filter(base)
        wait(lambda: model.row_at(0) is not None)
        for section, column in enumerate(COLUMNS):
            if column.sort is None:
                continue
            for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
                ms = timed(lambda s=section, o=order: model.sort(s, o))
                sort_times.append(ms)
                print(f"  {base_name:10s} {column.title:11s} {order.name[:4]:4s} {ms:7.1f}")
    print(
        f"  all sorts: median {statistics.median(sort_times):.1f} ms, "
        f"worst {max(sort_times):.1f} ms"
    )
    model.sort(0, Qt.SortOrder.DescendingOrder)
    window.apply_filter(EventFilter())
    wait(lambda: model.count is not None and model.row_at(0) is not None)

    print("\njumps (scrollbar):")
    for name, target in (("last row", model.rowCount() - 1), ("middle", model.rowCount() // 2)):
        t = time.perf_counter()
        window.table.scrollTo(model.index(target, 0))
        wait(lambda target=target: model.row_at(target) is not None)
        window.table.viewport().repaint()
        print(f"  {name:9s} (row {target:,}): {(time.perf_counter() - t) * 1000:,.1f} ms")
    rss, peak = rss_mb()
    print(f"\nRSS: {rss:,.0f} MB now, {peak:,.0f} MB peak")
    window.close()


def screens(path: Path) -> None:
    """Save the PNGs of the main screens (look at them!)."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication
    from tests.ui.mirror_factory import NOW_MS

    from auditlens.core.errors import Code, VerificationError
    from auditlens.core.note import generate_keys
    from auditlens.mirror.query import EventFilter
    from auditlens.ui.dialogs import KeyChangedDialog, SignInDialog, TrustDialog
    from auditlens.ui.main_window import MainWindow
    from auditlens.ui.resources import stylesheet

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyleSheet(stylesheet())  # type: ignore[attr-defined]
    OUT.mkdir(parents=True, exist_ok=True)

    def pump(seconds: float = 0.3) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    sign_in = SignInDialog(["https://audit.acme-robotics.com", "http://127.0.0.1:8765"])
    sign_in.email.setText("sofia.adeyemi@acme-robotics.com")
    sign_in.password.setText("correct horse")
    sign_in.show()
    pump()
    sign_in.grab().save(str(OUT / "signin.png"))
    sign_in.show_error("The email or password is not right.")
    pump()
    sign_in.grab().save(str(OUT / "signin-error.png"))

    _, vkey = generate_keys("auditlens.local")
    trust = TrustDialog("https://audit.acme-robotics.com", "auditlens.local/acme", vkey)
    trust.show()
    pump()
    trust.grab().save(str(OUT / "trust.png"))
    _, other = generate_keys("auditlens.local")
    changed = KeyChangedDialog(
        "UNTRUSTED_KEY",
        f"The server at https://audit.acme-robotics.com announced the verifier key {other}, but "
        f"the key you trusted for it is {vkey}. The server may have been replaced or the "
        "connection intercepted; nothing was accepted from it. If the server's operator really "
        "changed the key, remove the old pin explicitly and confirm the new key out of band.",
    )
    changed.show()
    pump()
    changed.grab().save(str(OUT / "key-changed.png"))

    window = MainWindow(clock=lambda: NOW_MS)
    window.set_identity(
        "sofia.adeyemi@acme-robotics.com (admin) · Acme Robotics", "auditlens.local/acme"
    )
    window.open_mirror(path)
    window.show()
    pump(1.0)
    window.filters.set_types({"agent", "approval.denied"})
    window.filters.outcome.setCurrentIndex(2)
    window.filters.range.setCurrentIndex(4)  # last 30 days
    pump(1.0)
    window.select_row(2)
    pump(1.0)
    window.grab().save(str(OUT / "main-window.png"))
    window.filters.reset()
    pump(0.5)
    window.select_row(5)
    pump(0.5)
    window.banner.show_error(
        VerificationError(
            Code.EVENT_MODIFIED,
            "The entry at index 100,007 differs from the one the server signed: its bytes hash "
            "to a different leaf, so the new checkpoint's root does not match. Nothing from "
            "this sync was stored.",
            indexes=[100_007],
        ),
        "found by the last sync; nothing was stored",
    )
    pump(0.5)
    window.grab().save(str(OUT / "tamper-banner.png"))
    window.apply_filter(EventFilter())
    window.close()
    for name in ("signin", "signin-error", "trust", "key-changed", "main-window", "tamper-banner"):
        print(OUT / f"{name}.png")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--screens", action="store_true", help="save PNGs of the screens")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    if args.screens:
        path = OUT / "screens-20k.sqlite"
        build(path, 20_000)
        screens(path)
        return 0
    path = OUT / f"viewer-{args.events}.sqlite"
    print(f"workload: {args.events:,} demo events (seed 1), 2-core machine, offscreen Qt")
    build(path, args.events)
    return subprocess.call([sys.executable, __file__, "--measure", str(path)])


if __name__ == "__main__":
    sys.exit(main())
