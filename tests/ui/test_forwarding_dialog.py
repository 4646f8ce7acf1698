"""Settings -> Forwarding against a real demo server on loopback and a local Splunk HEC receiver."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from auditlens.client.api import AuditApiClient
from auditlens.server.embedded import DemoServer, start_demo_server
from auditlens.server.settings import ServerSettings
from auditlens.ui.app import Viewer
from auditlens.ui.commands import sign_in_to_demo
from auditlens.ui.forwarding_dialog import ForwardingDialog, ForwardingTarget
from auditlens.ui.main_window import MainWindow
from tests.server.siem_receivers import Receiver

HEC_TOKEN = "00000000-1111-2222-3333-444444444444"
EVENTS = 60


@pytest.fixture(scope="module")
def fwd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    data_dir = tmp_path_factory.mktemp("fwd-server")
    settings = ServerSettings(
        data_dir=data_dir, login_failure_delay_seconds=0.0, forwarding_scan_seconds=0.2
    )
    s = start_demo_server(data_dir, events=EVENTS, seed=3, settings=settings)
    yield s
    s.stop()


def signed_in(server: DemoServer, role: str) -> AuditApiClient:
    client = AuditApiClient(server.url)
    email, password = {
        "owner": (server.owner_email, server.owner_password),
        "admin": (server.admin_email, server.admin_password),
        "member": (server.member_email, server.member_password),
    }[role]
    client.login(email, password)
    return client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver("splunk_hec", HEC_TOKEN)
    yield r
    r.release.set()
    r.stop()


def added(server: DemoServer, receiver: Receiver, token: str) -> Iterator[dict[str, Any]]:
    """A Splunk HEC destination from the start of the log, removed afterwards."""
    with signed_in(server, "owner") as owner:
        headers = {"Authorization": f"Bearer {owner.token}"}
        body = {
            "name": "Splunk (test)",
            "kind": "splunk_hec",
            "config": {"url": receiver.url, "max_wait_seconds": 0.05, "timeout_seconds": 2},
            "secret": token,
            "start": "beginning",
        }
        r = httpx.post(f"{server.url}/v1/forwarders", json=body, headers=headers)
        assert r.status_code == 201, r.text
        fwd = dict(r.json())
        yield fwd
        r = httpx.delete(f"{server.url}/v1/forwarders/{fwd['id']}", headers=headers)
        assert r.status_code == 204, r.text


@pytest.fixture
def forwarder(fwd_server: DemoServer, receiver: Receiver) -> Iterator[dict[str, Any]]:
    """The receiver hangs until released, so the destination lags by the whole log until the
    test lets it deliver."""
    receiver.hold.set()
    yield from added(fwd_server, receiver, HEC_TOKEN)


@pytest.fixture
def refused(fwd_server: DemoServer, receiver: Receiver) -> Iterator[dict[str, Any]]:
    """A destination whose token the receiver refuses (403): the server stops it as failed."""
    yield from added(fwd_server, receiver, "not-the-token")


def make_dialog(
    qtbot: QtBot, tmp_path: Path, client: AuditApiClient | None, role: str = "owner"
) -> ForwardingDialog:
    window = MainWindow()
    qtbot.addWidget(window)
    target = ForwardingTarget(client, role, "Demo on loopback") if client is not None else None
    dialog = ForwardingDialog(window.runner, lambda: target, window)
    return dialog


def loaded(qtbot: QtBot, dialog: ForwardingDialog) -> None:
    qtbot.waitUntil(lambda: not dialog.loading, timeout=15_000)


def refreshed_until(qtbot: QtBot, dialog: ForwardingDialog, column: str, text: str) -> None:
    """Press Refresh until the first row's ``column`` reads ``text`` (the server moves on)."""

    def shows() -> bool:
        if dialog.loading:
            return False
        if dialog.statuses and dialog.row_texts(0)[column] == text:
            return True
        dialog.refresh()
        return False

    qtbot.waitUntil(shows, timeout=20_000)


def test_owner_sees_the_destination_its_lag_and_pauses_and_resumes_it(
    qtbot: QtBot, tmp_path: Path, fwd_server: DemoServer, forwarder: dict[str, Any],
    receiver: Receiver,
) -> None:  # fmt: skip
    qtbot.waitUntil(lambda: receiver.got.requests != [], timeout=15_000)  # it tried, and hangs
    with signed_in(fwd_server, "owner") as owner:
        dialog = make_dialog(qtbot, tmp_path, owner)
        dialog.show_and_refresh()
        loaded(qtbot, dialog)
        assert dialog.pages.currentWidget() is dialog.table
        row = dialog.row_texts(0)
        assert row["Destination"] == "Splunk (test)" and row["Kind"] == "Splunk HEC"
        assert row["State"] == "running"
        behind = owner.forwarder_status(forwarder["id"]).lag_events
        assert behind >= EVENTS  # the demo events and the audit events of the set-up
        # Seconds since the oldest undelivered entry was appended (the demo's events are
        # backdated by days, but they were appended just now).
        lag = owner.forwarder_status(forwarder["id"]).lag_seconds
        assert lag < 3_600
        assert row["Lag"].startswith(f"{behind} events · ") and "day" not in row["Lag"]
        assert row["Last success"] == "never" and row["Dead letters"] == "0"
        dialog.grab().save(str(tmp_path / "forwarding-owner.png"))

        pause = dialog.action_button(0)
        assert pause is not None and pause.text() == "Pause"
        qtbot.mouseClick(pause, Qt.MouseButton.LeftButton)
        refreshed_until(qtbot, dialog, "State", "paused")
        resume = dialog.action_button(0)
        assert resume is not None and resume.text() == "Resume"
        status = owner.forwarder_status(forwarder["id"])
        assert status.state == "paused"

        receiver.hold.clear()  # the receiver answers again: resuming delivers the backlog
        receiver.release.set()
        qtbot.mouseClick(resume, Qt.MouseButton.LeftButton)
        refreshed_until(qtbot, dialog, "Lag", "up to date")
        row = dialog.row_texts(0)
        assert row["State"] == "running" and row["Last success"] != "never"
        assert receiver.count() >= EVENTS
        dialog.grab().save(str(tmp_path / "forwarding-owner-resumed.png"))


