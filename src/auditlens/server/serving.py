"""How ``auditlens serve`` runs uvicorn: read deadlines, a connection cap, trusted proxies.

uvicorn on its own keeps a connection that never finishes its request open for ever (its only
timer is the keep-alive timer, armed after a response), so a few hundred stalled sockets held
their slots indefinitely. It also trusts ``X-Forwarded-For`` from 127.0.0.1 by default, so any
local process could choose the client address the log records and the login budgets count.

Decisions (each is a ``serve`` option; see README "Running the server"):

* **Header deadline** (``--header-timeout``, 10 s): from the moment the server waits for a
  request (a new connection, or the end of the previous response) the whole request head must
  arrive within it, however slowly it trickles in; otherwise the connection is closed.
* **Body deadline** (``--body-timeout``, 60 s): once the head is in, the whole body must arrive
  within it (16 MiB, the largest body accepted, at 2 Mbit/s). The server's own processing time
  does not count.
* **Idle keep-alive** (``--keep-alive-timeout``, 5 s): uvicorn's ``timeout_keep_alive``.
* **Connection cap** (``--max-connections``, 256): a request that arrives while more
  connections or requests are open is answered at once with a 503 problem and
  ``Retry-After: 1`` (like uvicorn's ``limit_concurrency``, whose answer is plain text). The
  header deadline bounds how long stalled sockets can hold the cap.
* **Request head size**: at most 16 KiB (``h11_max_incomplete_event_size``), else 400.
* **Proxy headers** (``--forwarded-allow-ips``): trusted only from the addresses it lists
  (comma-separated, ``*`` for any); by default from none, so the client address is the TCP
  peer's.
* The HTTP/1.1 implementation is h11 (the deadlines are implemented on its protocol class).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from auditlens.server.problems import ProblemError, problem_response

MAX_HEADER_BYTES = 16 * 1024
CAP_RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class ServeLimits:
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    keep_alive_timeout: int = 5
    max_connections: int = 256
    forwarded_allow_ips: str | None = None
    """Comma-separated proxy addresses whose ``X-Forwarded-*`` headers are trusted."""


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with read deadlines and a connection cap that answers problem+json.

    uvicorn's own ``limit_concurrency`` answers a plain-text 503; this one answers like every
    other error of the API, with ``Retry-After``.
    """

    header_timeout = ServeLimits.header_timeout
    body_timeout = ServeLimits.body_timeout
    max_connections = ServeLimits.max_connections

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._api = self.app
        self.app = self._capped

    async def _capped(self, scope: Any, receive: Any, send: Any) -> None:
        """The API, unless more than ``max_connections`` connections or requests are open."""
        if scope["type"] == "http" and (
            len(self.connections) > self.max_connections or len(self.tasks) > self.max_connections
        ):
            problem = ProblemError(
                503,
                f"the server has {self.max_connections} connections open; retry shortly",
                headers={"Retry-After": str(CAP_RETRY_AFTER_SECONDS)},
            )
            await problem_response(problem, scope.get("path"))(scope, receive, send)
            return
        await self._api(scope, receive, send)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_for: object = None
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _watch(self) -> None:
        """Arm the deadline of what the server now waits for from the client (if anything).

        A deadline runs from when the wait began, not from the last byte: a client that sends
        one byte a second must still finish in time.
        """
        state = self.conn.their_state
        waiting_for = state if state in (h11.IDLE, h11.SEND_BODY) else None
        if waiting_for is self._waiting_for:
            return
        self._cancel_deadline()
        self._waiting_for = waiting_for
        if waiting_for is None or self.transport.is_closing():
            return
        timeout = self.header_timeout if waiting_for is h11.IDLE else self.body_timeout
        self._deadline = self.loop.call_later(timeout, self._expire)

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def protocol_class(limits: ServeLimits) -> type[H11Protocol]:
    """The h11 protocol class with ``limits``' deadlines and connection cap."""
    attributes = {
        "header_timeout": limits.header_timeout,
        "body_timeout": limits.body_timeout,
        "max_connections": limits.max_connections,
    }
    return type("AuditlensH11Protocol", (DeadlineH11Protocol,), attributes)


def uvicorn_config(
    app: Any, host: str, port: int, limits: ServeLimits, **options: Any
) -> uvicorn.Config:
    """The uvicorn configuration ``serve`` runs ``app`` with."""
    trusted = (limits.forwarded_allow_ips or "").strip()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol_class(limits),
        timeout_keep_alive=limits.keep_alive_timeout,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or "",
        **options,
    )
