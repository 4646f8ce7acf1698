"""The app factory: ``create_app(settings)`` returns the FastAPI application of the audit API.

The app opens its :class:`~auditlens.server.state.ServerState` at creation (so a bad database
URL or key file fails at start, not on the first request) and closes it on shutdown. If
``retention_interval_seconds`` is set, a daemon thread prunes every organization by its plan
at that interval.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from auditlens import __version__
from auditlens.server import accounts, retention
from auditlens.server.forwarding.service import start_forwarding
from auditlens.server.problems import install_problem_handlers
from auditlens.server.responses import JSONBytes
from auditlens.server.routes_audit import router as audit_router
from auditlens.server.routes_auth import router as auth_router
from auditlens.server.routes_events import router as events_router
from auditlens.server.routes_exports import router as exports_router
from auditlens.server.routes_forwarders import router as forwarders_router
from auditlens.server.routes_log import router as log_router
from auditlens.server.settings import ServerSettings
from auditlens.server.state import ServerState, open_server

log = logging.getLogger("auditlens.server")


def prune_all(state: ServerState) -> list[retention.PruneResult]:
    """Prune every organization by its plan; return what was pruned."""
    with state.db.read() as conn:
        orgs = accounts.list_organizations(conn)
    results = []
    for org in orgs:
        result = retention.prune(state.sequencer, org.id)
        if result is not None:
            log.info(
                "pruned %s below index %d (%d days)",
                org.origin,
                result.min_index,
                result.policy_days,
            )
            results.append(result)
    return results


def _retention_loop(state: ServerState, stop: threading.Event) -> None:
    """Prune soon after start (a server restarted daily must still prune), then every interval."""
    interval = state.settings.retention_interval_seconds
    delay = min(interval, 10.0)
    while not stop.wait(delay):
        delay = interval
        try:
            prune_all(state)
        except Exception:  # keep serving; the next round tries again
            log.exception("retention pruning failed")


def _problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Document error answers under ``application/problem+json``, the type they are sent with."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[:1] in "45" and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return schema


def create_app(settings: ServerSettings, state: ServerState | None = None) -> FastAPI:
    """Build the audit API for ``settings`` (or around an already opened ``state``)."""
    state = state or open_server(settings)
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        worker = None
        if state.settings.retention_interval_seconds > 0:
            worker = threading.Thread(
                target=_retention_loop, args=(state, stop), name="retention", daemon=True
            )
            worker.start()
        forwarding = start_forwarding(state)
        try:
            yield
        finally:
            stop.set()
            if forwarding is not None:
                forwarding.stop()
            if worker is not None:
                worker.join(timeout=5)
            state.close()

    app = FastAPI(
        title="auditlens audit API",
        version=__version__,
        description=(
            "Append-only, Merkle-tree audit log with signed checkpoints (C2SP tlog-tiles). "
            "Errors are RFC 9457 application/problem+json."
        ),
        lifespan=lifespan,
        default_response_class=JSONBytes,
    )
    app.state.auditlens = state
    install_problem_handlers(app)
    app.include_router(auth_router)
    app.include_router(events_router)
    app.include_router(exports_router)
    app.include_router(audit_router)
    app.include_router(log_router)
    app.include_router(forwarders_router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _problem_media_types(get_openapi_schema())
        return app.openapi_schema

    get_openapi_schema = app.openapi
    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/v1/health", tags=["meta"], summary="Liveness (no credential needed)")
    def health() -> Response:
        return JSONBytes({"status": "ok"})

    return app
