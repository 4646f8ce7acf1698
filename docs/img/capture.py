"""Regenerate ``docs/img/investigation.png``, the README's picture of an investigation.

Why: a screenshot taken by hand goes stale the moment the window changes (the first one still
showed the free-text field the query bar replaced) and nobody can take it again the same way.
This script takes it the same way every time, with the real window and real input:

1. it starts the embedded demo server as ``auditlens demo`` does (:mod:`auditlens.ui.commands`):
   5,000 demo events of seed 1, the demo admin signed in, the key pinned by construction, the
   log synced and verified into a mirror. The events end at a fixed moment (:data:`NOW_MS`, the
   tests' clock) rather than now, so the same picture comes out on any day;
2. it opens the real :class:`~auditlens.ui.main_window.MainWindow` at 1600x900 and types a query
   into the query bar, key by key, then Enter;
3. it stars three hits with ``b``, types investigator notes on two of them into the detail
   pane, opens the Case dock (Ctrl+Shift+B) and selects a starred, noted hit, so the detail
   pane shows its JSON with the search hit marked, and its note;
4. it saves ``window.grab()`` as the PNG: about 300 KB, or about 100 KB with the text as sharp
   when ``pngquant`` is installed (``apt-get install pngquant``), which then shrinks it.

It says on stderr when the histogram's bars do not add up to the table's count, and fails when
the demo no longer lists the events it stars.

Everything lives in a temporary directory that is deleted at the end: the server, the mirror,
its case file, the pins, the sign-in (the keyring is the null backend) and every Qt setting. The
person's keyring, settings, ``~/.config``, ``~/.cache`` and demo cache are never touched.

Run it from the repository root (30 to 45 s on two busy cores)::

    QT_QPA_PLATFORM=offscreen .venv/bin/python docs/img/capture.py

``--out PATH`` writes elsewhere. Checked by ``make lint`` (ruff) and, as it imports the source
tree, ``MYPYPATH=src .venv/bin/mypy --strict docs/img/capture.py``.

Only what the server and the sync draw afresh differs between two runs: the events' ids and
leaf hashes (random ULID bits) and the time of the sync (in the proof box and the status bar).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keyring
from keyring.backends import null
from PySide6.QtCore import Qt
from PySide6.QtGui import QImageWriter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractItemView, QApplication

from auditlens.client.session import ActiveSession
from auditlens.client.sync import SyncResult
from auditlens.server import accounts
from auditlens.server.embedded import DEMO_FILE, DemoServer, start_demo_server
from auditlens.server.seed import seed_demo
from auditlens.server.settings import ServerSettings
from auditlens.server.state import open_server
from auditlens.ui.app import Viewer
from auditlens.ui.commands import (
    demo_accounts,
    demo_viewer,
    keep_qt_settings_in,
    sign_in_to_demo,
)
from auditlens.ui.main_window import MainWindow
from auditlens.ui.resources import icon, stylesheet
from auditlens.ui.table_model import AGENT, TASK

QUERY = 'type:agent outcome:failure "ERR_NAME_NOT_RESOLVED"'
"""What the investigator types: agents' failed actions whose error names a DNS failure."""
EVENTS = 5_000
SEED = 1
NOW_MS = 1_772_366_400_000
"""2026-03-01T12:00:00Z: where the demo's 90 days end (as in tests/ui/mirror_factory.py)."""
SIZE = (1600, 900)
#: (log index, note or "") of the hits to star, in the order the investigator stars them.
STARS: tuple[tuple[int, str], ...] = (
    (2621, "The agent retried the same pypi.org lookup 27 s later: one outage, not two."),
    (3448, ""),
    (
        4984,
        "Fourth agent in February to fail DNS from 10.42.8.x. Ask infra whether the "
        "sandbox resolver changed on Feb 27.",
    ),
)
#: The hit shown in the detail pane at the end (starred, with a note).
SHOWN = 4984
OUT = Path(__file__).resolve().parent / "investigation.png"
TIMEOUT_S = 120.0


