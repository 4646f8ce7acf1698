"""Syncs killed with SIGKILL: an increment leaves the mirror as before; a new mirror resumes.

The syncs run in child processes (a kill -9 of the test itself would prove nothing). The child
prints its progress and, at the chosen point, blocks inside its progress callback, so the kill
lands at a known place: in the middle of a step's open transaction, or while the indexes are
built after the last step.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlens.client.api import AuditApiClient
from auditlens.mirror.digest import content_digest
from auditlens.mirror.store import partial_path
from auditlens.server.embedded import start_demo_server

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

INCREMENT_CHILD = r"""
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

#: argv: mirror, server info (JSON), step, phase to stop in ("entries"/"indexes"/"none"), done.
#: The clock is fixed so two mirrors of the same log can be compared byte for byte.
BUILD_CHILD = r"""
import json, sys, time
from pathlib import Path
from auditlens.client.api import AuditApiClient
from auditlens.client.sync import SyncEngine
from auditlens.client.trust import Pin

mirror, info, step = Path(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
stop_phase, stop_done = sys.argv[4], int(sys.argv[5])
client = AuditApiClient(info["url"], info["token"])
pin = Pin(client.base_url, info["org"], info["origin"], info["vkey"])
engine = SyncEngine(client, mirror, pin, step=step, clock=lambda: 1_767_225_600_000)

def progress(p):
    if p.phase == stop_phase and p.done >= stop_done:
        print("stopped", p.phase, p.done, flush=True)
        time.sleep(600)

result = engine.run(progress)
print("done", result.previous_size, result.new_entries, flush=True)
"""

EVENTS = 50_000
STEP = 4096


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )


def test_killing_the_process_mid_increment_leaves_the_mirror_unchanged(tmp_path: Path) -> None:
    mirror, marker = tmp_path / "m.sqlite", tmp_path / "marker"
    child = _child(INCREMENT_CHILD, str(mirror), str(marker))
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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A demo server and ONE session for every child: a sign-in is itself an audited event,
    and the log must not grow between the syncs that are compared."""
    with (
        start_demo_server(tmp_path_factory.mktemp("server"), events=EVENTS) as srv,
        AuditApiClient(srv.url) as client,
    ):
        org = client.login(srv.admin_email, srv.admin_password).organization
        token = client.token
        assert token is not None
        yield {
            "url": srv.url,
            "token": token,
            "org": org.id,
            "origin": org.origin,
            "vkey": org.vkey,
        }


def _build(server: dict[str, str], mirror: Path, stop: tuple[str, int] = ("none", 0)) -> list[str]:
    """Run one sync in a child; when ``stop`` is reached, kill it -9. Returns its last line."""
    info = json.dumps(server)
    child = _child(BUILD_CHILD, str(mirror), info, str(STEP), stop[0], str(stop[1]))
    assert child.stdout is not None
    try:
        line = child.stdout.readline().split()
        if line and line[0] == "stopped":
            child.send_signal(signal.SIGKILL)
        assert child.wait(60) in (0, -signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    return line


def _size(mirror: Path) -> int:
    with sqlite3.connect(mirror) as conn:
        return int(conn.execute("SELECT size FROM tree_state").fetchone()[0])


def _committed(mirror: Path) -> int:
    """The tree size the partial file of a new mirror holds (after rolling back a kill)."""
    with sqlite3.connect(partial_path(mirror)) as conn:
        return int(conn.execute("SELECT size FROM tree_state").fetchone()[0])


@pytest.mark.slow
def test_a_new_mirror_killed_at_three_points_resumes_and_ends_byte_for_byte_the_same(
    server: dict[str, str], tmp_path: Path
) -> None:
    reference, mirror = tmp_path / "reference.sqlite", tmp_path / "killed.sqlite"
    assert _build(server, reference)[0] == "done"
    total = _size(reference)

    line = _build(server, mirror, ("entries", 20_000))
    assert line[0] == "stopped"
    assert not mirror.exists()  # nothing is shown before the whole mirror is verified
    first, reached = _committed(mirror), int(line[2])
    assert first % STEP == 0 and reached - 2 * STEP <= first <= reached  # a late step commit

    line = _build(server, mirror, ("entries", 20_000))  # progress counts this run's entries
    assert line[0] == "stopped"
    second, reached = _committed(mirror), first + int(line[2])
    assert second % STEP == 0 and reached - 2 * STEP <= second <= reached

    assert _build(server, mirror, ("indexes", 0))[0] == "stopped"
    assert not mirror.exists()
    assert _committed(mirror) == (total // STEP) * STEP  # every step but the last committed

    line = _build(server, mirror)
    assert line[0] == "done"
    assert int(line[1]) == (total // STEP) * STEP  # resumed from the last committed step
    assert int(line[1]) + int(line[2]) == total
    assert not partial_path(mirror).exists()
    assert content_digest(mirror) == content_digest(reference)
    assert mirror.read_bytes() == reference.read_bytes()
    with sqlite3.connect(mirror) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
