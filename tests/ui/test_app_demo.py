"""``auditlens demo``, in this process: server, sign-in, pin, sync, and the window shows it all."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QLabel

from auditlens.ui import commands, demo_cache
from auditlens.ui.app import RECENT_KEY
from auditlens.ui.main_window import MainWindow
from tests.conftest import redirect_qt_user_settings

DEMO_EVENTS = 2_000
TIMEOUT_S = 14.0


@dataclass
class Seen:
    """What the demo window showed when it was complete (read before closing it)."""

    title: str = ""
    status: str = ""
    rows: int = 0
    count: int | None = None
    banner: bool = False
    keyring_warning: bool = False
    sync_enabled: bool = False
    first_rows: float | None = None  # seconds from the start to the first rows shown
    timed_out: bool = False
    polls: list[float] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)  # each status sentence, in order


def watch_demo_window(app: QApplication, before: set[int], seen: Seen) -> QTimer:
    """Poll for the demo's window; once it shows the synced log, note what it shows, close it."""
    started = time.monotonic()
    timer = QTimer()

    def poll() -> None:
        seen.polls.append(time.monotonic() - started)
        windows = [
            w
            for w in app.topLevelWidgets()
            if isinstance(w, MainWindow) and id(w) not in before and w.isVisible()
        ]
        window = windows[0] if windows else None
        timed_out = time.monotonic() - started > TIMEOUT_S
        if window is None:
            if timed_out:
                seen.timed_out = True
                timer.stop()
                app.quit()
            return
        model = window.model
        if not seen.statuses or seen.statuses[-1] != window.status_label.text():
            seen.statuses.append(window.status_label.text())
        if seen.first_rows is None and model.rowCount() > 0:
            seen.first_rows = time.monotonic() - started
        complete = (
            window.sync_action.isEnabled()  # the first sync has finished
            and window.status_label.text().startswith("Verified")
            and model.count is not None
            and model.count >= DEMO_EVENTS
            and model.rowCount() > 0
        )
        if not complete and not timed_out:
            return
        seen.timed_out = not complete
        seen.title = window.windowTitle()
        seen.status = window.status_label.text()
        seen.rows = model.rowCount()
        seen.count = model.count
        seen.banner = window.banner.isVisible()
        warning = window.statusBar().findChild(QLabel, "KeyringWarning")
        seen.keyring_warning = warning is not None and warning.isVisible()
        seen.sync_enabled = window.sync_action.isEnabled()
        timer.stop()
        window.close()  # the last window: app.exec() returns and the demo cleans up

    timer.timeout.connect(poll)
    timer.start(50)
    return timer


@pytest.fixture(autouse=True)
def demo_cache_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo's cache goes under the test's temp directory (never ~/.cache)."""
    monkeypatch.setenv("AUDITLENS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "demo"


def run_demo_once(qapp: QApplication) -> tuple[int, Seen]:
    before = {id(w) for w in qapp.topLevelWidgets()}
    seen = Seen()
    timer = watch_demo_window(qapp, before, seen)
    code = commands.run_demo(argparse.Namespace(events=DEMO_EVENTS, seed=1, sync_every=0))
    timer.stop()
    return code, seen


@pytest.fixture
def user_settings(tmp_path: Path, qt_user_settings: Path) -> Iterator[Path]:
    """Point the person's default QSettings at a directory of this test (then back)."""
    redirect_qt_user_settings(tmp_path / "user-settings")
    yield tmp_path / "user-settings"
    redirect_qt_user_settings(qt_user_settings)