def isolate(home: Path) -> None:
    """Send every file the viewer, Qt and keyring could write under ``home``.

    Must run before Qt or auditlens create anything (QSettings paths are read once).
    """
    for variable, folder in (
        ("AUDITLENS_CONFIG_DIR", "config"),
        ("AUDITLENS_DATA_DIR", "data"),
        ("AUDITLENS_CACHE_DIR", "cache"),
        ("XDG_CONFIG_HOME", "xdg-config"),
        ("XDG_DATA_HOME", "xdg-data"),
        ("XDG_CACHE_HOME", "xdg-cache"),
        ("XDG_STATE_HOME", "xdg-state"),
    ):
        os.environ[variable] = str(home / folder)
    keyring.set_keyring(null.Keyring())  # type: ignore[no-untyped-call]
    keep_qt_settings_in(home / "settings")  # the viewer's QSettings and Qt's own


def seed_demo_server(data_dir: Path) -> None:
    """Seed the demo into ``data_dir`` as ``start_demo_server`` would, but ending at NOW_MS.

    ``start_demo_server`` seeds with the wall clock; seeded here first (and recorded in its
    ``demo.json``), it finds the demo and only serves it.
    """
    data_dir.mkdir(parents=True)
    state = open_server(ServerSettings(data_dir=data_dir))
    try:
        result = seed_demo(state, seed=SEED, events=EVENTS, now_ms=NOW_MS)
    finally:
        state.close()
    people = {
        role: (result.person(role).email, result.person(role).password) for role in accounts.ROLES
    }
    record = {"seed": SEED, "events": EVENTS, "people": people}
    (data_dir / DEMO_FILE).write_text(json.dumps(record), encoding="utf-8")


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = TIMEOUT_S) -> None:
    """Run the event loop until ``predicate()`` holds (workers report through it)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        QTest.qWait(20)


def capture(out: Path, home: Path) -> None:
    """Start the demo, run the investigation in the real window, save the window as ``out``."""
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("auditlens")  # as ``auditlens demo`` sets it up
    app.setOrganizationName("auditlens")
    app.setWindowIcon(icon("app"))
    app.setStyleSheet(stylesheet())

    window = MainWindow(clock=lambda: NOW_MS)
    viewer = demo_viewer(window, home)
    servers: list[DemoServer] = []
    try:
        window.set_identity("Starting the demo server…", None, demo=True)
        window.resize(*SIZE)
        window.show()
        activate(window)
        start_demo(window, viewer, home, servers)
        search(window)
        star_and_note(window)
        arrange(window)
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = QImageWriter(str(out), b"png")
        writer.setQuality(0)  # for PNG: the smallest file (zlib level 9), still lossless
        if not writer.write(window.grab().toImage()):
            raise RuntimeError(f"could not write {out}: {writer.errorString()}")
    finally:
        viewer.close()
        window.close()
        window.runner.wait()
        for server in servers:
            server.stop()


def activate(window: MainWindow) -> None:
    """Make ``window`` the active one, so keys reach it as they reach a person's window."""
    window.activateWindow()
    window.raise_()
    if not QTest.qWaitForWindowActive(window, 5_000):
        raise RuntimeError("the window did not become active")


def start_demo(window: MainWindow, viewer: Viewer, home: Path, servers: list[DemoServer]) -> None:
    """Seed and start the demo server on the window's worker, sign in, wait for the sync."""
    failures: list[BaseException] = []
    synced: list[object] = []
    viewer.sync_done.connect(synced.append)

    def start() -> tuple[DemoServer, ActiveSession]:
        server_dir = home / "demo" / "server"
        seed_demo_server(server_dir)
        server = start_demo_server(server_dir, events=EVENTS, seed=SEED)
        servers.append(server)
        return server, sign_in_to_demo(server, viewer.trust, viewer.credentials)

    def started(result: tuple[DemoServer, ActiveSession]) -> None:
        server, session = result
        viewer.attach_demo(server.url, demo_accounts(server))
        viewer.open_session(session)

    window.runner.submit(start, started, failures.append)
    wait_until(lambda: bool(synced) or bool(failures), "the demo to start and sync")
    if failures:
        raise RuntimeError(f"the demo did not start: {failures[0]!r}")
    if not isinstance(synced[0], SyncResult) or synced[0].failed_findings:
        raise RuntimeError(f"the demo's sync did not verify: {synced[0]!r}")
    model = window.model
    wait_until(
        lambda: window.reader is not None and (model.count or 0) >= EVENTS and not model.loading,
        "the synced log in the table",
    )


