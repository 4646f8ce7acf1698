"""Light and dark themes: the colours the viewer draws with, and which theme is in use.

The viewer follows the operating system's colour scheme (Qt's ``QStyleHints.colorScheme``,
updated live when it changes) unless the person chose Light or Dark in Settings -> Theme
(kept in QSettings, :mod:`auditlens.ui.preferences`).

One stylesheet, two themes: ``resources/style.qss`` is written in the light colours, and the
dark stylesheet is the same text with every light colour replaced by its counterpart in
:data:`DARK_QSS` (a test checks that every colour of the stylesheet has one, so nothing stays
light by accident). Colours the code draws itself (the Outcome cells, the detail pane's words,
the JSON pane) come from :func:`current`, a :class:`Palette` of named colours.

Contrast: every status colour is read against its background by a test
(tests/ui/test_theme.py, :data:`STATUS_PAIRS`), which requires the WCAG 2.1 AA ratio of 4.5:1
(:func:`contrast_ratio`) in both themes. The disabled-control grey of the stylesheet is exempt,
as WCAG exempts inactive controls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from PySide6.QtCore import QObject, QSettings, Qt, Signal, SignalInstance
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication, QMenu

from auditlens.ui.resources import stylesheet

if TYPE_CHECKING:
    from auditlens.ui.main_window import MainWindow

ThemeChoice = Literal["system", "light", "dark"]
THEME_CHOICES: tuple[tuple[str, ThemeChoice], ...] = (
    ("Follow the system", "system"),
    ("Light", "light"),
    ("Dark", "dark"),
)
#: WCAG 2.1 AA for normal text.
AA_RATIO = 4.5


@dataclass(frozen=True)
class Palette:
    """The colours the code paints with (hex strings), one set per theme."""

    name: str
    window: str
    base: str
    alt_base: str
    text: str
    secondary: str
    muted: str
    link: str
    selection: str
    failure_text: str
    failure_bg: str
    denied_text: str
    denied_bg: str
    ok_text: str
    ok_bg: str
    notice_text: str
    notice_bg: str
    banner_text: str
    banner_bg: str
    notice_banner_bg: str
    hit_text: str
    hit_bg: str
    table_hit_bg: str
    json_bg: str
    json_key: str
    json_string: str
    json_number: str
    json_literal: str


LIGHT = Palette(
    name="light",
    window="#f5f7fa",
    base="#ffffff",
    alt_base="#f8fafc",
    text="#1d2733",
    secondary="#51606f",
    muted="#65717e",
    link="#3d6fa8",
    selection="#d6e4f5",
    failure_text="#b71c1c",
    failure_bg="#fdecea",
    denied_text="#8a4500",
    denied_bg="#fff1dc",
    ok_text="#1e5a37",
    ok_bg="#eef7f1",
    notice_text="#7a4b00",
    notice_bg="#fff4e5",
    banner_text="#ffffff",
    banner_bg="#c62828",
    notice_banner_bg="#9a5b00",
    hit_text="#1a1a1a",
    hit_bg="#ffe066",
    table_hit_bg="#ffe066",
    json_bg="#fbfcfd",
    json_key="#1f3a5f",
    json_string="#2e6b3a",
    json_number="#9a4d00",
    json_literal="#6a3d9a",
)

DARK = Palette(
    name="dark",
    window="#1c2128",
    base="#22272e",
    alt_base="#262c34",
    text="#e6edf3",
    secondary="#a4b0bc",
    muted="#9aa7b4",
    link="#6ea8fe",
    selection="#2f4a6b",
    failure_text="#ff9b92",
    failure_bg="#3d1f1f",
    denied_text="#f5b86a",
    denied_bg="#3a2a12",
    ok_text="#7ee2a8",
    ok_bg="#17301f",
    notice_text="#f5c46a",
    notice_bg="#352a12",
    banner_text="#ffffff",
    banner_bg="#b3261e",
    notice_banner_bg="#9a5b00",
    hit_text="#1a1a1a",
    hit_bg="#ffe066",
    table_hit_bg="#6b4f00",  # the table draws hits in its own text colour: light on amber
    json_bg="#1e2329",
    json_key="#9cc3f5",
    json_string="#8fd19e",
    json_number="#f0a35e",
    json_literal="#c39ef0",
)

#: (foreground, background, what it is): every status colour against where it is drawn.
STATUS_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("failure_text", "failure_bg", "a failed event's Outcome cell"),
    ("denied_text", "denied_bg", "a denied event's Outcome cell"),
    ("failure_text", "base", "'failure' in the detail pane"),
    ("denied_text", "base", "'denied' in the detail pane"),
    ("ok_text", "ok_bg", "the proof status: verified"),
    ("notice_text", "notice_bg", "the proof status: not verified; notices"),
    ("banner_text", "banner_bg", "the red verification banner"),
    ("banner_text", "notice_banner_bg", "the amber notice banner"),
    ("muted", "base", "a missing value (no user, no task)"),
    ("muted", "alt_base", "a missing value on an alternate row"),
    ("secondary", "base", "secondary text"),
    ("secondary", "window", "secondary text on the window"),
    ("link", "base", "links (filter by this value, task trail)"),
    ("text", "base", "table text"),
    ("text", "alt_base", "table text on an alternate row"),
    ("text", "selection", "the selected row"),
    ("hit_text", "hit_bg", "a search hit in the JSON pane"),
    ("text", "table_hit_bg", "a search hit in the table"),
    ("json_key", "json_bg", "JSON keys"),
    ("json_string", "json_bg", "JSON strings"),
    ("json_number", "json_bg", "JSON numbers"),
    ("json_literal", "json_bg", "JSON true/false/null"),
    ("failure_text", "json_bg", 'JSON "failure" outcome'),
)

#: The stylesheet's light colours -> their dark counterparts.
DARK_QSS: dict[str, str] = {
    "#ffffff": "#22272e",  # panels, fields, the table (white text on red/amber stays, below)
    "#f5f7fa": "#1c2128",  # the window
    "#fbfcfd": "#1e2329",  # the JSON pane
    "#f8fafc": "#262c34",  # alternate rows
    "#f0f2f5": "#2a3038",  # disabled button
    "#eef2f6": "#2d333b",  # header sections
    "#eef3f9": "#2f3742",  # button hover
    "#e8eef6": "#2f3742",  # tool button hover
    "#edf1f5": "#2d333b",  # grid lines
    "#dde3ea": "#3a424c",  # borders
    "#cfd8e2": "#444d58",
    "#c4ced9": "#4a5461",
    "#d6e4f5": "#2f4a6b",  # the selected row
    "#cfe0f5": "#335579",  # selected text
    "#e8f0fa": "#233449",  # filter chips
    "#c5d6ec": "#37506e",
    "#1d2733": "#e6edf3",  # text
    "#33414f": "#cdd6df",
    "#51606f": "#a4b0bc",
    "#8a96a3": "#8b98a5",  # disabled text
    "#1f3a5f": "#2f5f9e",  # the primary button (white text)
    "#1f4f86": "#9cc3f5",  # chip text
    "#3d6fa8": "#6ea8fe",  # accent: links, focus, progress
    "#c62828": "#c93a33",  # the banner (white text) and the changed-key title
    "#8e1b1b": "#ff9b92",  # error text
    "#b71c1c": "#ff7b72",
    "#a82020": "#a82020",
    "#fdecea": "#3d1f1f",  # error background
    "#e9a5a0": "#7a3530",
    "#fff4e5": "#352a12",  # notice background
    "#f0c987": "#6e5520",
    "#7a4b00": "#f5c46a",  # notice text
    "#9a5b00": "#9a5b00",
    "#6e4100": "#6e4100",
    "#eef7f1": "#17301f",  # verified background
    "#b9dcc6": "#2f5a3d",
    "#1e5a37": "#7ee2a8",  # verified text
}
#: Added to the dark stylesheet: parts that keep their own light card in the dark theme (the
#: task trail paints its header and rows light), so their text must stay dark to be read.
DARK_EXTRA = """
#TrailHeaderFrame QLabel { color: #1d2733; }
"""
#: Text that must stay white on the red and amber banners and the primary button.
_KEEP_WHITE = re.compile(
    r"(#VerificationBanner[^{]*\{[^}]*|QPushButton:default[^{]*\{[^}]*)", re.MULTILINE
)
_HEX = re.compile(r"#[0-9a-fA-F]{6}\b")
#: White *text* is always on a coloured background (a header, a badge) that stays coloured.
_WHITE_TEXT = re.compile(r"(?<![-\w])color:\s*#ffffff", re.IGNORECASE)
_WHITE_MARK = "@WHITE@"


def qss_colours(qss: str) -> set[str]:
    """Every ``#rrggbb`` colour in a stylesheet, lower-cased."""
    return {c.lower() for c in _HEX.findall(qss)}


