"""Viewer test set-up: real windows offscreen, real mirrors, a real demo server on loopback.

Nothing touches the person's keyring, settings, pins or mirrors: config and data go to the
test's temp directory, the keyring is an in-memory backend and QSettings an INI file there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from auditlens.client.credentials import CredentialStore
from auditlens.client.trust import TrustStore
from auditlens.server.embedded import DemoServer, start_demo_server
from auditlens.server.settings import ServerSettings
from auditlens.ui.app import Viewer
from auditlens.ui.main_window import MainWindow
from auditlens.ui.resources import stylesheet
from auditlens.ui.tasks import wait_for_all_runners
from tests.helpers.isolation import MemoryKeyring, isolated_home, memory_keyring
from tests.ui.mirror_factory import NOW_MS, BuiltMirror, build_demo_mirror

__all__ = ["isolated_home", "memory_keyring"]  # fixtures for this package

MIRROR_EVENTS = 5_000
SERVER_EVENTS = 400


@pytest.fixture(autouse=True)
def idle_workers() -> Iterator[None]:
    """Each test ends with no worker running, so no job outlives the widgets it reports to."""
    yield
    wait_for_all_runners()


@pytest.fixture(scope="session", autouse=True)
def styled_app(qapp: QApplication) -> QApplication:
    """The real stylesheet, so tests see what people see."""
    qapp.setStyleSheet(stylesheet())
    return qapp


@pytest.fixture(scope="session")
def demo_mirror(tmp_path_factory: pytest.TempPathFactory) -> BuiltMirror:
    return build_demo_mirror(tmp_path_factory.mktemp("mirror") / "demo.sqlite", MIRROR_EVENTS)


def wait_loaded(qtbot: QtBot, window: MainWindow, timeout: int = 5_000) -> None:
    """Wait until the count and every requested page of the current query arrived."""
    model = window.model
    qtbot.waitUntil(
        lambda: (not model.loading and model.rowCount() > 0) or model.count == 0, timeout=timeout
    )


@pytest.fixture
def window(qtbot: QtBot, demo_mirror: BuiltMirror) -> Iterator[MainWindow]:
    w = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(w)
    w.open_mirror(demo_mirror.path)
    w.show()
    wait_loaded(qtbot, w)
    yield w
    w.runner.wait()


@dataclass
class Home:
    """Where a viewer under test keeps pins, credentials, settings and mirrors."""

    path: Path
    keyring: MemoryKeyring

    def trust(self) -> TrustStore:
        return TrustStore(self.path / "pins.json")

    def credentials(self) -> CredentialStore:
        return CredentialStore(self.keyring, self.path / "accounts.json")

    def settings(self) -> QSettings:
        return QSettings(str(self.path / "settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return Home(tmp_path / "home", MemoryKeyring())


@pytest.fixture
def viewer(qtbot: QtBot, home: Home) -> Iterator[Viewer]:
    w = MainWindow()
    qtbot.addWidget(w)
    v = Viewer(
        w,
        trust=home.trust(),
        credentials=home.credentials(),
        mirror_dir=home.path / "mirrors",
        settings=home.settings(),
    )
    w.show()
    yield v
    v.close()
    w.runner.wait()
    if w.reader is not None:
        w.reader.close()


def start_server(data_dir: Path, events: int = SERVER_EVENTS) -> DemoServer:
    settings = ServerSettings(data_dir=data_dir, login_failure_delay_seconds=0.0)
    return start_demo_server(data_dir, events=events, seed=3, settings=settings)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """One demo server for the sign-in and sync tests that do not change it."""
    s = start_server(tmp_path_factory.mktemp("server"))
    yield s
    s.stop()
