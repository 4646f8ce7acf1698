"""The session's life in the window: sign out, cancel a sync, no keyring (real server, real Qt)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from auditlens.client.credentials import NO_KEYRING_WARNING, CredentialStore
from auditlens.client.sync import SyncPhase, SyncProgress, SyncResult, SyncStatus
from auditlens.server.embedded import DemoServer, start_demo_server
from auditlens.server.settings import ServerSettings
from auditlens.ui.app import KEYRING_WARNING_SHORT, Viewer
from auditlens.ui.commands import demo_accounts, sign_in_to_demo
from auditlens.ui.dialogs import SignInDialog
from auditlens.ui.main_window import MainWindow
from tests.ui.conftest import Home, start_server, wait_loaded
from tests.ui.test_signin_sync import sign_in_and_sync, submit, trust_dialog


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
    assert label.text() == KEYRING_WARNING_SHORT
    assert NO_KEYRING_WARNING in label.toolTip()  # the whole sentence, and the remedy
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


def test_the_keyring_warning_leaves_room_for_the_verification_status_at_1280_px(
    keyless_viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    window = keyless_viewer.window
    window.resize(1280, 800)
    sign_in_and_sync(qtbot, keyless_viewer, server)
    label = window.status_label
    qtbot.waitUntil(lambda: label.text().startswith("Verified"))
    window.statusBar().clearMessage()  # the passing "Verified and stored …" message
    qtbot.waitUntil(label.isVisible)
    qtbot.wait(50)  # the status bar lays out its widgets
    assert keyless_viewer.keyring_warning.isVisible()
    needed = label.fontMetrics().horizontalAdvance(label.text())
    assert needed <= label.width(), (needed, label.width(), label.text())


def test_with_a_working_keyring_there_is_no_warning(viewer: Viewer) -> None:
    assert not viewer.keyring_warning.isVisible()
    assert not viewer.show_sign_in().note.isVisible()


# -- signing out and in again: nothing of the previous session stays on screen ------------------


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """The server a demo viewer started itself (a second server next to the ``server`` one).

    It has its own name, hence its own origin: a log is its signed origin and key, so another
    server offering the same origin under another key would be refused (UNTRUSTED_KEY).
    """
    data_dir = tmp_path_factory.mktemp("demo-server")
    settings = ServerSettings(
        data_dir=data_dir, login_failure_delay_seconds=0.0, server_name="demo.auditlens.local"
    )
    s = start_demo_server(data_dir, events=60, seed=3, settings=settings)
    yield s
    s.stop()


@pytest.fixture
def demo_viewer(qtbot: QtBot, home: Home, demo_server: DemoServer) -> Iterator[Viewer]:
    """A viewer as ``auditlens demo`` sets it up, signed in to its own server."""
    w = MainWindow()
    qtbot.addWidget(w)
    v = Viewer(
        w,
        trust=home.trust(),
        credentials=home.credentials(),
        mirror_dir=home.path / "mirrors",
        settings=home.settings(),
        demo=True,
    )
    w.show()
    session = sign_in_to_demo(demo_server, v.trust, v.credentials)
    v.attach_demo(demo_server.url, demo_accounts(demo_server))
    with qtbot.waitSignal(v.sync_done, timeout=20_000):
        v.open_session(session)
    yield v
    v.close()
    w.runner.wait()


def sign_out(qtbot: QtBot, viewer: Viewer) -> SignInDialog:
    viewer.window.sign_out_action.trigger()
    qtbot.waitUntil(lambda: viewer.sign_in_dialog is not None and viewer.sign_in_dialog.isVisible())
    assert viewer.sign_in_dialog is not None
    return viewer.sign_in_dialog


def test_after_sign_out_the_toolbar_and_title_name_nobody(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    window = viewer.window
    assert server.admin_email in window.identity_label.text()
    qtbot.waitUntil(lambda: server.admin_email in window.filters._emails.stringList())
    sign_out(qtbot, viewer)
    assert window.filters._emails.stringList() == []  # no completion of the last org's people
    assert server.admin_email not in window.identity_label.text()
    assert window.identity_label.text().strip() == "Not signed in"
    assert window.windowTitle() == "auditlens"
    assert window.sign_out_action.text() == "Sign in…"


def test_signing_in_as_an_admin_after_a_member_clears_the_not_allowed_banner(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    submit(qtbot, viewer, server.url, email=server.member_email, password=server.member_password)
    dialog = trust_dialog(qtbot, viewer)
    with qtbot.waitSignal(viewer.sync_done, timeout=20_000):
        qtbot.mouseClick(dialog.trust_button, Qt.MouseButton.LeftButton)
    banner = viewer.window.banner
    assert banner.isVisible() and "Not allowed" in banner.code.text()
    sign_out(qtbot, viewer)
    with qtbot.waitSignal(viewer.sync_done, timeout=20_000) as blocker:
        submit(qtbot, viewer, server.url, email=server.admin_email, password=server.admin_password)
    assert isinstance(blocker.args[0], SyncResult)
    wait_loaded(qtbot, viewer.window)
    assert viewer.window.model.rowCount() > 0
    assert not banner.isVisible()


def test_the_sign_in_dialog_forgets_the_password_after_signing_in_and_out(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    dialog = viewer.sign_in_dialog
    assert dialog is not None
    assert dialog.password.text() == ""
    dialog = sign_out(qtbot, viewer)
    assert dialog.password.text() == "" and dialog.api_key.text() == ""
    assert dialog.email.text() == server.admin_email  # the address may stay: it is no secret


def test_a_real_server_signed_in_to_from_the_demo_is_not_called_the_demo(
    demo_viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    window = demo_viewer.window
    qtbot.waitUntil(lambda: window.status_label.text().startswith("Verified"))
    assert "demo server (key trusted by construction)" in window.windowTitle()
    assert "demo" in window.status_label.text()
    sign_out(qtbot, demo_viewer)
    sign_in_and_sync(qtbot, demo_viewer, server)  # first contact: the trust dialog pins the key
    qtbot.waitUntil(lambda: window.status_label.text().startswith("Verified"))
    assert "demo" not in window.windowTitle()
    assert window.windowTitle() == f"auditlens — {server.origin}"
    assert "demo" not in window.status_label.text()
    assert "pinned by construction" not in demo_viewer.show_about().hint.text()


def test_after_sign_out_the_demo_offers_its_people_to_sign_in_again(
    demo_viewer: Viewer, qtbot: QtBot, demo_server: DemoServer
) -> None:
    dialog = sign_out(qtbot, demo_viewer)
    assert dialog.demo_row.isVisible()
    qtbot.mouseClick(dialog.demo_buttons["admin"], Qt.MouseButton.LeftButton)
    assert dialog.server.currentText() == demo_server.url
    assert dialog.email.text() == demo_server.admin_email
    with qtbot.waitSignal(demo_viewer.sync_done, timeout=20_000) as blocker:
        qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    assert isinstance(blocker.args[0], SyncResult)
    assert demo_viewer.session is not None
    assert demo_server.admin_email in demo_viewer.window.identity_label.text()
    assert "demo server (key trusted by construction)" in demo_viewer.window.windowTitle()


def test_a_member_after_an_admin_does_not_see_the_admins_copy_of_the_log(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    window = viewer.window
    wait_loaded(qtbot, window)
    assert window.model.rowCount() > 0
    sign_out(qtbot, viewer)
    opened: list[object] = []
    window.model.count_changed.connect(lambda n: opened.append(n) if n > 0 else None)
    member = {"email": server.member_email, "password": server.member_password}
    with qtbot.waitSignal(viewer.sync_done, timeout=20_000):
        submit(qtbot, viewer, server.url, **member)
    assert window.banner.isVisible() and "Not allowed" in window.banner.code.text()
    assert window.reader is None and window.model.rowCount() == 0
    assert opened == []  # not even for a moment
    assert window.status_label.text() == "No mirror open"
