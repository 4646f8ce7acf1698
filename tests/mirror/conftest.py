"""The 3,000-event demo mirror several query tests read (one per module), and its bodies."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditlens.mirror.reader import MirrorReader
from tests.ui.mirror_factory import build_demo_mirror


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("mirror") / "demo.sqlite"
    build_demo_mirror(path, 3_000)
    return path


@pytest.fixture
def reader(demo: Path) -> Iterator[MirrorReader]:
    r = MirrorReader(demo)
    yield r
    r.close()


def bodies(path: Path) -> dict[int, dict[str, Any]]:
    """Every entry's parsed JSON by index, read straight from the file (the reference side)."""
    conn = sqlite3.connect(path)
    found = {int(i): json.loads(raw) for i, raw in conn.execute("SELECT idx, raw FROM entries")}
    conn.close()
    return found
