"""Viewer benchmark: a 1,000,000-event mirror, offscreen, real window.

Workload (printed): a mirror of N demo events (default 1,000,000) built directly with the mirror
schema (tests/ui/mirror_factory.py; cached in bench/out/ and reused), opened by a fresh process
that measures:

- launch -> first page shown: from the process start (before Qt is imported) until the first
  page of rows is in the table and painted;
- first page after each filter change and each sort (median and worst of several runs);
- first page of a filter that replaced another before its rows arrived;
- a jump to the last row (scrollbar to the end) and to the middle;
- resident memory (VmRSS and peak VmHWM).

Aims: first page <= 1.5 s after launch, <= 100 ms after a filter or sort, RSS <= 400 MB.

``--matrix`` times the query layer alone (no Qt) on the same mirror: the first page of every
single filter (each type category, exact types, users, a task, agents, each outcome, time ranges)
and every 2-filter combination, x every sort column x both directions, each in a fresh reader
(empty SQLite cache, as after launch): median, p95, worst, and the slowest cases.

``--matrix --cold`` does the same for the single filters with the mirror file evicted from the
OS page cache before each first page (``posix_fadvise``; this file only).

``--screens`` saves the PNGs of the sign-in dialog, the trust dialog, the main window with a
filter applied and a row selected, the changed-key error and the tamper banner to bench/out/.

Run: ``QT_QPA_PLATFORM=offscreen .venv/bin/python bench/viewer.py [--events N]``
(add ``--matrix`` or ``--screens`` for those modes)
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
from typing import TYPE_CHECKING, Any  # noqa: E402

if TYPE_CHECKING:
    from auditlens.mirror.filter import EventFilter

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

    from auditlens.mirror.filter import EventFilter
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
        matched = 0
        for _ in range(4):
            runs.append(timed(lambda f=f: window.apply_filter(f)))
            wait(lambda: model.count is not None)
            matched = model.count or 0
            window.apply_filter(EventFilter())
            wait(lambda: model.row_at(0) is not None)
        all_times.extend(runs)
        print(
            f"  {name:36s} first {runs[0]:7.1f}  median {statistics.median(runs[1:]):6.1f}"
            f"  ({matched:,} rows)"
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

    # A filter replaced before its rows arrived: its count and pages are interrupted, so the
    # replacing filter's first page does not wait behind them for a core.
    print("\nfirst page of a filter that replaced another one at once (ms):")
    replaced: list[float] = []
    pairs = list(filters.values())
    for i in range(len(pairs)):
        window.apply_filter(pairs[i])
        replaced.append(timed(lambda i=i: window.apply_filter(pairs[(i + 1) % len(pairs)])))
        wait(lambda: model.count is not None)
    print(
        f"  {len(replaced)} replacements: median {statistics.median(replaced):.1f} ms, "
        f"worst {max(replaced):.1f} ms"
    )
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


def matrix_filters(path: Path) -> dict[str, EventFilter]:
    """Every single filter kind (several values each) and the 2-filter combinations of them."""
    import sqlite3

    from tests.ui.mirror_factory import NOW_MS

    from auditlens.mirror.filter import EventFilter

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def one(sql: str) -> str:
        return str(conn.execute(sql).fetchone()[0])

    users = (
        "SELECT u.email FROM entries e JOIN users u ON u.id = e.user_id "
        "GROUP BY e.user_id ORDER BY COUNT(*) {} LIMIT 1"
    )
    agents = (
        "SELECT agent_id FROM entries WHERE agent_id IS NOT NULL "
        "GROUP BY agent_id ORDER BY COUNT(*) {} LIMIT 1"
    )
    big_user, small_user = one(users.format("DESC")), one(users.format("ASC"))
    first_user = one("SELECT min(email) FROM users")
    big_agent, small_agent = one(agents.format("DESC")), one(agents.format("ASC"))
    task = one("SELECT task_id FROM entries WHERE task_id IS NOT NULL LIMIT 1 OFFSET 500000")
    conn.close()
    day = 86_400_000
    single: dict[str, dict[str, Any]] = {
        "no filter": {},
        "type=agent (category)": {"types": {"agent"}},
        "type=task (category)": {"types": {"task"}},
        "type=approval (category)": {"types": {"approval"}},
        "type=auth (category)": {"types": {"auth"}},
        "type=team (category)": {"types": {"team"}},
        "type=agent.action": {"types": {"agent.action"}},
        "type=task.failed": {"types": {"task.failed"}},
        "type=task.started": {"types": {"task.started"}},
        "type=auth.login": {"types": {"auth.login"}},
        "type=approval.denied,task.failed": {"types": {"approval.denied", "task.failed"}},
        "user (most events)": {"user_email": big_user},
        "user (fewest events)": {"user_email": small_user},
        "user (first email)": {"user_email": first_user},
        "task_id": {"task_id": task},
        "agent (most events)": {"agent_id": big_agent},
        "agent (fewest events)": {"agent_id": small_agent},
        "outcome=failure": {"outcome": "failure"},
        "outcome=success": {"outcome": "success"},
        "last hour": {"since_ms": NOW_MS - day // 24},
        "last 24 hours": {"since_ms": NOW_MS - day},
        "last 7 days": {"since_ms": NOW_MS - 7 * day},
        "last 30 days": {"since_ms": NOW_MS - 30 * day},
        "last 90 days": {"since_ms": NOW_MS - 90 * day},
        "40-30 days ago": {"since_ms": NOW_MS - 40 * day, "until_ms": NOW_MS - 30 * day},
        "89-88 days ago": {"since_ms": NOW_MS - 89 * day, "until_ms": NOW_MS - 88 * day},
    }
    combinable = [
        "type=agent (category)",
        "type=approval (category)",
        "type=auth (category)",
        "type=task.failed",
        "user (most events)",
        "user (fewest events)",
        "task_id",
        "agent (most events)",
        "agent (fewest events)",
        "outcome=failure",
        "outcome=success",
        "last 24 hours",
        "last 7 days",
        "40-30 days ago",
    ]
    out = {name: EventFilter(**kw) for name, kw in single.items()}
    for i, a in enumerate(combinable):
        for b in combinable[i + 1 :]:
            if set(single[a]) & set(single[b]):  # same field twice: not a combination
                continue
            out[f"{a} + {b}"] = EventFilter(**single[a], **single[b])
    return out


def evict(path: Path) -> None:
    """Drop the mirror file's pages from the OS page cache (this file only, not the machine's).

    ``posix_fadvise(DONTNEED)`` evicts the clean cached pages of one file: a cold start for
    this mirror without ``echo 3 > /proc/sys/vm/drop_caches``, which would also empty the
    cache of everything else running on a shared machine.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def matrix(path: Path, cold: bool = False) -> None:
    """First page of every filter x sort x direction, each in a fresh reader (cold SQLite cache).

    With ``cold``, only the single filters, and the mirror file is evicted from the OS page
    cache before each first page (as after a reboot): every page SQLite needs comes from disk.
    """
    from auditlens.mirror.filter import SORT_COLUMNS
    from auditlens.mirror.reader import MirrorReader

    filters = matrix_filters(path)
    if cold:
        filters = {name: f for name, f in filters.items() if " + " not in name}
    print(
        f"query layer: {len(filters)} filters x {len(SORT_COLUMNS)} sorts x 2 directions, "
        f"first page of 200 rows, fresh reader each{', OS cache evicted each' if cold else ''}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    results: list[tuple[float, float, str, str, bool]] = []
    cpu: list[float] = []  # the process's CPU time per first page: steadier on a busy machine
    by_cpu: list[tuple[float, float, str, str, bool]] = []  # (CPU ms, repeat ms, case)
    started = time.perf_counter()
    for name, f in filters.items():
        for sort in SORT_COLUMNS:
            for desc in (False, True):
                if cold:
                    evict(path)
                reader = MirrorReader(path)
                c = time.process_time()
                t = time.perf_counter()
                reader.page(f, sort, desc, None, 200)
                first = (time.perf_counter() - t) * 1000
                cpu.append((time.process_time() - c) * 1000)
                t = time.perf_counter()
                reader.page(f, sort, desc, None, 200)
                again = (time.perf_counter() - t) * 1000
                reader.close()
                results.append((first, again, name, sort, desc))
                by_cpu.append((cpu[-1], again, name, sort, desc))
    firsts = sorted(r[0] for r in results)
    single = [r[0] for r in results if " + " not in r[2]]
    pairs = [r[0] for r in results if " + " in r[2]]
    print(
        f"  all {len(firsts)} first pages ({time.perf_counter() - started:.0f} s): median "
        f"{statistics.median(firsts):.1f} ms, p95 {firsts[int(len(firsts) * 0.95)]:.1f} ms, "
        f"worst {firsts[-1]:.1f} ms; load {os.getloadavg()[0]:.2f}"
    )
    cpu.sort()
    print(
        f"  CPU time of those first pages: median {statistics.median(cpu):.1f} ms, p95 "
        f"{cpu[int(len(cpu) * 0.95)]:.1f} ms, worst {cpu[-1]:.1f} ms"
    )
    for label, part in (("single filters", single), ("2-filter combos", pairs)):
        if not part:
            continue
        print(f"  {label}: median {statistics.median(part):.1f} ms, worst {max(part):.1f} ms")
    print("  per sort (median / worst ms):")
    for sort in SORT_COLUMNS:
        for desc in (False, True):
            part = [r[0] for r in results if r[3] == sort and r[4] == desc]
            print(
                f"    {sort:8s} {'desc' if desc else 'asc ':4s} "
                f"{statistics.median(part):6.1f} / {max(part):6.1f}"
            )
    print("  slowest 15 (first ms / repeat ms):")
    for first, again, name, sort, desc in sorted(results, reverse=True)[:15]:
        print(f"    {first:7.1f} {again:7.1f}  {name:48s} {sort:8s} {'desc' if desc else 'asc'}")
    table = path.with_name(path.stem + ("-cold" if cold else "") + "-matrix.tsv")
    with table.open("w") as out:  # every case, for a closer look (wall, CPU, repeat ms)
        for (first, again, name, sort, desc), (used, *_) in zip(results, by_cpu, strict=True):
            row = f"{first:.1f}\t{used:.1f}\t{again:.1f}\t{name}\t{sort}\t{int(desc)}"
            out.write(row + "\n")
    print(f"  every case: {table}")
    print("  slowest 15 by CPU time (first CPU ms / repeat wall ms):")
    for used, again, name, sort, desc in sorted(by_cpu, reverse=True)[:15]:
        print(f"    {used:7.1f} {again:7.1f}  {name:48s} {sort:8s} {'desc' if desc else 'asc'}")


def screens(path: Path) -> None:
    """Save the PNGs of the main screens (look at them!)."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication
    from tests.ui.mirror_factory import NOW_MS

    from auditlens.core.errors import Code, VerificationError
    from auditlens.core.note import generate_keys
    from auditlens.mirror.filter import EventFilter
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
    parser.add_argument(
        "--matrix", action="store_true", help="time every filter x sort in the query layer"
    )
    parser.add_argument(
        "--cold",
        action="store_true",
        help="evict the mirror from the OS cache (with --matrix: before each page)",
    )
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
    if args.matrix:
        matrix(path, cold=args.cold)
        return 0
    if args.cold:
        evict(path)
        print("cold start: the mirror file was evicted from the OS page cache")
    return subprocess.call([sys.executable, __file__, "--measure", str(path)])


if __name__ == "__main__":
    sys.exit(main())
