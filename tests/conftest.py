"""Session-wide test set-up: Qt runs offscreen; nothing touches the user's real data or keyring."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SLOW_MODULES = frozenset(
    [
        "tests/client/test_sync_server.py",
        "tests/core/test_canonical_fastpath.py",
        "tests/core/test_canonical_numbers.py",
        "tests/core/test_merkle_properties.py",
        "tests/core/test_perf_equivalence.py",
        "tests/e2e/test_cli_flow.py",
        "tests/e2e/test_headless.py",
        "tests/e2e/test_log_identity.py",
        "tests/e2e/test_login_refusals.py",
        "tests/export/test_commands.py",
        "tests/export/test_large.py",
        "tests/export/test_report_command.py",
        "tests/export/test_report_pdf.py",
        "tests/mirror/test_query.py",
        "tests/packaging/test_spec.py",
        "tests/server/test_commands.py",
        "tests/server/test_crash.py",
        "tests/server/test_demo_data.py",
        "tests/server/test_forwarding.py",
        "tests/server/test_forwarding_process.py",
        "tests/server/test_forwarding_securityhub.py",
        "tests/server/test_fuzz.py",
        "tests/server/test_integrity.py",
        "tests/server/test_login_flood.py",
        "tests/server/test_login_limits.py",
        "tests/server/test_retention.py",
        "tests/server/test_sequencer.py",
        "tests/server/test_serve_limits.py",
        "tests/ui/test_app_demo.py",
        "tests/ui/test_app_menus.py",
        "tests/ui/test_app_session.py",
        "tests/ui/test_case_view.py",
        "tests/ui/test_export_dialog.py",
        "tests/ui/test_forwarding_dialog.py",
        "tests/ui/test_histogram.py",
        "tests/ui/test_lifetimes.py",
        "tests/ui/test_pivots.py",
        "tests/ui/test_search.py",
        "tests/ui/test_signin_sync.py",
        "tests/ui/test_soak.py",
        "tests/ui/test_table_model.py",
        "tests/ui/test_task_trail.py",
        "tests/ui/test_window.py",
        "tests/ui/test_window_filters.py",
        "tests/ui/test_window_table.py",
    ]
)
"""Modules whose every test counts as ``slow``: each takes more than a second or so on a
quiet 2-core machine (real server processes, fuzzing, soak runs, 100k+ events, whole windows).
`make check` skips them to stay near a minute; `make test` runs everything. A single slow
test elsewhere carries its own ``@pytest.mark.slow``."""


#: The longest tests (15 s to 100 s each on a 2-core machine), run first: ``make test`` runs
#: the tests on two workers that take work from each other when idle (``--dist worksteal``), so
#: a long test started last would keep one worker busy alone at the end.
LONGEST_FIRST = (
    "tests/ui/test_soak.py",
    "tests/server/test_fuzz.py",
    "tests/server/test_forwarding_process.py",
    "tests/server/test_multiprocess.py",
    "tests/e2e/test_log_identity.py",
    "tests/ui/test_lifetimes.py",
    "tests/client/test_sync_kill.py",
    "tests/server/test_serve_limits.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))

    def rank(item: pytest.Item) -> int:
        path = Path(item.fspath).relative_to(root).as_posix()
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    for item in items:
        if Path(item.fspath).relative_to(root).as_posix() in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
    items.sort(key=rank)  # stable: every other test keeps its order


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
