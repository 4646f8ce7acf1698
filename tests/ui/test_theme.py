"""Themes and times: WCAG AA contrast of every status colour in both themes, the dark theme in
the real window, the OS scheme followed, relative times with UTC always named."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QImage
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from auditlens.ui import theme
from auditlens.ui.app import Viewer
from auditlens.ui.main_window import MainWindow
from auditlens.ui.preferences import THEME_KEY, TIME_MODE_KEY
from auditlens.ui.resources import resource_dir
from auditlens.ui.table_model import OUTCOME, TIME, USER, relative_time
from tests.ui.conftest import Home, wait_loaded
from tests.ui.mirror_factory import NOW_MS, BuiltMirror


@pytest.fixture
def light_again(qapp: QApplication) -> Iterator[None]:
    """Every test leaves the application light, with the stylesheet it found."""
    before = qapp.styleSheet()
    yield
    theme.apply_theme(qapp, "light")
    qapp.setStyleSheet(before)


@pytest.mark.parametrize("palette", [theme.LIGHT, theme.DARK], ids=lambda p: p.name)
@pytest.mark.parametrize("pair", theme.STATUS_PAIRS, ids=lambda p: f"{p[0]}-on-{p[1]}")
def test_every_status_colour_meets_wcag_aa(
    palette: theme.Palette, pair: tuple[str, str, str]
) -> None:
    fg, bg, what = pair
    ratio = theme.contrast_ratio(getattr(palette, fg), getattr(palette, bg))
    assert ratio >= theme.AA_RATIO, f"{palette.name}: {what} is {ratio:.2f}:1"


def test_contrast_ratio_is_the_wcag_formula() -> None:
    assert theme.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert theme.contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert theme.contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)


def test_the_stylesheet_pairs_meet_aa_in_both_themes() -> None:
    """The stylesheet's own status blocks (banner, proof status, errors, notices, chips)."""
    pairs = [  # (text, background) as written in style.qss, in light colours
        ("#ffffff", "#c62828"),  # red banner
        ("#ffffff", "#9a5b00"),  # amber banner
        ("#1e5a37", "#eef7f1"),  # proof verified
        ("#7a4b00", "#fff4e5"),  # proof not verified, demo badge
        ("#8e1b1b", "#fdecea"),  # error label
        ("#1f4f86", "#e8f0fa"),  # filter chip
        ("#ffffff", "#1f3a5f"),  # primary button
        ("#33414f", "#eef2f6"),  # table header
        ("#1d2733", "#ffffff"),  # text
        ("#51606f", "#ffffff"),  # secondary text
        ("#7a4b00", "#ffffff"),  # keyring warning on the status bar
    ]
    white_stays = {("#ffffff", "#c62828"), ("#ffffff", "#9a5b00"), ("#ffffff", "#1f3a5f")}
    for fg, bg in pairs:
        assert theme.contrast_ratio(fg, bg) >= theme.AA_RATIO, ("light", fg, bg)
        dark_fg = fg if (fg, bg) in white_stays else theme.DARK_QSS[fg]
        dark_bg = theme.DARK_QSS[bg]
        assert theme.contrast_ratio(dark_fg, dark_bg) >= theme.AA_RATIO, ("dark", fg, bg)


def test_every_stylesheet_colour_has_a_dark_counterpart() -> None:
    qss = (resource_dir() / "style.qss").read_text(encoding="utf-8")
    missing = theme.qss_colours(qss) - set(theme.DARK_QSS)
    assert not missing, f"colours without a dark counterpart: {sorted(missing)}"
    dark = theme.themed_stylesheet(qss, theme.DARK)
    assert "#f5f7fa" not in dark.lower()  # no light window left
    banner = dark[dark.index("#VerificationBanner QLabel") :]
    assert "color: #ffffff" in banner[: banner.index("}")]  # white stays white on red


def test_the_dark_theme_in_the_real_window(
    qtbot: QtBot, qapp: QApplication, demo_mirror: BuiltMirror, light_again: None
) -> None:
    w = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(w)
    w.open_mirror(demo_mirror.path)
    w.resize(1400, 860)
    w.show()
    wait_loaded(qtbot, w)
    qapp.setStyleSheet(theme.themed_stylesheet(theme.stylesheet(), theme.LIGHT))
    failed = next(
        r for r in range(w.model.rowCount()) if w.model.data(w.model.index(r, OUTCOME)) == "failure"
    )
    w.select_row(failed)
    qtbot.waitUntil(lambda: '"id"' in w.detail.json.toPlainText(), timeout=3_000)
    qtbot.wait(300)  # the histogram's counts, for the screenshot
    with qtbot.waitSignal(theme.theme_changed(), timeout=1_000):
        assert theme.apply_theme(qapp, "dark") is theme.DARK
    cell = w.model.index(failed, OUTCOME)
    assert w.model.data(cell, Qt.ItemDataRole.ForegroundRole) == QBrush(
        QColor(theme.DARK.failure_text)
    )
    assert w.model.data(cell, Qt.ItemDataRole.BackgroundRole) == QBrush(
        QColor(theme.DARK.failure_bg)
    )
    assert qapp.palette().color(qapp.palette().ColorRole.Base) == QColor(theme.DARK.base)
    assert theme.DARK.base in qapp.styleSheet()
    assert theme.DARK.link in w.detail.ids.text()  # the shown event, recoloured at once
    assert theme.DARK.failure_text in w.detail.ids.text()
    number_format = w.detail.highlighter.rules[0][1]
    assert number_format.foreground().color() == QColor(theme.DARK.json_number)
    qtbot.wait(100)
    theme.apply_theme(qapp, "light")
    assert w.model.data(cell, Qt.ItemDataRole.ForegroundRole) == QBrush(
        QColor(theme.LIGHT.failure_text)
    )