@pytest.mark.serial
def test_the_demo_shows_synced_events_and_says_its_key_is_trusted_by_construction(
    qapp: QApplication, user_settings: Path
) -> None:
    before = {id(w) for w in qapp.topLevelWidgets()}
    seen = Seen()
    timer = watch_demo_window(qapp, before, seen)
    args = argparse.Namespace(events=DEMO_EVENTS, seed=1, sync_every=0)
    started = time.monotonic()
    code = commands.run_demo(args)
    elapsed = time.monotonic() - started
    timer.stop()
    # The demo's throw-away server is not remembered among the person's recent servers.
    assert QSettings("auditlens", "auditlens").value(RECENT_KEY, None) is None
    assert not seen.timed_out, seen
    assert code == 0
    assert seen.count is not None and seen.count >= DEMO_EVENTS
    assert seen.rows > 0
    assert seen.status.startswith(f"Verified {seen.count:,} events up to checkpoint size")
    assert seen.status.endswith("· demo: key pinned by construction")
    assert "demo server (key trusted by construction)" in seen.title
    assert not seen.banner
    assert not seen.keyring_warning  # the demo keeps nothing by design: nothing to warn about
    assert elapsed < 15


def test_a_second_start_copies_the_cached_demo_instead_of_seeding_again(
    qapp: QApplication, user_settings: Path, demo_cache_root: Path
) -> None:
    code, first = run_demo_once(qapp)
    assert code == 0 and not first.timed_out, first
    assert any(s.startswith("Seeding demo events: ") for s in first.statuses), first.statuses
    (cache,) = demo_cache_root.iterdir()
    manifest = json.loads((cache / demo_cache.MANIFEST).read_text())
    assert manifest["seed"] == 1 and manifest["events"] == DEMO_EVENTS

    code, second = run_demo_once(qapp)
    assert code == 0 and not second.timed_out, second
    assert json.loads((cache / demo_cache.MANIFEST).read_text()) == manifest  # reused as is
    assert second.statuses[0] == "Starting the demo from its cached copy…"
    assert not any(s.startswith("Seeding") for s in second.statuses), second.statuses
    # Same seed, same data: the second window shows the same log, verified again.
    assert second.count is not None and first.count is not None
    assert second.count >= DEMO_EVENTS and second.status.startswith("Verified")
    assert not second.banner
    print(f"first rows after {first.first_rows:.2f} s, then {second.first_rows:.2f} s")


# Run as a separate process, with HOME and XDG_CONFIG_HOME of its own: the demo, its export dialog
# and Qt's file dialog behind "Browse…", as a person clicks them.
BROWSE_IN_THE_DEMO = textwrap.dedent(
    """
    import argparse, sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QFileDialog
    from auditlens.ui import commands
    from auditlens.ui.main_window import MainWindow

    app = QApplication(sys.argv[:1])
    steps = []

    def close_file_dialog():
        for widget in app.topLevelWidgets():
            if isinstance(widget, QFileDialog) and widget.isVisible():
                steps.append("file dialog")
                widget.reject()

    def poll():
        windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow)]
        window = windows[0] if windows else None
        if window is None or window.reader is None or not window.sync_action.isEnabled():
            return
        dialog = window.export_dialog or window.show_export_dialog()
        if dialog.state != "ready":
            return
        timer.stop()
        closer = QTimer()
        closer.timeout.connect(close_file_dialog)
        closer.start(100)
        dialog.browse_button.click()  # Qt's own file dialog, until the closer rejects it
        closer.stop()
        dialog.reject()
        window.close()

    timer = QTimer()
    timer.timeout.connect(poll)
    timer.start(50)
    QTimer.singleShot(60_000, app.quit)
    code = commands.run_demo(argparse.Namespace(events=300, seed=2, sync_every=0))
    print("steps:", steps)
    sys.exit(code)
    """
)


def test_the_demo_writes_nothing_to_home_or_the_config_folder(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "AUDITLENS_CACHE_DIR": str(tmp_path / "cache"),  # the cache may be written, elsewhere
        "QT_QPA_PLATFORM": "offscreen",
    }
    for name in ("AUDITLENS_CONFIG_DIR", "AUDITLENS_DATA_DIR"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-c", BROWSE_IN_THE_DEMO],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "steps: ['file dialog']" in done.stdout, (done.stdout, done.stderr)
    written = sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())
    assert written == [], written  # e.g. .config/QtProject.conf from Qt's file dialog