def themed_stylesheet(qss: str, palette: Palette) -> str:
    """``qss`` (written in light colours) in ``palette``'s theme."""
    if palette.name == "light":
        return qss

    def dark(match: re.Match[str]) -> str:
        return DARK_QSS.get(match.group(0).lower(), match.group(0))

    def dark_keep_white(match: re.Match[str]) -> str:
        return match.group(0) if match.group(0).lower() == "#ffffff" else dark(match)

    qss = _WHITE_TEXT.sub(lambda m: m.group(0).replace("#ffffff", _WHITE_MARK), qss)
    out, pos = [], 0
    for block in _KEEP_WHITE.finditer(qss):
        out.append(_HEX.sub(dark, qss[pos : block.start()]))
        out.append(_HEX.sub(dark_keep_white, block.group(0)))
        pos = block.end()
    out.append(_HEX.sub(dark, qss[pos:]))
    extra = DARK_EXTRA if "QMainWindow" in qss else ""  # the application's stylesheet only
    return "".join(out).replace(_WHITE_MARK, "#ffffff") + extra


def relative_luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of ``#rrggbb``."""
    c = QColor(colour)

    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c.redF()) + 0.7152 * channel(c.greenF()) + 0.0722 * channel(c.blueF())


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two colours (1 to 21)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


