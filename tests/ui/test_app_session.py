"""The session's life in the window: sign out, cancel a sync, no keyring (real server, real Qt)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from keyring.backends import fail
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from auditlens.client.credentials import NO_KEYRING_WARNING, CredentialStore
from auditlens.client.sync import SyncPhase, SyncProgress, SyncResult, SyncStatus
from auditlens.server.embedded import DemoServer
from auditlens.ui.app import Viewer
from auditlens.ui.main_window import MainWindow
from tests.ui.conftest import Home, start_server
from tests.ui.test_signin_sync import sign_in_and_sync


def test_sign_out_forgets_the_keyring_entry_and_asks_to_sign_in_again(
    viewer: Viewer, qtbot: QtBot, server: DemoServer, home: Home
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    assert any(server.url in user for _, user in home.keyring.items)
    assert home.credentials().load(server.url) is not None
    assert viewer.sign_in_dialog is not None and not viewer.sign_in_dialog.isVisible()

    viewer.window.sign_out_action.trigger()

    qtbot.waitUntil(lambda: viewer.sign_in_dialog is not None and viewer.sign_in_dialog.isVisible())
    assert not any(server.url in user for _, user in home.keyring.items)
    assert home.credentials().load(server.url) is None
    assert viewer.session is None
    assert viewer.window.reader is None and viewer.window.model.rowCount() == 0
    assert viewer.window.status_label.text() == "No mirror open"


@pytest.fixture(scope="module")
def busy_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """A server the cancel tests add events to (each test syncs into its own new mirror)."""
    s = start_server(tmp_path_factory.mktemp("busy-server"), events=300)
    yield s
    s.stop()


def mirror_state(path: Path) -> tuple[int, int]:
    """(entries, largest trusted checkpoint size) of a mirror file."""
    conn = sqlite3.connect(path)
    try:
        entries = conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
        size = conn.execute("SELECT MAX(size) FROM checkpoints").fetchone()[0]
        return int(entries), int(size)
    finally:
        conn.close()


def ingest(server: DemoServer, n: int) -> None:
    event = {
        "type": "auth.logout",
        "user_id": None,
        "task_id": None,
        "agent_id": None,
        "event": {"outcome": "success"},
    }
    response = httpx.post(
        f"{server.url}/v1/events",
        json={"events": [event] * n},
        headers={"Authorization": f"Bearer {server.ingest_key}"},
    )
    assert response.status_code == 201, response.text


def test_cancel_mid_sync_leaves_the_mirror_unchanged_and_says_so(
    viewer: Viewer, qtbot: QtBot, busy_server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, viewer, busy_server)
    assert viewer.session is not None
    mirror = viewer.session.mirror_path(viewer.mirror_dir)
    before = mirror_state(mirror)
    ingest(busy_server, 900)  # four entry tiles to fetch: room to cancel between two
    seen: list[SyncProgress] = []

    def press_cancel_after_the_first_tile(p: object) -> None:
        # Runs on the sync thread (direct connection), so the engine is still mid-run: exactly
        # what a click on Cancel does (it sets the same event), without racing the network.
        if isinstance(p, SyncProgress) and p.phase is SyncPhase.ENTRIES and p.done < p.total:
            seen.append(p)
            viewer.cancel_sync()

    with qtbot.waitSignal(viewer.sync_done, timeout=20_000) as blocker:
        viewer.sync()
        assert viewer.sync_worker is not None
        assert viewer.window.cancel_action.isEnabled()
        viewer.sync_worker.observe(press_cancel_after_the_first_tile)
    result = blocker.args[0]
    assert seen, "the sync never reported a tile: nothing was cancelled mid-run"
    assert isinstance(result, SyncResult) and result.status is SyncStatus.CANCELLED
    assert mirror_state(mirror) == before
    assert "cancelled" in viewer.window.statusBar().currentMessage().lower()
    assert not viewer.window.cancel_action.isEnabled()
    assert viewer.window.sync_action.isEnabled()


def test_the_cancel_button_asks_the_running_sync_to_stop(
    viewer: Viewer, qtbot: QtBot, busy_server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, viewer, busy_server)
    ingest(busy_server, 900)
    with qtbot.waitSignal(viewer.sync_done, timeout=20_000):
        viewer.sync()
        worker = viewer.sync_worker
        assert worker is not None
        viewer.window.cancel_action.trigger()
        assert worker.cancel_event.is_set()


@pytest.fixture
def keyless_viewer(qtbot: QtBot, home: Home) -> Iterator[Viewer]:
    w = MainWindow()
    qtbot.addWidget(w)
    v = Viewer(
        w,
        trust=home.trust(),
        credentials=CredentialStore(fail.Keyring(), home.path / "accounts.json"),
        mirror_dir=home.path / "mirrors",
        settings=home.settings(),
    )
    w.show()
    yield v
    v.close()
    w.runner.wait()


def test_without_a_working_keyring_the_window_says_so_plainly(
    keyless_viewer: Viewer, qtbot: QtBot
) -> None:
    label = keyless_viewer.keyring_warning
    assert label.isVisible()
    assert NO_KEYRING_WARNING in label.text()
    in_status_bar = keyless_viewer.window.statusBar().findChild(QLabel, "KeyringWarning")
    assert in_status_bar is label  # permanent: not a message the next one replaces
    dialog = keyless_viewer.show_sign_in()
    assert dialog.note.isVisible() and dialog.note.text() == NO_KEYRING_WARNING


def test_without_a_keyring_the_session_still_works_until_quit(
    keyless_viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, keyless_viewer, server)
    assert keyless_viewer.session is not None
    assert keyless_viewer.credentials.in_memory
    assert keyless_viewer.credentials.load(server.url) is not None  # held in memory
    assert keyless_viewer.keyring_warning.isVisible()  # and still said


def test_with_a_working_keyring_there_is_no_warning(viewer: Viewer) -> None:
    assert not viewer.keyring_warning.isVisible()
    assert not viewer.show_sign_in().note.isVisible()
