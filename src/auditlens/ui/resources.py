"""Where the viewer's icons and stylesheet are, installed or in a checkout.

A wheel carries ``resources/`` inside the package (``auditlens/resources``, see pyproject's
force-include); a source checkout has it at the repository root. Icons are SVG so they stay sharp
at any scale; a missing file gives an empty icon, never a crash.

Icons follow the theme: the navy and grey line icons are drawn in light colours while the dark
theme is in use (:data:`DARK_ICON_COLOURS`), decided each time Qt asks for a pixmap, so icons
already on screen change with the theme too. Coloured status icons (success, failure, denied)
keep their colours in both themes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QSize, Qt
from PySide6.QtGui import QIcon, QIconEngine, QPainter, QPixmap
from PySide6.QtSvg import QSvgRenderer
from PySide6.QtWidgets import QApplication, QStyleOption

#: Line-icon colours -> their colour in the dark theme (readable on its dark panels).
DARK_ICON_COLOURS = {"#1f3a5f": "#9cc3f5", "#51606f": "#a4b0bc"}


@cache
def resource_dir() -> Path:
    """The directory holding ``style.qss`` and ``icons/``."""
    package = Path(__file__).resolve().parent.parent  # .../auditlens
    for candidate in (package / "resources", package.parent.parent / "resources"):
        if (candidate / "style.qss").exists():
            return candidate
    return package / "resources"


class _ThemedSvgEngine(QIconEngine):
    """Renders one SVG at the size asked, in the current theme's colours."""

    def __init__(self, svg: str) -> None:
        super().__init__()
        self._svg = svg
        self._renderers: dict[bool, QSvgRenderer] = {}

    def _renderer(self) -> QSvgRenderer:
        from auditlens.ui import theme  # late: theme imports this module

        dark = theme.current().name == "dark"
        if dark not in self._renderers:
            text = self._svg
            if dark:
                for light, dark_colour in DARK_ICON_COLOURS.items():
                    text = text.replace(light, dark_colour)
            self._renderers[dark] = QSvgRenderer(QByteArray(text.encode()))
        return self._renderers[dark]

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        painter.drawPixmap(rect.topLeft(), self.pixmap(rect.size(), mode, state))

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        pixmap = QPixmap(size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        self._renderer().render(painter)
        painter.end()
        if mode == QIcon.Mode.Disabled and QApplication.instance() is not None:
            style = QApplication.style()
            return style.generatedIconPixmap(mode, pixmap, QStyleOption())
        return pixmap

    def clone(self) -> QIconEngine:
        return _ThemedSvgEngine(self._svg)

    def actualSize(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QSize:  # noqa: N802 (Qt override)
        return size

    def isNull(self) -> bool:  # noqa: N802 (Qt override)
        return not self._svg


@cache
def icon(name: str) -> QIcon:
    """The SVG icon ``icons/<name>.svg`` in the current theme (empty when it is missing).

    Cached per name: the engines must outlive every QIcon that shares them.
    """
    path = resource_dir() / "icons" / f"{name}.svg"
    if not path.exists():
        return QIcon()
    return QIcon(_ThemedSvgEngine(path.read_text(encoding="utf-8")))


def stylesheet() -> str:
    """The application stylesheet (empty when missing, so the app still starts)."""
    path = resource_dir() / "style.qss"
    if not path.exists():
        return ""
    # url() in a stylesheet is relative to the working directory: make icon paths absolute.
    icons = (resource_dir() / "icons").as_posix()
    return path.read_text(encoding="utf-8").replace("@ICONS@", icons)
