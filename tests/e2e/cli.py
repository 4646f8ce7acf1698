"""Run `auditlens` as a person or a cron job does: real processes, real servers on loopback.

Shared by the whole-flow tests: :class:`DemoProcess` starts `auditlens serve --demo` in a
subprocess and reads the credentials it prints; :func:`run_cli` runs one command in a fresh
process with a given environment (config, data, keyring backend).
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
STARTUP_SECONDS = 60.0


def auditlens_command() -> list[str]:
    script = Path(sys.executable).with_name("auditlens")
    if script.exists():
        return [str(script)]
    found = shutil.which("auditlens")
    return [found] if found else [sys.executable, "-m", "auditlens.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """Config and data under ``home``; a file-backed test keyring unless ``extra`` says else."""
    env = dict(os.environ)
    env.update(
        AUDITLENS_CONFIG_DIR=str(home / "config"),
        AUDITLENS_DATA_DIR=str(home / "data"),
        AUDITLENS_E2E_KEYRING_FILE=str(home / "keyring.json"),
        PYTHON_KEYRING_BACKEND="e2e_keyring.FileKeyring",
        PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
    )
    for name in ("AUDITLENS_API_KEY", "AUDITLENS_TOKEN"):
        env.pop(name, None)
    env.update(extra)
    return env


def run_cli(
    env: dict[str, str], *args: str, stdin: str = "", check: int | None = 0
) -> subprocess.CompletedProcess[str]:
    """Run ``auditlens ARGS`` in a fresh process; assert its exit code unless ``check`` is None."""
    done = subprocess.run(
        [*auditlens_command(), *args],
        input=stdin,
        capture_output=True,
        check=False,
        text=True,
        env=env,
        timeout=60,
    )
    if check is not None:
        assert done.returncode == check, (args, done.returncode, done.stdout, done.stderr)
    return done


def _read_banner(proc: subprocess.Popen[str]) -> dict[str, str]:
    """Read the demo credentials `serve --demo` prints on stdout (until the vkey line)."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    found: dict[str, str] = {}
    deadline = time.monotonic() + STARTUP_SECONDS
    while "vkey" not in found:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError("`auditlens serve --demo` printed no credentials") from None
        if line is None:
            raise AssertionError(f"`auditlens serve` exited with {proc.wait()}")
        words = line.split()
        if words[:1] in (["admin"], ["member"]):
            found[f"{words[0]}_email"], found[f"{words[0]}_password"] = words[1], words[3]
        elif words[:2] == ["ingest", "key:"]:
            found["ingest_key"] = words[2]
        elif words[:1] == ["vkey:"]:
            found["vkey"] = words[1]
    return found


def _wait_until_listening(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(f"{url}/v1/log/checkpoint", timeout=2).status_code == 401:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the server did not answer on {url}")


@dataclass
class DemoProcess:
    """`auditlens serve --demo` in a subprocess; ``stop()`` ends it (and only it)."""

    url: str
    data_dir: Path
    proc: subprocess.Popen[str]
    banner: dict[str, str] = field(default_factory=dict)

    @property
    def vkey(self) -> str:
        return self.banner["vkey"]

    @property
    def admin_email(self) -> str:
        return self.banner["admin_email"]

    @property
    def admin_password(self) -> str:
        return self.banner["admin_password"]

    @property
    def member_email(self) -> str:
        return self.banner["member_email"]

    @property
    def member_password(self) -> str:
        return self.banner["member_password"]

    @property
    def ingest_key(self) -> str:
        return self.banner["ingest_key"]

    @classmethod
    def start(
        cls, data_dir: Path, env: dict[str, str], *, events: int = 500, port: int | None = None
    ) -> DemoProcess:
        port = port or free_port()
        proc = subprocess.Popen(
            [
                *auditlens_command(),
                "serve",
                "--demo",
                "--events",
                str(events),
                "--port",
                str(port),
                "--data-dir",
                str(data_dir),
                "--retention-interval",
                "0",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            banner = _read_banner(proc)
            _wait_until_listening(url, proc)
        except BaseException:
            cls(url, data_dir, proc).stop()
            raise
        return cls(url, data_dir, proc, banner)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
