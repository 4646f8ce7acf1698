"""The list of slow modules in ``tests/conftest.py`` names files that exist.

A renamed or split test module would otherwise silently move back into `make check`.
"""

from __future__ import annotations

from pathlib import Path

from tests.conftest import SLOW_MODULES

ROOT = Path(__file__).resolve().parent.parent


def test_every_listed_slow_module_exists() -> None:
    missing = sorted(m for m in SLOW_MODULES if not (ROOT / m).is_file())
    assert missing == []
