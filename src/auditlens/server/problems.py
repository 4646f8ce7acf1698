"""RFC 9457 problem details: every error the API returns is ``application/problem+json``.

Decisions:

* ``type`` is a stable URN per kind of problem (``urn:auditlens:problem:<slug>``) so clients
  can match on it without the server having to host documentation pages; ``title`` is the
  constant human name, ``detail`` the specific sentence, ``instance`` the request path.
* Validation problems carry ``invalid_params: [{name, reason}]`` (RFC 9457 §3's example
  extension), with names like ``events[3].event.outcome`` or ``limit``.
* FastAPI's own errors (unknown route 404, 405, request validation 422) are converted too (a 405
  names in ``Allow`` every method the path accepts), and
  an unexpected exception becomes a 500 problem that says nothing about internals (the
  traceback goes to the server log, never to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute, Match

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger("auditlens.server")

_TITLES: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    409: ("conflict", "Conflict"),
    410: ("gone", "Gone"),
    413: ("too-large", "Request too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("invalid-request", "Invalid request"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


def problem_type(slug: str) -> str:
    return f"urn:auditlens:problem:{slug}"


class ProblemError(Exception):
    """Raise to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        invalid_params: Sequence[Mapping[str, str]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        default_slug, default_title = _TITLES.get(status, ("error", "Error"))
        self.status = status
        self.detail = detail
        self.slug = slug or default_slug
        self.title = title or default_title
        self.invalid_params = [dict(p) for p in invalid_params]
        self.headers = dict(headers or {})
        super().__init__(detail)


def invalid(name: str, reason: str, status: int = 422) -> ProblemError:
    """A validation problem about one named input."""
    return ProblemError(
        status,
        f"{name}: {reason}",
        slug="invalid-request" if status == 422 else None,
        invalid_params=[{"name": name, "reason": reason}],
    )


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401,
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="auditlens"'},
    )


def problem_response(problem: ProblemError, instance: str | None = None) -> Response:
    body: dict[str, Any] = {
        "type": problem_type(problem.slug),
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
    }
    if instance:
        body["instance"] = instance
    if problem.invalid_params:
        body["invalid_params"] = problem.invalid_params
    return Response(
        orjson.dumps(body),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _loc_name(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("query", "path", "body", "header")]
    name = ""
    for p in parts:
        name += f"[{p}]" if p.isdigit() else (f".{p}" if name else p)
    return name or "request"


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method the request's path accepts, for the ``Allow`` of a 405 (RFC 9110 §15.5.6).

    Starlette's 405 names only the methods of the first route whose path matched, but one path
    may be served by several routes (``GET`` and ``POST /v1/api-keys``). A path the OpenAPI
    document names literally answers with its documented methods (a literal path wins over a
    template: ``/v1/audit-logs/exports`` is the export route, not an event id); any other path
    with the methods of every route that matches it.
    """
    documented = request.app.openapi().get("paths", {}).get(request.url.path)
    if documented:
        methods = {method.upper() for method in documented}
    else:
        methods = set()
        for method in _METHODS:
            scope = {**request.scope, "method": method}
            for route in request.app.router.routes:
                if isinstance(route, BaseRoute) and route.matches(scope)[0] == Match.FULL:
                    methods.add(method)
    return ", ".join(sorted(methods))


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error response of ``app`` a problem document."""

    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(exc, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"there is no resource at {request.url.path}"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            detail = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
            headers["Allow"] = allowed
        return problem_response(
            ProblemError(exc.status_code, detail, headers=headers), request.url.path
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        params = [
            {"name": _loc_name(err.get("loc", ())), "reason": str(err.get("msg", "invalid"))}
            for err in exc.errors()
        ]
        detail = "; ".join(f"{p['name']}: {p['reason']}" for p in params) or "invalid request"
        return problem_response(
            ProblemError(422, detail, slug="invalid-request", invalid_params=params),
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            ProblemError(500, "the server failed to handle this request; it has been logged"),
            request.url.path,
        )
