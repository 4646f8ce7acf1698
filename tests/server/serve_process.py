"""``auditlens serve --demo`` as a real server process on loopback, for the hardening tests."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServeProcess:
    proc: subprocess.Popen[str]
    url: str
    port: int
    admin_email: str
    admin_password: str
    ingest_key: str

    def rss_kib(self) -> int:
        """The server process's resident set size (VmRSS), in KiB."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match, status
        return int(match[1])

    def admin_token(self, http: httpx.Client) -> str:
        r = http.post(
            f"{self.url}/v1/auth/login",
            json={"email": self.admin_email, "password": self.admin_password},
        )
        assert r.status_code == 200, r.text
        return str(r.json()["token"])


@contextmanager
def serve(data_dir: Path, *options: str, events: int = 300) -> Iterator[ServeProcess]:
    """Start ``auditlens serve --demo`` with ``options``; stop it (SIGTERM, then SIGKILL)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditlens.server.commands", "serve", "--demo",
         "--events", str(events), "--data-dir", str(data_dir), "--port", str(port),
         "--log-level", "warning", "--retention-interval", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while not lines or not lines[-1].strip().startswith("vkey:"):
            line = proc.stdout.readline()
            assert line, "serve exited before printing its credentials"
            lines.append(line)
        text = "".join(lines)
        admin = re.search(r"admin\s+(\S+)\s+password: (\S+)", text)
        key = re.search(r"ingest key: (alk_\S+)", text)
        assert admin and key
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not answer /v1/health"
            time.sleep(0.05)
        yield ServeProcess(proc, url, port, admin[1], admin[2], key[1])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
