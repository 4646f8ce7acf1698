"""Kill -9 the server during a stream of ingests: the log still verifies, nothing acknowledged
is lost, the checkpoint never goes backwards, and retrying the batch that was in flight (same
Idempotency-Key) stores it exactly once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from auditlens.core import note
from auditlens.server import accounts
from auditlens.server.integrity import check_log
from auditlens.server.settings import ServerSettings
from auditlens.server.state import open_server
from tests.server.conftest import BACKENDS, PASSWORD, database_url, sample_event
from tests.server.thirdparty import verify_log

ORIGIN = "auditlens.local/acme"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(data_dir: Path, db_url: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditlens.server.commands", "serve", "--data-dir", str(data_dir),
         "--db", db_url, "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_kill_9_during_ingest_loses_nothing_acknowledged(backend: str, tmp_path: Path) -> None:
    with database_url(backend, tmp_path) as db_url:
        data_dir = tmp_path / "data"
        state = open_server(ServerSettings(data_dir=data_dir, database_url=db_url))
        with state.db.write() as conn:
            org = accounts.create_organization(conn, state.sequencer, "Acme", "business")
            accounts.create_user(
                conn, org.id, email="admin@acme.test", name="A", role="admin", password=PASSWORD
            )
            _, key = accounts.create_api_key(conn, org.id, "platform", "ingest", None)
        vkey = state.vkey
        state.close()

        port = _free_port()
        acknowledged: list[str] = []
        checkpoints: list[str] = []
        in_flight: list[tuple[str, list[dict[str, object]]]] = []
        stop = threading.Event()

        def stream() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
                n = 0
                while not stop.is_set():
                    batch = [sample_event(n + i) for i in range(50)]
                    batch_key = f"batch-{n}"
                    n += 50
                    try:
                        r = http.post(
                            "/v1/events",
                            json={"events": batch},
                            headers={
                                "Authorization": f"Bearer {key}",
                                "Idempotency-Key": batch_key,
                            },
                        )
                    except httpx.TransportError:
                        # The server died mid-request: stored or not, nobody knows yet.
                        in_flight.append((batch_key, batch))
                        return
                    assert r.status_code == 201, r.text
                    acknowledged.extend(r.json()["ids"])
                    checkpoints.append(r.json()["checkpoint"])

        with _server(data_dir, db_url, port) as proc:
            writer = threading.Thread(target=stream)
            writer.start()
            while len(acknowledged) < 500:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            stop.set()
            writer.join(10)

        with (
            _server(data_dir, db_url, port),
            httpx.Client(base_url=f"http://127.0.0.1:{port}") as http,
        ):
            token = http.post(
                "/v1/auth/login", json={"email": "admin@acme.test", "password": PASSWORD}
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            for batch_key, batch in in_flight:  # the client's retry after the restart
                r = http.post(
                    "/v1/events",
                    json={"events": batch},
                    headers={"Authorization": f"Bearer {key}", "Idempotency-Key": batch_key},
                )
                assert r.status_code == 201
                acknowledged.extend(r.json()["ids"])
            cp = verify_log(http, headers, ORIGIN, vkey)
            last_acked = note.verify_checkpoint(checkpoints[-1], vkey, ORIGIN)
            assert cp.size >= last_acked.size
            stored: list[str] = []
            urls: list[str] = []
            cursor = None
            while True:
                params = {"limit": 1000, "type": "agent", **({"cursor": cursor} if cursor else {})}
                page = http.get("/v1/audit-logs", params=params, headers=headers).json()
                stored.extend(item["event"]["id"] for item in page["items"])
                urls.extend(item["event"]["event"]["url"] for item in page["items"])
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            assert set(acknowledged) <= set(stored)
            assert len(urls) == len(set(urls)), "a retried batch must not be stored twice"

        state = open_server(ServerSettings(data_dir=data_dir, database_url=db_url))
        try:
            report = check_log(state, org)
        finally:
            state.close()
        assert report.ok, report.findings
