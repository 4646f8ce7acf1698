"""Sign-in, key pinning, sync and verification failures against a real server on loopback."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from auditlens.client.sync import SyncResult, SyncStatus
from auditlens.core import note
from auditlens.server.embedded import DemoServer
from auditlens.ui.app import Viewer
from auditlens.ui.dialogs import SignInDialog, TrustDialog
from tests.ui.conftest import SERVER_EVENTS, start_server, wait_loaded


def submit(
    qtbot: QtBot,
    viewer: Viewer,
    url: str,
    *,
    email: str = "",
    password: str = "",
    api_key: str = "",
) -> SignInDialog:
    dialog = viewer.show_sign_in()
    dialog.server.setCurrentText(url)
    if api_key:
        dialog.tabs.setCurrentIndex(1)
        dialog.api_key.setText(api_key)
    else:
        dialog.tabs.setCurrentIndex(0)
        dialog.email.setText(email)
        dialog.password.setText(password)
    qtbot.mouseClick(dialog.sign_in_button, Qt.MouseButton.LeftButton)
    return dialog


def sign_in_error(qtbot: QtBot, viewer: Viewer, url: str, **fields: str) -> str:
    dialog = submit(qtbot, viewer, url, **fields)
    qtbot.waitUntil(dialog.error.isVisible, timeout=10_000)
    assert dialog.sign_in_button.isEnabled()  # the person can correct and retry
    return dialog.error.text()


def trust_dialog(qtbot: QtBot, viewer: Viewer) -> TrustDialog:
    qtbot.waitUntil(
        lambda: viewer.trust_dialog is not None and viewer.trust_dialog.isVisible(), timeout=10_000
    )
    assert viewer.trust_dialog is not None
    return viewer.trust_dialog


def synced(qtbot: QtBot, viewer: Viewer, timeout: int = 20_000) -> object:
    with qtbot.waitSignal(viewer.sync_done, timeout=timeout) as blocker:
        pass
    return blocker.args[0] if blocker.args else None


def sign_in_and_sync(qtbot: QtBot, viewer: Viewer, server: DemoServer) -> SyncResult:
    submit(qtbot, viewer, server.url, email=server.admin_email, password=server.admin_password)
    dialog = trust_dialog(qtbot, viewer)
    with qtbot.waitSignal(viewer.sync_done, timeout=30_000) as blocker:
        qtbot.mouseClick(dialog.trust_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert isinstance(result, SyncResult), result
    return result


def test_sign_in_pins_the_key_syncs_and_shows_the_log(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    submit(qtbot, viewer, server.url, email=server.admin_email, password=server.admin_password)
    dialog = trust_dialog(qtbot, viewer)
    assert server.origin in dialog.origin_label.text()
    assert dialog.vkey_box.toPlainText() == server.vkey
    with qtbot.waitSignal(viewer.sync_done, timeout=30_000) as blocker:
        qtbot.mouseClick(dialog.trust_button, Qt.MouseButton.LeftButton)
    result = blocker.args[0]
    assert isinstance(result, SyncResult) and result.status is SyncStatus.SYNCED
    window = viewer.window
    wait_loaded(qtbot, window)
    assert window.model.rowCount() == result.checkpoint.size  # type: ignore[union-attr]
    assert result.checkpoint is not None and result.checkpoint.size >= SERVER_EVENTS
    qtbot.waitUntil(lambda: window.status_label.text().startswith("Verified"))
    assert f"signed by {server.origin}" in window.status_label.text()
    assert viewer.trust.pinned_vkey(server.url) == server.vkey
    assert viewer.recent_servers()[0] == server.url
    assert not window.banner.isVisible()


def test_f5_syncs_again_and_finds_nothing_new(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    viewer.window.activateWindow()
    viewer.window.table.setFocus()
    qtbot.waitUntil(viewer.window.isActiveWindow)
    with qtbot.waitSignal(viewer.sync_done, timeout=20_000) as blocker:
        qtbot.keyClick(viewer.window.table, Qt.Key.Key_F5)
    assert blocker.args[0].status is SyncStatus.UP_TO_DATE


def test_a_wrong_password_says_so(viewer: Viewer, qtbot: QtBot, server: DemoServer) -> None:
    message = sign_in_error(qtbot, viewer, server.url, email=server.member_email, password="nope")
    assert message == "The email or password is not right."


def test_an_unreachable_server_says_so(viewer: Viewer, qtbot: QtBot) -> None:
    message = sign_in_error(qtbot, viewer, "http://127.0.0.1:9", email="a@b.c", password="x")
    assert message.startswith("Could not connect to the server at http://127.0.0.1:9")


def test_a_tls_failure_says_so(viewer: Viewer, qtbot: QtBot, server: DemoServer) -> None:
    https = server.url.replace("http://", "https://")
    message = sign_in_error(qtbot, viewer, https, email="a@b.c", password="x")
    assert "TLS" in message or "connect" in message.lower()


def test_a_revoked_api_key_says_so(viewer: Viewer, qtbot: QtBot, server: DemoServer) -> None:
    message = sign_in_error(qtbot, viewer, server.url, api_key="alk_read_notarealkey000000000")
    assert "sign in again" in message


def test_too_many_attempts_says_when_to_retry(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    messages = [
        sign_in_error(qtbot, viewer, server.url, email=server.owner_email, password=f"bad{i}")
        for i in range(6)
    ]
    assert messages[-1].startswith("Too many sign-in attempts")
    assert "Try again in" in messages[-1]


def test_a_member_is_told_only_owners_and_admins_read_audit_logs(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    submit(qtbot, viewer, server.url, email=server.member_email, password=server.member_password)
    dialog = trust_dialog(qtbot, viewer)
    with qtbot.waitSignal(viewer.sync_done, timeout=20_000):
        qtbot.mouseClick(dialog.trust_button, Qt.MouseButton.LeftButton)
    banner = viewer.window.banner
    assert banner.isVisible() and banner.kind == "notice"
    assert "Only Owners and Admins can read audit logs" in banner.what.text()


def test_a_pasted_key_that_differs_is_refused(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    submit(qtbot, viewer, server.url, email=server.admin_email, password=server.admin_password)
    dialog = trust_dialog(qtbot, viewer)
    _, other = note.generate_keys("auditlens.local")
    dialog.pasted.setText(other)
    qtbot.mouseClick(dialog.trust_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(dialog.error.isVisible, timeout=5_000)
    assert "not the key you were given" in dialog.error.text()
    assert viewer.trust.pinned_vkey(server.url) is None
    assert viewer.session is None


def test_a_changed_key_is_a_blocking_error_with_both_keys(
    viewer: Viewer, qtbot: QtBot, server: DemoServer, tmp_path: Path
) -> None:
    _, old = note.generate_keys("auditlens.local")
    pins = {server.url: {"vkey": old, "organizations": {}}}
    viewer.trust.path.parent.mkdir(parents=True, exist_ok=True)
    viewer.trust.path.write_text(json.dumps(pins))
    submit(qtbot, viewer, server.url, email=server.admin_email, password=server.admin_password)
    qtbot.waitUntil(
        lambda: viewer.key_dialog is not None and viewer.key_dialog.isVisible(), timeout=10_000
    )
    dialog = viewer.key_dialog
    assert dialog is not None and dialog.isModal()
    assert dialog.trusted_key == old
    assert dialog.announced_key == server.vkey
    assert viewer.window.banner.isVisible()
    assert "UNTRUSTED_KEY" in viewer.window.banner.code.text()
    assert viewer.trust.pinned_vkey(server.url) == old  # never silently re-pinned
    assert viewer.session is None


@pytest.fixture
def private_server(tmp_path: Path) -> Iterator[DemoServer]:
    s = start_server(tmp_path / "private-server", events=300)
    yield s
    s.stop()


def mirror_rows(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    finally:
        conn.close()


def test_an_entry_edited_on_the_server_shows_event_modified_and_keeps_the_mirror(
    viewer: Viewer, qtbot: QtBot, private_server: DemoServer
) -> None:
    server = private_server
    first = sign_in_and_sync(qtbot, viewer, server)
    assert viewer.session is not None
    mirror = viewer.session.mirror_path(viewer.mirror_dir)
    before = mirror_rows(mirror)
    # New events arrive, then someone rewrites an old one in the server's database.
    import httpx

    events = [
        {
            "type": "auth.logout",
            "user_id": None,
            "task_id": None,
            "agent_id": None,
            "event": {"outcome": "success"},
        }
        for _ in range(5)
    ]
    response = httpx.post(
        f"{server.url}/v1/events",
        json={"events": events},
        headers={"Authorization": f"Bearer {server.ingest_key}"},
    )
    assert response.status_code == 201, response.text
    assert first.checkpoint is not None
    edited = first.checkpoint.size + 2  # one of the new entries, not yet in the mirror
    engine = sa.create_engine(f"sqlite:///{server.data_dir / 'auditlens.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS entries_prune_only")
        select = sa.text("SELECT body FROM entries WHERE idx = :i")
        body = bytes(conn.execute(select, {"i": edited}).scalar_one())
        forged = body.replace(b'"success"', b'"failure"', 1)
        assert forged != body
        conn.execute(
            sa.text("UPDATE entries SET body = :b WHERE idx = :i"), {"b": forged, "i": edited}
        )
    engine.dispose()
    with qtbot.waitSignal(viewer.sync_done, timeout=20_000) as blocker:
        viewer.sync()
    outcome = blocker.args[0]
    banner = viewer.window.banner
    assert banner.isVisible() and banner.kind == "failure"
    assert "EVENT_MODIFIED" in banner.code.text(), (outcome, banner.what.text())
    assert str(edited) in banner.where.text()
    assert mirror_rows(mirror) == before == first.new_entries


def test_an_edited_mirror_file_is_detected_at_start(
    viewer: Viewer, qtbot: QtBot, private_server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, viewer, private_server)
    assert viewer.session is not None
    mirror = viewer.session.mirror_path(viewer.mirror_dir)
    viewer.window.close_mirror()
    conn = sqlite3.connect(mirror)
    raw = conn.execute("SELECT raw FROM entries WHERE idx = 7").fetchone()[0]
    conn.execute("UPDATE entries SET raw = ? WHERE idx = 7", (bytes(raw).replace(b"a", b"b", 1),))
    conn.commit()
    conn.close()
    with qtbot.waitSignal(viewer.recheck_done, timeout=20_000):
        viewer.open_session(viewer.session)
    banner = viewer.window.banner
    assert banner.isVisible() and "EVENT_MODIFIED" in banner.code.text()
    assert "re-check" in banner.where.text()
