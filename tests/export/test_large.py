"""A 200,000-event export of every format verifies (and fast enough to stay in the suite)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from auditlens.export.verify import verify_file
from auditlens.export.writer import ExportOptions, export
from tests.export.logs import MemoryLog

SIZE = 200_000


@pytest.fixture(scope="module")
def big_log() -> MemoryLog:
    return MemoryLog(SIZE, seed=2)


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_an_untouched_200k_event_export_verifies(
    big_log: MemoryLog, tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"big.{fmt}"
    started = time.perf_counter()
    result = export(big_log.snapshot(None, chunk=8192), ExportOptions(fmt, path, {}))
    assert result.count == SIZE
    report = verify_file(path, [big_log.vkey]).report
    assert report.status == "verified", [str(f) for f in report.findings]
    assert report.events == SIZE
    assert time.perf_counter() - started < 30
