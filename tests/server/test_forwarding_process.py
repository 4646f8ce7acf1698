"""SIEM forwarding across processes: the CLI configures, ``auditlens serve`` delivers.

* The server is killed (SIGKILL) while a batch is in flight: the cursor did not move, and the
  restarted server delivers from it, so nothing is lost and only that batch can come twice.
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
            fwd_id = _cli(
                data_dir, db_url, "add", "--org", "acme", "--kind", "splunk_hec",
                "--name", "Splunk", "--set", f"url={receiver.url}", "--set", "batch_size=200",
                "--set", "max_wait_seconds=0.05", "--types", "agent", "--secret-stdin",
                stdin=HEC_TOKEN + "\n",
            ).strip()  # fmt: skip
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
