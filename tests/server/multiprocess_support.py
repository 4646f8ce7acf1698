"""Helpers of the multi-process tests: API processes on loopback, ingest streams, the checks.

A stream sends batches with an ``Idempotency-Key`` to one process and records what that
process acknowledged (ids and signed checkpoints). When its process dies mid-request, the
stream retries the batch in flight, with the same key, on a surviving process (what a client
with a list of servers does) and goes on there.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from auditlens.core import merkle, note
from auditlens.core.checkpoint import Checkpoint
from tests.server.conftest import sample_event
from tests.server.serve_process import free_port
from tests.server.thirdparty import verify_log


@contextmanager
def api_process(
    data_dir: Path, db_url: str, *options: str
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``auditlens serve`` on a free loopback port: ``(process, base URL)``, killed afterwards."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditlens.server.commands", "serve", "--data-dir", str(data_dir),
         "--db", db_url, "--port", str(port), "--log-level", "warning",
         "--retention-interval", "0", "--forwarding", "off", *options],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()  # a supervisor (--workers) stops its workers on SIGTERM
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/v1/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "serve exited"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)


@dataclass
class Ledger:
    """What the servers acknowledged, across every stream."""

    ids: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    """The task_id of every acknowledged batch (one per batch)."""
    checkpoints: list[str] = field(default_factory=list)
    acked_at: list[float] = field(default_factory=list)
    batch: int = 50
    """Events per batch; every batch has its own task_id, so each must appear exactly that often."""
    retried: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_after(self, t: float) -> int:
        with self.lock:
            return sum(1 for a in self.acked_at if a > t)


class Stream(threading.Thread):
    """Sends batches to ``urls[0]`` until stopped (or ``batches`` sent); fails over in order."""

    def __init__(
        self, name: str, urls: list[str], key: str, ledger: Ledger, *, batches: int
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.urls = list(urls)
        self.key = key
        self.ledger = ledger
        self.batch = ledger.batch
        self.batches = batches
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        http = httpx.Client(base_url=self.urls[0], timeout=30)
        try:
            while n < self.batches and not self.stop.is_set():
                key = f"{self.name}-{n}"
                events = [sample_event(i, task_id=key) for i in range(self.batch)]
                try:
                    r = self._post(http, events, key)
                except httpx.TransportError:
                    self.urls.pop(0)  # that process died mid-request: retry on the next one
                    http.close()
                    http = httpx.Client(base_url=self.urls[0], timeout=30)
                    r = self._post(http, events, key)
                    with self.ledger.lock:
                        self.ledger.retried += 1
                if r.status_code != 201:
                    self.ledger.errors.append(f"{r.status_code} {r.text}")
                    return
                body = r.json()
                with self.ledger.lock:
                    self.ledger.ids.extend(body["ids"])
                    self.ledger.tasks.append(key)
                    self.ledger.checkpoints.append(body["checkpoint"])
                    self.ledger.acked_at.append(time.monotonic())
                n += 1
        except Exception as exc:  # reported by the test, not lost in the thread
            self.ledger.errors.append(repr(exc))
        finally:
            http.close()

    def _post(self, http: httpx.Client, events: list[dict[str, Any]], key: str) -> httpx.Response:
        return http.post(
            "/v1/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {self.key}", "Idempotency-Key": key},
        )


def check_served_log(
    url: str, token: str, origin: str, vkey: str, ledger: Ledger
) -> tuple[Checkpoint, list[str]]:
    """Verify the served log as a third party would, every acknowledged checkpoint against it
    (a consistency proof to the newest one: no fork), and that every acknowledged event is
    stored exactly once. Returns the newest checkpoint and the stored ids."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, timeout=60) as http:
        final = verify_log(http, headers, origin, vkey)
        for text in set(ledger.checkpoints):
            cp = note.verify_checkpoint(text, vkey, origin)
            assert cp.size <= final.size
            if cp.size == final.size:
                assert cp.root == final.root, f"two roots signed for size {cp.size}"
                continue
            r = http.get(
                "/v1/log/proof/consistency",
                params={"from": cp.size, "to": final.size},
                headers=headers,
            )
            r.raise_for_status()
            proof = [base64.b64decode(h) for h in r.json()["proof"]]
            merkle.verify_consistency(cp.size, final.size, proof, cp.root, final.root)
        stored: list[str] = []
        batches: Counter[str] = Counter()
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 1000, "order": "asc"}
            if cursor:
                params["cursor"] = cursor
            page = http.get("/v1/audit-logs", params=params, headers=headers)
            page.raise_for_status()
            for item in page.json()["items"]:
                stored.append(item["event"]["id"])
                batches[item["event"]["task_id"]] += 1
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
    assert len(stored) == len(set(stored)) == final.size
    missing = set(ledger.ids) - set(stored)
    assert not missing, f"{len(missing)} acknowledged events are missing"
    twice = {task for task in ledger.tasks if batches[task] != ledger.batch}
    assert not twice, f"batches stored more or less than once: {sorted(twice)[:5]}"
    return final, stored
