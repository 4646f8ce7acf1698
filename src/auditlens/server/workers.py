"""Several API processes behind one port: ``auditlens serve --workers N`` (PostgreSQL only).

The processes are uvicorn's own worker supervisor (``uvicorn.supervisors.Multiprocess``, part
of the ``uvicorn`` wheel on PyPI, nothing else to install): the parent binds the port once and
starts N spawned child processes that accept on that socket; it replaces a worker that dies
(a kill -9 included) and stops them all on SIGINT/SIGTERM.

Every worker is a whole, stateless API process: it opens the database and the log key itself
(:func:`app_from_environment`, the factory uvicorn imports in the child) and keeps nothing
between requests that another process could contradict. What must be shared lives in the
database: sessions, API keys, login budgets (:mod:`.ratelimit`), idempotency receipts
(:mod:`.idempotency`), the forwarders' cursors. Appends go through one sequencer at a time: the
per-organization log lock of :func:`.sequencer.lock_log`, under which the appending process
re-reads the log's state from the database before it signs.

Decisions:

* The configuration reaches the workers in one environment variable (:data:`ENVIRONMENT`,
  JSON), because uvicorn spawns workers from an import string, not from an object.
* SIEM forwarding runs once, in the supervisor (its ``process`` or ``thread`` mode), never in
  the workers: N copies would only compete for the per-forwarder locks.
* Retention runs in every worker when asked for; pruning takes the log lock and a second
  worker finds nothing left to prune.
* A worker ends when its supervisor is gone (even killed with SIGKILL): it notices within half
  a second and shuts down gracefully. The supervisor names itself (its pid, in
  :data:`ENVIRONMENT`) rather than the worker reading its parent when it starts watching: a
  worker still importing when its supervisor was killed would otherwise take its new parent
  (init) for the supervisor and serve on forever (seen: one ran an hour after its test).
* SQLite is refused: its file admits one writer at a time, so more processes would only queue
  on its lock (see :func:`check_workers`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from auditlens.server.serving import DeadlineH11Protocol, ServeLimits, uvicorn_config
from auditlens.server.settings import ServerSettings

ENVIRONMENT = "AUDITLENS_SERVE_WORKER"
"""The worker's configuration (settings and serve limits, JSON), set by :func:`run_workers`."""


class WorkerH11Protocol(DeadlineH11Protocol):
    """The h11 protocol of a worker; :func:`app_from_environment` sets its limits."""


def check_workers(workers: int, database_url: str) -> str | None:
    """Why ``workers`` API processes cannot serve ``database_url``, or None when they can."""
    if workers < 1:
        return f"--workers must be at least 1, not {workers}"
    if workers > 1 and not database_url.startswith("postgresql"):
        return (
            f"--workers {workers} needs PostgreSQL (--db postgresql+psycopg://USER@HOST/DB): a "
            "SQLite database admits one writer at a time, so more API processes would only "
            "queue on its file lock; run one process on SQLite"
        )
    return None


def _encode(settings: ServerSettings, limits: ServeLimits) -> str:
    fields = dataclasses.asdict(settings)
    fields["data_dir"] = str(Path(settings.data_dir).resolve())
    fields["forwarding"] = "off"  # the supervisor forwards (see the module docstring)
    spec = {"settings": fields, "limits": dataclasses.asdict(limits), "supervisor": os.getpid()}
    return json.dumps(spec)


def _decode(text: str) -> tuple[ServerSettings, ServeLimits, int]:
    spec = json.loads(text)
    fields = spec["settings"]
    fields["data_dir"] = Path(fields["data_dir"])
    return ServerSettings(**fields), ServeLimits(**spec["limits"]), int(spec["supervisor"])


def app_from_environment() -> FastAPI:
    """The API of one worker process, configured by :data:`ENVIRONMENT` (uvicorn's factory)."""
    from auditlens.server.app import create_app

    text = os.environ.get(ENVIRONMENT)
    if not text:
        raise RuntimeError(f"{ENVIRONMENT} is not set: start workers with `auditlens serve`")
    settings, limits, supervisor = _decode(text)
    exit_with_supervisor(supervisor)
    WorkerH11Protocol.header_timeout = limits.header_timeout
    WorkerH11Protocol.body_timeout = limits.body_timeout
    WorkerH11Protocol.max_connections = limits.max_connections
    return create_app(settings)


def exit_with_supervisor(supervisor: int, interval: float = 0.5) -> None:
    """End this worker (SIGTERM to itself: a graceful shutdown) once ``supervisor`` (the pid
    of the process that started it) is no longer its parent: at once if it is gone already.

    A supervisor killed with SIGKILL cannot stop its workers; left alone they would keep
    serving the port, unsupervised, and keep their database connections.
    """

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(interval)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def _start_forwarding(settings: ServerSettings) -> Any:
    """SIEM forwarding for all workers, run by the supervisor (None when it is off)."""
    if settings.forwarding == "off":
        return None
    if settings.forwarding == "process":
        from auditlens.server.forwarding.process import ForwardingProcess

        return ForwardingProcess(settings)
    from auditlens.server.db import Database
    from auditlens.server.forwarding.service import ForwardingService

    db = Database(settings.resolved_database_url)
    return ForwardingService(
        db, settings.data_dir, scan_seconds=settings.forwarding_scan_seconds
    ).start()


def worker_config(
    settings: ServerSettings,
    limits: ServeLimits,
    host: str,
    port: int,
    workers: int,
    **options: Any,
) -> uvicorn.Config:
    """The uvicorn configuration of ``workers`` worker processes (sets :data:`ENVIRONMENT`)."""
    os.environ[ENVIRONMENT] = _encode(settings, limits)
    config = uvicorn_config(
        f"{__name__}:app_from_environment", host, port, limits, factory=True, workers=workers,
        **options,
    )  # fmt: skip
    config.http = f"{__name__}:WorkerH11Protocol"
    return config


def run_workers(
    settings: ServerSettings,
    limits: ServeLimits,
    host: str,
    port: int,
    workers: int,
    **options: Any,
) -> None:
    """Serve the API from ``workers`` processes on ``host:port`` until SIGINT or SIGTERM."""
    config = worker_config(settings, limits, host, port, workers, **options)
    sock = config.bind_socket()
    forwarding = _start_forwarding(settings)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        sock.close()
        if forwarding is not None:
            forwarding.stop()
