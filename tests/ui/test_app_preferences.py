"""Sync automatically (Off / 1 / 5 / 15 min): a saved preference that drives a timer."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pytestqt.qtbot import QtBot

from auditlens.client.sync import SyncResult, SyncStatus
from auditlens.server.embedded import DemoServer
from auditlens.ui.app import Viewer
from auditlens.ui.main_window import MainWindow
from auditlens.ui.preferences import SYNC_INTERVAL_KEY, SYNC_INTERVALS, read_sync_interval
from tests.ui.conftest import Home
from tests.ui.test_signin_sync import sign_in_and_sync

MakeViewer = Callable[..., Viewer]


@pytest.fixture
def make_viewer(qtbot: QtBot, home: Home) -> Iterator[MakeViewer]:
    """Build viewers on the same home (settings file), as successive starts of the app."""
    made: list[Viewer] = []

    def make(sync_every: int = 0, demo: bool = False) -> Viewer:
        w = MainWindow()
        qtbot.addWidget(w)
        v = Viewer(
            w,
            trust=home.trust(),
            credentials=home.credentials(),
            mirror_dir=home.path / "mirrors",
            settings=home.settings(),
            sync_every=sync_every,
            demo=demo,
        )
        made.append(v)
        return v

    yield make
    for v in made:
        v.close()
        v.window.runner.wait()


def choose(viewer: Viewer, text: str) -> None:
    action = next(a for a in viewer.interval_menu.actions() if a.text() == text)
    action.trigger()


def test_the_menu_offers_off_and_one_five_fifteen_minutes(viewer: Viewer) -> None:
    texts = [a.text() for a in viewer.interval_menu.actions() if a.isVisible()]
    assert texts == [text for text, _ in SYNC_INTERVALS]
    assert [seconds for _, seconds in SYNC_INTERVALS] == [0, 60, 300, 900]


def test_by_default_sync_runs_only_at_start_and_on_f5(viewer: Viewer) -> None:
    assert not viewer.timer.isActive()
    assert viewer.interval_menu.current() == 0


def test_choosing_five_minutes_starts_a_timer_and_is_saved(
    viewer: Viewer, home: Home, make_viewer: MakeViewer
) -> None:
    choose(viewer, "Every 5 minutes")
    assert viewer.timer.isActive() and viewer.timer.interval() == 300_000
    assert viewer.sync_interval == 300
    assert read_sync_interval(home.settings()) == 300
    assert "every 5 minutes" in viewer.window.statusBar().currentMessage()


def test_the_saved_choice_is_used_at_the_next_start(home: Home, make_viewer: MakeViewer) -> None:
    first = make_viewer()
    choose(first, "Every 15 minutes")
    second = make_viewer()
    assert second.timer.isActive() and second.timer.interval() == 900_000
    assert second.interval_menu.current() == 900


def test_off_stops_the_timer_and_is_saved(home: Home, make_viewer: MakeViewer) -> None:
    viewer = make_viewer()
    choose(viewer, "Every minute")
    assert viewer.timer.isActive()
    choose(viewer, "Off (at start and on F5)")
    assert not viewer.timer.isActive()
    assert read_sync_interval(home.settings()) == 0


def test_the_sync_every_flag_wins_for_the_run_without_being_saved(
    home: Home, make_viewer: MakeViewer
) -> None:
    settings = home.settings()
    settings.setValue(SYNC_INTERVAL_KEY, 900)
    settings.sync()
    viewer = make_viewer(sync_every=30)
    assert viewer.timer.interval() == 30_000
    assert viewer.interval_menu.current() == -1  # shown as a custom, checked entry
    assert viewer.interval_menu.custom.isVisible()
    assert "30" in viewer.interval_menu.custom.text()
    assert read_sync_interval(home.settings()) == 900


def test_a_damaged_setting_means_off(home: Home, make_viewer: MakeViewer) -> None:
    settings = home.settings()
    settings.setValue(SYNC_INTERVAL_KEY, "soon")
    settings.sync()
    viewer = make_viewer()
    assert not viewer.timer.isActive()


def test_the_demo_neither_reads_nor_saves_the_preference(
    home: Home, make_viewer: MakeViewer
) -> None:
    settings = home.settings()
    settings.setValue(SYNC_INTERVAL_KEY, 60)
    settings.sync()
    demo = make_viewer(demo=True)
    assert not demo.timer.isActive()
    choose(demo, "Every 15 minutes")
    assert demo.timer.interval() == 900_000
    assert read_sync_interval(home.settings()) == 60


def test_the_timer_drives_a_sync_without_any_key_press(
    viewer: Viewer, qtbot: QtBot, server: DemoServer
) -> None:
    sign_in_and_sync(qtbot, viewer, server)
    viewer.set_sync_interval(1, save=False)  # the menu's minutes, shortened for the test
    with qtbot.waitSignal(viewer.sync_done, timeout=5_000) as blocker:
        pass  # nothing but the timer can start this sync
    result = blocker.args[0]
    assert isinstance(result, SyncResult) and result.status is SyncStatus.UP_TO_DATE
