"""SIEM forwarding across processes: the CLI configures, ``auditlens serve`` delivers.

* The server is killed (SIGKILL) while a batch is in flight: the cursor did not move, and the
  restarted server delivers from it, so nothing is lost and only that batch can come twice.
* The server and its forwarding child are killed (SIGKILL) after several acknowledged batches:
  the restarted server loses nothing and repeats only the batches acknowledged within
  ``CURSOR_FLUSH_SECONDS`` after the cursor was last stored (the README's bound).
* With PostgreSQL, two API processes share one database: exactly one delivers each forwarder
  (advisory lock), and when it dies the other takes over from the cursor.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from auditlens.server import accounts
from auditlens.server.forwarding.engine import CURSOR_FLUSH_SECONDS
from auditlens.server.schema import forwarders
from auditlens.server.settings import ServerSettings
from auditlens.server.state import open_server
from tests.server.conftest import BACKENDS, PASSWORD, database_url, sample_event
from tests.server.siem_receivers import Receiver, wait_for
from tests.server.test_crash import _free_port, _server
from tests.server.test_forwarding import HEC_TOKEN, WH_SECRET


def _setup(data_dir: Path, db_url: str) -> str:
    """An organization with an admin; returns its ingest key."""
    state = open_server(ServerSettings(data_dir=data_dir, database_url=db_url))
    with state.db.write() as conn:
        org = accounts.create_organization(conn, state.sequencer, "Acme", "business")
        accounts.create_user(
            conn, org.id, email="admin@acme.test", name="A", role="admin", password=PASSWORD
        )
        _, key = accounts.create_api_key(conn, org.id, "platform", "ingest", None)
    state.close()
    return key


def _cli(data_dir: Path, db_url: str, *args: str, stdin: str = "") -> str:
    done = subprocess.run(
        [sys.executable, "-m", "auditlens.cli", "server", "forwarder", *args,
         "--data-dir", str(data_dir), "--db", db_url],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _add_hec(data_dir: Path, db_url: str, url: str, *, batch_size: int) -> str:
    """``forwarder add`` of a Splunk HEC destination for the agent events; returns its id."""
    return _cli(
        data_dir, db_url, "add", "--org", "acme", "--kind", "splunk_hec", "--name", "Splunk",
        "--set", f"url={url}", "--set", f"batch_size={batch_size}",
        "--set", "max_wait_seconds=0.05", "--types", "agent", "--secret-stdin",
        stdin=HEC_TOKEN + "\n",
    ).strip()  # fmt: skip


def _ingest(port: int, key: str, n: int, start: int = 0) -> None:
    for lo in range(0, n, 250):
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/events",
            json={"events": [sample_event(start + lo + i) for i in range(min(250, n - lo))]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert r.status_code == 201, r.text


def _cursor(db_url: str, fwd_id: str) -> int:
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.select(forwarders.c.cursor).where(forwarders.c.id == fwd_id)
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_configures_and_a_killed_server_resumes_from_the_cursor(
    backend: str, tmp_path: Path
) -> None:
    receiver = Receiver("splunk_hec", HEC_TOKEN)
    try:
        with database_url(backend, tmp_path) as db_url:
            data_dir = tmp_path / "data"
            key = _setup(data_dir, db_url)
            fwd_id = _add_hec(data_dir, db_url, receiver.url, batch_size=200)
            assert fwd_id.startswith("fwd_")
            assert "splunk_hec\tactive" in _cli(data_dir, db_url, "list")
            assert "delivered entry 0" in _cli(data_dir, db_url, "test", fwd_id)
            receiver.got.events.clear()
            start = 1  # index 0 is the forwarder's own audit event, filtered out by --types

            receiver.hold.set()  # the first batch is received but never acknowledged
            port = _free_port()
            with _server(data_dir, db_url, port) as proc:
                _ingest(port, key, 1000)
                wait_for(lambda: len(receiver.got.requests) >= 1, what="a batch in flight")
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
            assert _cursor(db_url, fwd_id) <= start  # not past the unacknowledged batch
            receiver.hold.clear()
            receiver.release.set()
            with _server(data_dir, db_url, port):
                wait_for(lambda: receiver.count() >= 1000, timeout=60, what="resumed delivery")
                got = receiver.indexes()
                assert sorted(set(got)) == list(range(start, start + 1000))
                assert len(got) == len(set(got))  # the held batch was never stored
                wait_for(lambda: _cursor(db_url, fwd_id) >= start + 1000)

                _cli(data_dir, db_url, "pause", fwd_id)
                _cli(data_dir, db_url, "replay", fwd_id, "--from", str(start))
                _cli(data_dir, db_url, "resume", fwd_id)
                wait_for(lambda: receiver.count() >= 2000, timeout=60, what="replay")
                status = _cli(data_dir, db_url, "status", fwd_id)
                assert '"state": "active"' in status and '"dead_letters": 0' in status
    finally:
        receiver.release.set()
        receiver.stop()


def _forwarding_child(pid: int) -> int:
    """The pid of the forwarding child process of the server ``pid``."""
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = next(line for line in status.read_text().splitlines() if line.startswith("PPid"))
            cmdline = (status.parent / "cmdline").read_bytes()
        except (OSError, StopIteration):
            continue
        if int(ppid.split()[1]) == pid and b"auditlens.server.forwarding.process" in cmdline:
            return int(status.parent.name)
    raise AssertionError(f"server {pid} has no forwarding child")


def _crash(proc: subprocess.Popen[bytes]) -> None:
    """Kill the server and its forwarding child at once, as a power cut would: the child gets
    no chance to store its cursor on the way out (it does when only the server dies)."""
    os.kill(_forwarding_child(proc.pid), signal.SIGKILL)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="finds the child in /proc")
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_crash_after_acknowledged_batches_repeats_at_most_the_unstored_ones(
    backend: str, tmp_path: Path
) -> None:
    """Backfill in batches of 50, hold the request after 600 events, crash, restart."""
    receiver = Receiver("splunk_hec", HEC_TOKEN)
    try:
        with database_url(backend, tmp_path) as db_url:
            data_dir = tmp_path / "data"
            key = _setup(data_dir, db_url)
            fwd_id = _add_hec(data_dir, db_url, receiver.url, batch_size=50)
            _cli(data_dir, db_url, "pause", fwd_id)
            start = 2  # 0 and 1: the forwarder's own audit events, filtered out by --types
            receiver.on_request = lambda: receiver.count() >= 600 and receiver.hold.set()
            port = _free_port()
            with _server(data_dir, db_url, port) as proc:
                _ingest(port, key, 1000)
                _cli(data_dir, db_url, "resume", fwd_id)  # a backfill: batch after batch
                wait_for(receiver.hold.is_set, what="600 events acknowledged")
                wait_for(lambda: len(receiver.got.requests) > len(receiver.got.batches))
                _crash(proc)
            stored = _cursor(db_url, fwd_id)
            before = list(receiver.got.batches)
            receiver.on_request = None
            receiver.hold.clear()
            receiver.release.set()
            with _server(data_dir, db_url, port):
                wait_for(lambda: _cursor(db_url, fwd_id) >= start + 1000, what="caught up")
            got = receiver.indexes()
            assert sorted(set(got)) == list(range(start, start + 1000))  # nothing lost
            repeated = {i for i in got if got.count(i) > 1}
            unstored = [(t, b) for t, b in before if b[0] >= stored]
            assert repeated == {i for _, b in unstored for i in b}  # not the held batch
            times = [t for t, _ in unstored] or [0.0]  # none when the last ack stored it
            assert max(times) - min(times) <= CURSOR_FLUSH_SECONDS  # within one flush interval
    finally:
        receiver.release.set()
        receiver.stop()


@pytest.mark.postgres
def test_two_processes_deliver_each_forwarder_exactly_once(tmp_path: Path) -> None:
    receiver = Receiver("webhook", WH_SECRET)
    try:
        with database_url("postgresql", tmp_path) as db_url:
            data_dir = tmp_path / "data"
            key = _setup(data_dir, db_url)
            _cli(
                data_dir, db_url, "add", "--org", "acme", "--kind", "webhook",
                "--name", "Hook", "--set", f"url={receiver.url}", "--set", "batch_size=50",
                "--set", "max_wait_seconds=0.02", "--types", "agent", "--secret-stdin",
                stdin=WH_SECRET + "\n",
            ).strip()  # fmt: skip
            start = 1  # index 0 is the forwarder's own audit event, filtered out by --types
            ports = [_free_port(), _free_port()]
            with (
                _server(data_dir, db_url, ports[0]) as first,
                _server(data_dir, db_url, ports[1]),
            ):
                for round_ in range(6):
                    _ingest(ports[round_ % 2], key, 250, start=round_ * 250)
                wait_for(lambda: receiver.count() >= 1500, timeout=60)
                ids = [h["webhook-id"] for _, _, h in receiver.got.requests]
                assert len(ids) == len(set(ids))  # no batch sent by both processes
                assert receiver.indexes() == list(range(start, start + 1500))
                os.kill(first.pid, signal.SIGKILL)
                first.wait()
                _ingest(ports[1], key, 250, start=1500)
                wait_for(lambda: receiver.count() >= 1750, timeout=60, what="take-over")
                assert sorted(set(receiver.indexes())) == list(range(start, start + 1750))
    finally:
        receiver.stop()
