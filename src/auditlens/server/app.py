"""The app factory: ``create_app(settings)`` returns the FastAPI application of the audit API.

The app opens its :class:`~auditlens.server.state.ServerState` at creation (so a bad database
URL or key file fails at start, not on the first request) and closes it on shutdown. If
``retention_interval_seconds`` is set, a daemon thread prunes every organization by its plan
at that interval, and deletes expired idempotency receipts. Logins run on the app's password
gate (:mod:`.password_gate`), which the app closes on shutdown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from auditlens import __version__
from auditlens.server import accounts, idempotency, retention
from auditlens.server.forwarding.service import start_forwarding
from auditlens.server.password_gate import PasswordGate
from auditlens.server.problems import install_problem_handlers
from auditlens.server.responses import JSONBytes
from auditlens.server.routes_audit import router as audit_router
from auditlens.server.routes_auth import router as auth_router
from auditlens.server.routes_events import router as events_router
from auditlens.server.routes_exports import router as exports_router
from auditlens.server.routes_forwarders import router as forwarders_router
from auditlens.server.routes_log import router as log_router
from auditlens.server.sequencer import LogStateError
from auditlens.server.settings import ServerSettings
from auditlens.server.state import ServerState, open_server

log = logging.getLogger("auditlens.server")


@dataclass
class PruneRound:
    """What one round of retention did: the logs pruned, and those whose log refused."""

    pruned: list[retention.PruneResult] = field(default_factory=list)
    refused: list[LogStateError] = field(default_factory=list)


def prune_all(state: ServerState) -> PruneRound:
    """Prune every organization by its plan.

    One organization whose log refuses appends (its stored state is inconsistent: an operator
    must run ``server verify``) is reported and skipped; the others are still pruned.
    """
    with state.db.read() as conn:
        orgs = accounts.list_organizations(conn)
    done = PruneRound()
    for org in orgs:
        try:
            result = retention.prune(state.sequencer, org.id)
        except LogStateError as exc:
            log.error("%s: not pruned: %s", org.origin, exc.reason)
            done.refused.append(exc)
            continue
        if result is not None:
            log.info(
                "pruned %s below index %d (%d days)",
                org.origin,
                result.min_index,
                result.policy_days,
            )
            done.pruned.append(result)
    return done


def _retention_loop(state: ServerState, stop: threading.Event) -> None:
    """Prune soon after start (a server restarted daily must still prune), then every interval."""
    interval = state.settings.retention_interval_seconds
    delay = min(interval, 10.0)
    while not stop.wait(delay):
        delay = interval
        try:
            prune_all(state)
            idempotency.purge_expired(state.db, state.settings.idempotency_ttl_seconds)
        except Exception:  # keep serving; the next round tries again
            log.exception("retention pruning failed")


def _problem_media_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Document error answers under ``application/problem+json``, the type they are sent with.

    Every operation that takes a JSON body may also answer 400 (a body that is not JSON) and
    422 (JSON that does not fit), whether or not its route lists them.
    """
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if "requestBody" in operation:
                responses = operation.setdefault("responses", {})
                for status in ("400", "422"):
                    responses.setdefault(status, _problem_response(schema))
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if status[:1] in "45" and "application/json" in content:
                    content["application/problem+json"] = content.pop("application/json")
    return schema


TILE_PATH_PATTERN = (
    r"^(?:entries|[0-9]|[1-5][0-9]|6[0-3])/(?:x[0-9]{3}/){0,6}[0-9]{3}"
    r"(?:\.p/(?:[1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$"
)
"""A tlog-tiles path after ``tile/``: level 0-63 or ``entries``, index groups, partial width."""

_PARAMETER_RULES: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/log/tile/{path}", "path"): {
        "schema": {"pattern": TILE_PATH_PATTERN},
        "description": "<L>/<N>[.p/<W>] or entries/<N>[.p/<W>] (C2SP tlog-tiles), e.g. "
        "0/x001/234.p/7; N has no leading x000 group",
    },
    ("/v1/log/proof/inclusion", "index"): {
        "description": "the entry's index; must be below size (else 422)"
    },
    ("/v1/log/proof/inclusion", "size"): {
        "description": "tree size to prove inclusion in; at most the log's size (else 422), "
        "which is the default"
    },
    ("/v1/log/proof/consistency", "from"): {
        "description": "the older tree size; must not exceed to (else 422)"
    },
    ("/v1/log/proof/consistency", "to"): {
        "description": "the newer tree size; at most the log's size (else 422), which is the "
        "default"
    },
}
"""What the server checks about a parameter beyond its type: said in the OpenAPI document too,
so generated clients and fuzzers agree with the server. Constraints between two parameters
cannot be written in JSON Schema; their descriptions state them and the 422 they answer."""


def _parameter_rules(schema: dict[str, Any]) -> None:
    for (path, name), rule in _PARAMETER_RULES.items():
        for operation in schema.get("paths", {}).get(path, {}).values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == name:
                    parameter.setdefault("schema", {}).update(rule.get("schema", {}))
                    if "description" in rule:
                        parameter["description"] = rule["description"]


def _problem_response(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI response object for a problem answer (the ``Problem`` model, if documented)."""
    content: dict[str, Any] = {}
    if "Problem" in schema.get("components", {}).get("schemas", {}):
        content = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {"description": "problem details", "content": {"application/json": content}}


def create_app(settings: ServerSettings, state: ServerState | None = None) -> FastAPI:
    """Build the audit API for ``settings`` (or around an already opened ``state``)."""
    state = state or open_server(settings)
    stop = threading.Event()
    gate = PasswordGate(settings.password_check_workers, settings.password_check_queue)

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
            gate.close()
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
    app.state.password_gate = gate
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
            _parameter_rules(app.openapi_schema)
        return app.openapi_schema

    get_openapi_schema = app.openapi
    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/v1/health", tags=["meta"], summary="Liveness (no credential needed)")
    def health() -> Response:
        return JSONBytes({"status": "ok"})

    return app