def test_a_destination_stopped_by_an_error_shows_the_error_and_offers_resume(
    qtbot: QtBot, tmp_path: Path, fwd_server: DemoServer, refused: dict[str, Any]
) -> None:
    with signed_in(fwd_server, "owner") as owner:
        qtbot.waitUntil(
            lambda: owner.forwarder_status(refused["id"]).state == "failed", timeout=15_000
        )
        dialog = make_dialog(qtbot, tmp_path, owner)
        dialog.show_and_refresh()
        loaded(qtbot, dialog)
        row = dialog.row_texts(0)
        assert row["State"] == "stopped (error)"
        assert row["Last error"]  # the server's words, whatever they are
        assert row["Last error"] == owner.forwarder_status(refused["id"]).last_error
        assert dialog.errors.isVisible() and row["Last error"] in dialog.errors.text()
        button = dialog.action_button(0)
        assert button is not None and button.text() == "Resume"
        dialog.grab().save(str(tmp_path / "forwarding-failed.png"))


def test_an_admin_signed_in_sees_it_read_only_from_the_settings_menu(
    qtbot: QtBot, tmp_path: Path, fwd_server: DemoServer, forwarder: dict[str, Any],
    viewer: Viewer,
) -> None:  # fmt: skip
    session = sign_in_to_demo(fwd_server, viewer.trust, viewer.credentials)
    with qtbot.waitSignal(viewer.sync_done, timeout=30_000):
        viewer.open_session(session)
    viewer.forwarding_action.trigger()
    dialog = viewer.forwarding_dialog
    assert dialog is not None and dialog.isVisible()
    loaded(qtbot, dialog)
    assert dialog.row_texts(0)["Destination"] == "Splunk (test)"
    assert dialog.action_button(0) is None
    assert dialog.table.isColumnHidden(dialog.table.columnCount() - 1)
    assert "read-only" in dialog.heading.text()
    dialog.grab().save(str(tmp_path / "forwarding-admin.png"))

    viewer.sign_out()  # the dialog showed this server: it goes with the session
    assert not dialog.isVisible()
    qtbot.waitUntil(lambda: viewer.sign_in_dialog is not None, timeout=10_000)


def test_not_signed_in_says_so(qtbot: QtBot, viewer: Viewer) -> None:
    viewer.forwarding_action.trigger()
    dialog = viewer.forwarding_dialog
    assert dialog is not None
    assert dialog.pages.currentWidget() is dialog.empty
    assert "Sign in" in dialog.empty.text()
    assert not dialog.loading and dialog.refresh_button.isEnabled()


def test_a_server_without_destinations_says_how_to_add_one(
    qtbot: QtBot, tmp_path: Path, fwd_server: DemoServer
) -> None:
    with signed_in(fwd_server, "admin") as admin:
        dialog = make_dialog(qtbot, tmp_path, admin, role="admin")
        dialog.show_and_refresh()
        loaded(qtbot, dialog)
        assert dialog.pages.currentWidget() is dialog.empty
        assert "no SIEM" in dialog.empty.text()
        assert "forwarder add" in dialog.empty.text()
        dialog.grab().save(str(tmp_path / "forwarding-empty.png"))


def test_a_member_is_told_who_may_see_it_and_a_refusal_is_in_words(
    qtbot: QtBot, tmp_path: Path, fwd_server: DemoServer
) -> None:
    with signed_in(fwd_server, "member") as member:
        dialog = make_dialog(qtbot, tmp_path, member, role="member")
        dialog.show_and_refresh()
        assert "Only Owners and Admins" in dialog.empty.text()
        # Had the viewer believed the person an Admin, the server's 403 is still said in words.
        dialog = make_dialog(qtbot, tmp_path, member, role="admin")
        dialog.show_and_refresh()
        loaded(qtbot, dialog)
        text = dialog.message.text()
        assert text.startswith("Could not load the forwarding destinations:")
        assert "not allowed" in text


def test_an_unreachable_server_is_said_in_words(qtbot: QtBot, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with AuditApiClient(f"http://127.0.0.1:{port}", token="x") as client:
        dialog = make_dialog(qtbot, tmp_path, client)
        dialog.show_and_refresh()
        loaded(qtbot, dialog)
        assert "Could not connect to the server" in dialog.message.text()
        assert dialog.refresh_button.isEnabled()
