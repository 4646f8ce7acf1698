"""``auditlens demo``, in this process: server, sign-in, pin, sync, and the window shows it all."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from auditlens.ui import commands
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
    sync_enabled: bool = False
    timed_out: bool = False
    polls: list[float] = field(default_factory=list)


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
        seen.sync_enabled = window.sync_action.isEnabled()
        timer.stop()
        window.close()  # the last window: app.exec() returns and the demo cleans up

    timer.timeout.connect(poll)
    timer.start(50)
    return timer


@pytest.fixture
def user_settings(tmp_path: Path, qt_user_settings: Path) -> Iterator[Path]:
    """Point the person's default QSettings at a directory of this test (then back)."""
    redirect_qt_user_settings(tmp_path / "user-settings")
    yield tmp_path / "user-settings"
    redirect_qt_user_settings(qt_user_settings)


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
    assert elapsed < 15
