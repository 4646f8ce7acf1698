"""Where the viewer's icons and stylesheet are, installed or in a checkout.

A wheel carries ``resources/`` inside the package (``auditlens/resources``, see pyproject's
force-include); a source checkout has it at the repository root. Icons are SVG so they stay sharp
at any scale; a missing file gives an empty icon, never a crash.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PySide6.QtGui import QIcon


@cache
def resource_dir() -> Path:
    """The directory holding ``style.qss`` and ``icons/``."""
    package = Path(__file__).resolve().parent.parent  # .../auditlens
    for candidate in (package / "resources", package.parent.parent / "resources"):
        if (candidate / "style.qss").exists():
            return candidate
    return package / "resources"


def icon(name: str) -> QIcon:
    """The SVG icon ``icons/<name>.svg`` (an empty icon when it is missing)."""
    path = resource_dir() / "icons" / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def stylesheet() -> str:
    """The application stylesheet (empty when missing, so the app still starts)."""
    path = resource_dir() / "style.qss"
    if not path.exists():
        return ""
    # url() in a stylesheet is relative to the working directory: make icon paths absolute.
    icons = (resource_dir() / "icons").as_posix()
    return path.read_text(encoding="utf-8").replace("@ICONS@", icons)
