"""A sync killed with SIGKILL in the middle of its transaction leaves the mirror as before."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHILD = r"""
import sys, time
from pathlib import Path
from auditlens.client.api import AuditApiClient
from auditlens.client.sync import SyncEngine
from auditlens.client.trust import Pin
from tests.client.fakelog import FakeLog

mirror, marker = Path(sys.argv[1]), Path(sys.argv[2])
log = FakeLog()
log.append(300)
client = AuditApiClient("http://audit.test", "tok-secret-123", transport=log.transport())
engine = SyncEngine(client, mirror, Pin(client.base_url, "org_1", log.origin, log.vkey))
engine.run()
log.append(5000)

def hang_mid_sync(request):
    if sum("entries" in p for p in log.requests) >= 10:
        marker.write_text("rows are being written")
        time.sleep(600)

log.on_request = hang_mid_sync
engine.run()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_killing_the_process_mid_sync_leaves_the_mirror_unchanged(tmp_path: Path) -> None:
    mirror, marker = tmp_path / "m.sqlite", tmp_path / "marker"
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(mirror), str(marker)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert child.poll() is None, "the sync process ended early"
            assert time.monotonic() < deadline, "the sync never got mid-way"
            time.sleep(0.05)
        time.sleep(0.3)  # let the rows already fetched reach the open transaction
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    with sqlite3.connect(mirror) as conn:
        assert conn.execute("SELECT count(*), max(idx) FROM entries").fetchone() == (300, 299)
        assert conn.execute("SELECT max(size) FROM checkpoints").fetchone()[0] == 300
        assert conn.execute("SELECT size FROM tree_state").fetchone()[0] == 300
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
