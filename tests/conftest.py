"""Session-wide test set-up: Qt runs offscreen; nothing touches the user's real data or keyring."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def redirect_qt_user_settings(folder: Path) -> None:
    """Send every user-scope QSettings to ``folder``: the application's own (``QSettings()``)
    and Qt's (the file dialog keeps its state in ``QtProject.conf``)."""
    from PySide6.QtCore import QSettings

    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(folder))


@pytest.fixture(scope="session", autouse=True)
def qt_user_settings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this test session's user settings go (never the person's config folder)."""
    folder = tmp_path_factory.mktemp("qt-user-settings")
    redirect_qt_user_settings(folder)
    return folder