# -- which theme is in use ----------------------------------------------------------------------


class _State(QObject):
    changed = Signal(object)  # Palette

    def __init__(self) -> None:
        super().__init__()
        self.palette: Palette = LIGHT
        self.choice: ThemeChoice = "system"
        self.following = False


_state: _State | None = None


def _the_state() -> _State:
    global _state  # noqa: PLW0603 (one theme per process, like QApplication's stylesheet)
    if _state is None:
        _state = _State()
    return _state


def current() -> Palette:
    """The palette in use (light until a theme is applied)."""
    return _the_state().palette


def theme_changed() -> SignalInstance:
    """Emitted with the new :class:`Palette` after :func:`apply_theme` switched themes."""
    return _the_state().changed


def system_is_dark() -> bool:
    """Whether the OS asks for a dark scheme (False when Qt cannot tell, e.g. offscreen)."""
    hints = QGuiApplication.styleHints()
    return hints is not None and hints.colorScheme() == Qt.ColorScheme.Dark


def resolve(choice: str) -> Palette:
    """The palette for a choice: Light, Dark, or the system's scheme."""
    if choice == "dark":
        return DARK
    if choice == "light":
        return LIGHT
    return DARK if system_is_dark() else LIGHT


def _qt_palette(p: Palette) -> QPalette:
    """A Qt palette to match, for the parts the stylesheet does not paint."""
    pal = QPalette()
    roles = {
        QPalette.ColorRole.Window: p.window,
        QPalette.ColorRole.WindowText: p.text,
        QPalette.ColorRole.Base: p.base,
        QPalette.ColorRole.AlternateBase: p.alt_base,
        QPalette.ColorRole.Text: p.text,
        QPalette.ColorRole.Button: p.base,
        QPalette.ColorRole.ButtonText: p.text,
        QPalette.ColorRole.ToolTipBase: p.base,
        QPalette.ColorRole.ToolTipText: p.text,
        QPalette.ColorRole.Highlight: p.selection,
        QPalette.ColorRole.HighlightedText: p.text,
        QPalette.ColorRole.Link: p.link,
        QPalette.ColorRole.PlaceholderText: p.muted,
    }
    for role, colour in roles.items():
        pal.setColor(role, QColor(colour))
    return pal


def apply_theme(app: QApplication, choice: str) -> Palette:
    """Use the theme ``choice`` ("system", "light" or "dark") in the whole application.

    Nothing is re-applied when the palette stays the same: the app starts with the light
    stylesheet (:mod:`auditlens.ui.commands`), and restyling every widget costs a repaint.
    """
    state = _the_state()
    state.choice = choice if choice in ("light", "dark") else "system"  # type: ignore[assignment]
    palette = resolve(state.choice)
    if palette == state.palette:
        return palette
    state.palette = palette
    app.setPalette(_qt_palette(palette))
    app.setStyleSheet(themed_stylesheet(stylesheet(), palette))
    state.changed.emit(palette)
    for widget in app.allWidgets():
        widget.update()
    return palette


def follow_system(app: QApplication) -> None:
    """Re-apply the theme when the OS switches light/dark (only while "system" is chosen)."""
    hints = QGuiApplication.styleHints()
    state = _the_state()
    if hints is None or state.following:
        return
    state.following = True

    def scheme_changed(_scheme: object) -> None:
        if _the_state().choice == "system":
            apply_theme(app, "system")

    hints.colorSchemeChanged.connect(scheme_changed)


class ReadingPreferences(QObject):
    """Settings -> Theme and the saved time mode, for the app's window (kept in QSettings).

    Applies the saved theme at once, follows the OS while "system" is chosen, and restores and
    saves the View menu's Relative times choice.
    """

    def __init__(self, window: MainWindow, settings: QSettings, settings_menu: QMenu) -> None:
        super().__init__(window)
        from auditlens.ui.preferences import (
            ThemeMenu,
            read_theme,
            read_time_mode,
            write_time_mode,
        )

        self._settings = settings
        self.menu = ThemeMenu(window)
        self.menu.theme_chosen.connect(self.choose)
        settings_menu.addMenu(self.menu)
        self.choose(read_theme(settings), save=False)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            follow_system(app)
        shortcuts = window.shortcuts
        shortcuts.set_time_mode("relative" if read_time_mode(settings) == "relative" else "utc")
        shortcuts.relative_action.toggled.connect(
            lambda on: write_time_mode(settings, "relative" if on else "utc")
        )

    def choose(self, choice: str, save: bool = True) -> None:
        from auditlens.ui.preferences import write_theme

        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, choice)
        self.menu.set_current(choice)
        if save:
            write_theme(self._settings, choice)