def search(window: MainWindow) -> None:
    """Type the query as a person does (``/``, the keys, Enter); wait for rows, count, bars."""
    bar, model = window.query_bar, window.model
    QTest.keyClick(window.table, Qt.Key.Key_Slash)
    wait_until(bar.field.hasFocus, "the query bar to take the focus")
    QTest.keyClicks(bar.field, QUERY)
    popup = bar.completer.popup()
    if popup is not None and popup.isVisible():
        QTest.keyClick(bar.field, Qt.Key.Key_Escape)  # closes the completion list only
    QTest.keyClick(bar.field, Qt.Key.Key_Return)
    wait_until(lambda: bar.applied == QUERY, "the query to apply")
    wait_until(
        lambda: bool(model.count) and not model.loading and model.rowCount() == model.count,
        "the hits",
    )
    strip = window.histogram  # faded ("stale") until the bars of this query replace the last
    wait_until(lambda: bool(strip.bars) and not strip.stale and not strip.computing, "the bars")
    counted = sum(bar.total for bar in strip.bars)
    if counted != model.count:  # shown all the same: the picture is of the viewer as it is
        print(
            f"warning: the histogram counts {counted:,} events, the table {model.count:,}",
            file=sys.stderr,
        )
    activate(window)  # the completion list was the active window for a moment
    # Task and agent ids cut to "ts…CH" say nothing at this width; the detail pane has them
    # whole. Hidden as the header's column chooser hides them.
    for column in (TASK, AGENT):
        window.table.set_column_visible(column, False)


def select(window: MainWindow, idx: int) -> None:
    """Click the row of the event at log index ``idx``; wait for its detail and note."""
    model, table, detail = window.model, window.table, window.detail
    rows = [model.row_at(position) for position in range(model.rowCount())]
    positions = [position for position, row in enumerate(rows) if row and row.idx == idx]
    if not positions:
        raise RuntimeError(f"{QUERY!r} does not list the event {idx}: has the demo changed?")
    index = model.index(positions[0], 0)
    table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)
    QTest.mouseClick(
        table.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
        table.visualRect(index).center(),
    )
    wait_until(
        lambda: detail.record is not None and detail.record.idx == idx and detail.note.isEnabled(),
        f"event {idx} in the detail pane",
    )


def star_and_note(window: MainWindow) -> None:
    """Star the hits of STARS with ``b``, type their notes, open the Case dock, show SHOWN."""
    detail = window.detail
    for idx, note in STARS:
        select(window, idx)
        QTest.keyClick(window.table, Qt.Key.Key_B)
        wait_until(lambda: detail.star_button.text() == "★ Starred", f"the star on {idx}")
        if note:
            QTest.mouseClick(detail.note.viewport(), Qt.MouseButton.LeftButton)
            QTest.keyClicks(detail.note, note)
    select(window, SHOWN)  # saves the note being typed (or the pause after it did)
    QTest.keyClick(
        window.table,
        Qt.Key.Key_B,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    view = window.case.view
    noted = sum(1 for _idx, note in STARS if note)
    wait_until(
        lambda: (
            view.isVisible()
            and view.events.topLevelItemCount() == len(STARS)
            and f"{noted} with notes" in view.summary.text()
        ),
        "the Case dock",
    )


def arrange(window: MainWindow) -> None:
    """What a person does before showing the window: room for the detail pane, the columns
    fitted to the table's width, the status sentence rather than the last passing message."""
    # The table lists every hit with room to spare: the detail pane gets the height it asks
    # for (in its default 320 px the Agent, Outcome and From lines are cut off).
    wanted = window.detail.sizeHint().height()
    window.vsplitter.setSizes([sum(window.vsplitter.sizes()) - wanted, wanted])
    window.table.setFocus(Qt.FocusReason.MouseFocusReason)
    window.statusBar().clearMessage()
    wait_until(lambda: window.status_label.text().startswith("Verified"), "the status sentence")
    QTest.qWait(100)  # the last repaints


def shrink(png: Path) -> None:
    """Quantise ``png`` with pngquant when it is installed (anti-aliased text stays sharp)."""
    if shutil.which("pngquant") is None:
        return
    subprocess.run(
        [
            "pngquant",
            "--force",
            "--skip-if-larger",
            "--quality=85-100",
            "--output",
            str(png),
            str(png),
        ],
        check=False,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write (default {OUT})")
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="auditlens-capture-"))
    try:
        isolate(home)
        capture(args.out.resolve(), home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    shrink(args.out)
    size = args.out.stat().st_size
    print(f"{args.out}: {size / 1024:,.0f} KB in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
