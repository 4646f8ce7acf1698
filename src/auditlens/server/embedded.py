"""Run the audit API inside this process: a uvicorn server on a loopback thread.

Two users: ``auditlens demo`` (the viewer starts a seeded demo server next to itself, via
:func:`start_demo_server`) and the tests (:class:`ThreadedServer` around any app).

Decisions:

* uvicorn binds port 0 itself (the OS picks a free port, no race) and :meth:`ThreadedServer.start`
  returns once it listens, with the real port in ``url``.
* A demo data directory is seeded once; later starts reuse it, with the seed recorded in
  ``demo.json`` (the demo passwords derive from the seed, so they are not secrets). Each start
  creates a fresh ingest key (keys are stored hashed, so an old one cannot be shown again).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import uvicorn
from fastapi import FastAPI

from auditlens.server import accounts
from auditlens.server.demo_data import DATA_VERSION, ORG_SLUG, DemoDataset
from auditlens.server.demo_data import generate as generate_demo_data
from auditlens.server.seed import seed_demo
from auditlens.server.settings import ServerSettings
from auditlens.server.state import ServerState, open_server

# DATA_VERSION and the generator are re-exported: this module is the viewer's one entry point into
# the server (the demo cache keys its copies by DATA_VERSION; the viewer's tests build mirrors
# from the generator's events without starting a server).
__all__ = [
    "DATA_VERSION",
    "DemoDataset",
    "DemoServer",
    "ThreadedServer",
    "generate_demo_data",
    "start_demo_server",
]

DEMO_FILE = "demo.json"


class ThreadedServer:
    """uvicorn serving ``app`` on ``host`` from a daemon thread (port 0: a free port)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self.host, self.port = host, port
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            proxy_headers=False,  # nothing proxies it: never believe X-Forwarded-For
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="uvicorn")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the embedded audit server failed to start")
            time.sleep(0.01)
        # uvicorn bound the port itself (a socket handed to it made every answer wait ~40 ms
        # for a delayed ACK); read back the port it got.
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@dataclass
class DemoServer:
    """A running, seeded demo server and the credentials to use it."""

    url: str
    origin: str
    vkey: str
    owner_email: str
    owner_password: str
    admin_email: str
    admin_password: str
    member_email: str
    member_password: str
    ingest_key: str
    data_dir: Path
    _server: ThreadedServer = field(repr=False)

    def stop(self) -> None:
        """Stop serving and close the database."""
        self._server.stop()

    def __enter__(self) -> DemoServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def ensure_demo(
    state: ServerState,
    events: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[accounts.Organization, dict[str, tuple[str, str]]]:
    """Seed the demo organization unless the data directory has it.

    Returns the organization and, per role, the first demo person's ``(email, password)``.
    ``progress(done, total)`` follows the seeding, batch by batch.
    """
    record = Path(state.settings.data_dir) / DEMO_FILE
    with state.db.read() as conn:
        org = accounts.find_organization(conn, ORG_SLUG)
    if org is not None and record.exists():
        people = json.loads(record.read_text(encoding="utf-8"))["people"]
        return org, {role: (pair[0], pair[1]) for role, pair in people.items()}
    if org is not None:
        raise RuntimeError(
            f"{state.settings.data_dir} holds an organization {ORG_SLUG!r} that is not a "
            "recorded demo; use another data directory"
        )
    result = seed_demo(state, seed=seed, events=events, progress=progress)
    creds = {
        role: (result.person(role).email, result.person(role).password) for role in accounts.ROLES
    }
    fd = os.open(record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"seed": seed, "events": events, "people": creds}, fh)
    return result.org, creds


def demo_ingest_key(state: ServerState, org: accounts.Organization) -> str:
    """A fresh ingest key for the demo organization, created by its owner."""
    with state.db.write() as conn:
        owner = next(u for u in accounts.list_users(conn, org.id) if u.role == "owner")
        _, key = accounts.create_api_key(conn, org.id, "demo platform", "ingest", owner.id)
    return key


def start_demo_server(
    data_dir: Path | str,
    events: int = 100_000,
    seed: int = 1,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    settings: ServerSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> DemoServer:
    """Start a seeded demo audit server on a free loopback port; return how to use it.

    The first call on ``data_dir`` seeds ``events`` demo events (a few seconds per 100,000);
    later calls reuse them; ``progress(done, total)`` follows the seeding. Call
    :meth:`DemoServer.stop` (or use it as a context manager).
    """
    settings = settings or ServerSettings(data_dir=Path(data_dir))
    state = open_server(settings)
    try:
        org, creds = ensure_demo(state, events, seed, progress)
        ingest_key = demo_ingest_key(state, org)
        from auditlens.server.app import create_app

        server = ThreadedServer(create_app(settings, state), host, port).start()
    except BaseException:
        state.close()
        raise
    return DemoServer(
        url=server.url,
        origin=org.origin,
        vkey=state.vkey,
        owner_email=creds["owner"][0],
        owner_password=creds["owner"][1],
        admin_email=creds["admin"][0],
        admin_password=creds["admin"][1],
        member_email=creds["member"][0],
        member_password=creds["member"][1],
        ingest_key=ingest_key,
        data_dir=Path(data_dir),
        _server=server,
    )
