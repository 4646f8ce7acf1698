"""What can go wrong talking to an audit API server, as exceptions a person can read.

Every failure of :class:`auditlens.client.api.AuditApiClient` is one :class:`ApiError` subclass
whose message is a whole sentence for the person at the keyboard (the UI shows ``str(exc)`` as
is) and whose attributes carry the data a program needs (``status``, ``retry_after``, ...).
Verification failures are not here: they are :class:`auditlens.core.errors.VerificationError`
with an architecture.md §4 code.

Messages never contain a token, password or API key: requests carry those in headers only, and
nothing here formats a header.
"""

from __future__ import annotations


class ApiError(Exception):
    """Base of every client-side failure; ``str(exc)`` is a sentence for people."""

    #: HTTP status of the response that caused it, when there was one.
    status: int | None = None

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class WrongCredentials(ApiError):  # noqa: N818 (the names the UI matches on)
    """Sign-in refused: the email, password or API key is not right (401 on login)."""


class NotAuthenticated(ApiError):  # noqa: N818 (the names the UI matches on)
    """The session or key is no longer accepted (401 after sign-in: expired or revoked)."""


class Forbidden(ApiError):  # noqa: N818 (the names the UI matches on)
    """The account may not do this (403); for audit reads: only Owners and Admins may."""


class RateLimited(ApiError):  # noqa: N818 (the names the UI matches on)
    """Too many attempts (429); ``retry_after`` is the number of seconds to wait, if known."""

    def __init__(self, message: str, *, retry_after: int | None, status: int = 429) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ServerUnreachable(ApiError):  # noqa: N818 (the names the UI matches on)
    """No answer: the connection failed or timed out; ``url`` names the server tried."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url


class TlsError(ApiError):
    """The server's TLS certificate could not be verified; ``host`` names it."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


class ServerError(ApiError):
    """The server failed (5xx); ``detail`` is its problem detail, if it sent one."""

    def __init__(self, message: str, *, status: int, detail: str | None) -> None:
        super().__init__(message, status=status)
        self.detail = detail


class PrunedByPolicy(ApiError):  # noqa: N818 (the names the UI matches on)
    """The entries asked for were removed by the retention policy (410)."""


class RequestRejected(ApiError):  # noqa: N818 (the names the UI matches on)
    """The server rejected the request (400/404/409/422); ``invalid_params`` says where."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        invalid_params: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message, status=status)
        self.invalid_params = invalid_params


class ProtocolError(ApiError):
    """The server answered something this client does not understand (not the audit API?)."""