def test_system_choice_follows_the_os_scheme(
    qapp: QApplication, monkeypatch: pytest.MonkeyPatch, light_again: None
) -> None:
    monkeypatch.setattr(theme, "system_is_dark", lambda: True)
    assert theme.apply_theme(qapp, "system") is theme.DARK
    assert theme.apply_theme(qapp, "light") is theme.LIGHT  # the manual choice wins
    monkeypatch.setattr(theme, "system_is_dark", lambda: False)
    assert theme.apply_theme(qapp, "system") is theme.LIGHT
    assert theme.resolve("dark") is theme.DARK


def test_settings_theme_menu_and_saved_choices(
    qtbot: QtBot, qapp: QApplication, home: Home, light_again: None
) -> None:
    settings = home.settings()
    settings.setValue(TIME_MODE_KEY, "relative")
    w = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(w)
    viewer = Viewer(
        w,
        trust=home.trust(),
        credentials=home.credentials(),
        mirror_dir=home.path / "mirrors",
        settings=settings,
    )
    assert w.model.time_mode == "relative"  # the saved choice is restored
    assert w.shortcuts.relative_action.isChecked()
    menu = viewer.reading.menu
    assert menu.choices["system"].isChecked()
    menu.choices["dark"].trigger()
    assert theme.current() is theme.DARK
    assert settings.value(THEME_KEY) == "dark"
    w.shortcuts.relative_action.trigger()
    assert w.model.time_mode == "utc"
    assert settings.value(TIME_MODE_KEY) == "utc"
    menu.choices["light"].trigger()
    viewer.close()


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (5, "just now"),
        (3 * 60, "3 min ago"),
        (89 * 60, "89 min ago"),
        (2 * 3600, "2 h ago"),
        (3 * 86400, "3 days ago"),
        (86400 * 1.6, "2 days ago"),
        (21 * 86400, "3 weeks ago"),
        (90 * 86400, "3 months ago"),
        (800 * 86400, "2 years ago"),
        (-120, "in 2 min"),
    ],
)
def test_relative_time(seconds: float, text: str) -> None:
    assert relative_time(NOW_MS - int(seconds * 1000), NOW_MS) == text


def test_relative_time_toggle_keeps_utc_named(
    qtbot: QtBot, demo_mirror: BuiltMirror, styled_app: QApplication
) -> None:
    w = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(w)
    w.open_mirror(demo_mirror.path)
    w.resize(1400, 700)
    w.show()
    wait_loaded(qtbot, w)
    model = w.model
    header = model.headerData(TIME, Qt.Orientation.Horizontal)
    assert header == "Time (UTC)"  # the default, labelled
    utc = model.data(model.index(0, TIME))
    assert utc.endswith("Z")
    qtbot.keyClick(
        w, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert model.time_mode == "relative"
    assert "UTC" in model.headerData(TIME, Qt.Orientation.Horizontal)
    shown = model.data(model.index(0, TIME))
    assert shown.endswith("ago") or shown == "just now"
    tip = model.data(model.index(0, TIME), Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith(f"{utc} (UTC)") and shown in tip
    assert model.data(model.index(0, USER)) != ""  # other columns unchanged
    w.shortcuts.relative_action.trigger()
    assert model.data(model.index(0, TIME)) == utc
    assert model.headerData(TIME, Qt.Orientation.Horizontal) == "Time (UTC)"
    w.runner.wait()


def test_the_dialog_stylesheets_have_dark_counterparts() -> None:
    from auditlens.ui import export_dialog, verify_dialog

    stays = {"#1e7a46", "#165c35"}  # the green "verified" header: white text on it in both
    for style in (export_dialog.STYLE, verify_dialog.STYLE):
        assert theme.qss_colours(style) - set(theme.DARK_QSS) <= stays
        dark = theme.themed_stylesheet(style, theme.DARK)
        assert "color: #ffffff" in dark or "#ffffff" not in style  # white text stays white
    dark = theme.themed_stylesheet(verify_dialog.STYLE, theme.DARK)
    assert '#VerifyHeader[state="fail"] { background: #c93a33; color: #ffffff' in dark


def test_line_icons_follow_the_theme(qapp: QApplication, light_again: None) -> None:
    from auditlens.ui.resources import icon

    sync = icon("sync")
    assert not sync.isNull() and icon("no-such-icon").isNull()

    def inked(image: QImage) -> set[str]:
        return {
            image.pixelColor(x, y).name()
            for x in range(image.width())
            for y in range(image.height())
            if image.pixelColor(x, y).alpha() == 255
        }

    light = inked(sync.pixmap(32, 32).toImage())
    assert "#1f3a5f" in light
    theme.apply_theme(qapp, "dark")
    dark = inked(sync.pixmap(32, 32).toImage())  # the same QIcon, drawn again
    assert "#9cc3f5" in dark and "#1f3a5f" not in dark
    assert "#c62828" in inked(icon("failure").pixmap(32, 32).toImage())  # status keeps colour
    disabled = sync.pixmap(32, 32, QIcon.Mode.Disabled).toImage()
    assert inked(disabled) != dark
