"""The HTTP client of the audit API (docs/api.md), on one keep-alive httpx Client.

It owns transport only: URLs, the bearer header, JSON/bytes decoding and the mapping of every
failure to one :mod:`auditlens.client.errors` exception with a sentence a person understands.
It verifies nothing: signatures, proofs and hashes are checked by the sync engine with
:mod:`auditlens.core`. One ``httpx.Client`` is kept for the life of the object because
keep-alive is worth ~20x on tile fetches (benchmarks.md: 485k vs 25k ev/s); httpx's client is safe
to share between the sync engine's fetch thread and its caller.

The token (session token or API key) is sent only in the ``Authorization`` header and never
appears in an exception message, a ``repr`` or a log line.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import ssl
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from auditlens.client.errors import (
    ApiError,
    Forbidden,
    NotAuthenticated,
    ProtocolError,
    PrunedByPolicy,
    RateLimited,
    RequestRejected,
    ServerError,
    ServerUnreachable,
    TlsError,
    WrongCredentials,
)
from auditlens.client.paths import (  # re-exported: it was defined here
    normalize_server_url as normalize_server_url,  # noqa: PLC0414
)
from auditlens.core import tiles

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class UserInfo:
    """A person of the organization (the directory entry events' ``user_id`` refers to)."""

    id: str
    email: str
    name: str
    role: str


@dataclass(frozen=True)
class OrganizationInfo:
    """The signed-in organization, with its log's origin and the server's verifier key."""

    id: str
    name: str
    plan: str
    origin: str
    vkey: str


@dataclass(frozen=True)
class Identity:
    """Who the credential belongs to (``GET /v1/me``)."""

    user: UserInfo
    organization: OrganizationInfo


@dataclass(frozen=True)
class Session(Identity):
    """A successful sign-in: the session token and when it expires (RFC 3339 text)."""

    token: str
    expires_at: str

    def __repr__(self) -> str:  # the token must never reach a log through a repr
        return f"Session(user={self.user.email!r}, organization={self.organization.id!r})"


@dataclass(frozen=True)
class LogInfo:
    """``GET /v1/log/info``: the log's origin, verifier key, size and first unpruned index."""

    origin: str
    vkey: str
    size: int
    min_index: int


@dataclass(frozen=True)
class ApiKey:
    """An API key record; ``key`` is only set in the answer that created it."""

    id: str
    name: str
    scope: str
    prefix: str
    created_at: str
    key: str | None = None

    def __repr__(self) -> str:
        return f"ApiKey(id={self.id!r}, name={self.name!r}, scope={self.scope!r})"


@dataclass(frozen=True)
class ForwarderStatus:
    """One SIEM destination and its health (``GET /v1/forwarders/{id}/status``).

    ``state`` is the server's word: ``active``, ``paused`` or ``failed`` (stopped by an error
    until it is resumed or reconfigured). Times are epoch milliseconds, ``None`` when never.
    """

    id: str
    name: str
    kind: str
    state: str
    lag_events: int
    lag_seconds: float
    last_success_at: int | None
    last_error: str | None
    last_error_at: int | None
    dead_letters: int


class AuditApiClient:
    """Talks to one audit API server; every method raises an ApiError subclass on failure."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        verify_tls: bool | ssl.SSLContext = True,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = normalize_server_url(base_url)
        self._token = token
        self._host = urlsplit(self.base_url).hostname or self.base_url
        self._http = httpx.Client(
            base_url=self.base_url + "/v1/",
            verify=verify_tls,
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "auditlens-viewer", "Accept-Encoding": "identity"},
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return f"AuditApiClient({self.base_url!r}, authenticated={self._token is not None})"

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The bearer credential in use (session token or API key); never log it."""
        return self._token

    @token.setter
    def token(self, value: str | None) -> None:
        self._token = value

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AuditApiClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- sign-in ---------------------------------------------------------------------------

    def login(self, email: str, password: str) -> Session:
        """Sign in with email + password; keep and return the session (token, user, org)."""
        response = self._request(
            "POST", "auth/login", json={"email": email, "password": password}, login=True
        )
        body = self._json_object(response, "auth/login")
        try:
            session = Session(
                user=_user(body["user"]),
                organization=_organization(body["organization"]),
                token=str(body["token"]),
                expires_at=str(body["expires_at"]),
            )
        except (KeyError, TypeError) as exc:
            raise ProtocolError(
                f"The server at {self.base_url} answered the sign-in without {exc}; "
                "is it an auditlens audit API?"
            ) from None
        self._token = session.token
        return session

    def logout(self) -> None:
        """End the session on the server (best effort for the caller) and forget the token."""
        try:
            if self._token is not None:
                self._request("POST", "auth/logout")
        finally:
            self._token = None

    def me(self) -> Identity:
        """Who the current credential belongs to; NotAuthenticated when it no longer works."""
        body = self._json_object(self._request("GET", "me"), "me")
        try:
            return Identity(
                user=_user(body["user"]), organization=_organization(body["organization"])
            )
        except (KeyError, TypeError) as exc:
            raise ProtocolError(f"The server's /v1/me answer lacks {exc}") from None

    # -- API keys -----------------------------------------------------------------------------

    def create_api_key(self, name: str, scope: str) -> ApiKey:
        """Create an API key (``scope`` "read" or "ingest"); the answer holds the key once."""
        body = self._json_object(
            self._request("POST", "api-keys", json={"name": name, "scope": scope}), "api-keys"
        )
        return _api_key(body)

    def api_keys(self) -> list[ApiKey]:
        body = self._json_object(self._request("GET", "api-keys"), "api-keys")
        return [_api_key(item) for item in _items(body, "api-keys")]

    def delete_api_key(self, key_id: str) -> None:
        self._request("DELETE", f"api-keys/{key_id}")

    # -- SIEM forwarders ------------------------------------------------------------------------

    def forwarder_ids(self) -> list[str]:
        """The ids of the organization's SIEM destinations, oldest first (Owner/Admin)."""
        body = self._json_object(self._request("GET", "forwarders"), "forwarders")
        try:
            return [str(item["id"]) for item in _items(body, "forwarders")]
        except (KeyError, TypeError) as exc:
            raise ProtocolError(f"A forwarder in the server's answer lacks {exc}") from None

    def forwarder_status(self, forwarder_id: str) -> ForwarderStatus:
        """Lag, last success, last error and dead-letter count of one destination."""
        path = f"forwarders/{forwarder_id}/status"
        return _forwarder_status(self._json_object(self._request("GET", path), path))

    def set_forwarder_state(self, forwarder_id: str, state: str) -> None:
        """Pause (``"paused"``) or resume (``"active"``) a destination (Owner/Admin session)."""
        self._request("PATCH", f"forwarders/{forwarder_id}", json={"state": state})

    # -- events and directory ---------------------------------------------------------------

    def ingest(self, events: Sequence[Mapping[str, object]]) -> dict[str, Any]:
        """Append events (ingest key); returns the server's answer (indexes, ids, checkpoint)."""
        return self._json_object(
            self._request("POST", "events", content=orjson.dumps({"events": list(events)})),
            "events",
        )

    def record_export(
        self, payload: Mapping[str, object], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """Ask the server to record an export as ``audit.exported`` (and to attest it).

        ``payload`` is :mod:`auditlens.export.record`'s; the answer is the server's record
        (``index``, ``id``, ``checkpoint``, and the completeness record when attested).
        ``timeout`` overrides the client's (counting a large filter can take a while).
        """
        response = self._request(
            "POST", "audit-logs/exports", content=orjson.dumps(payload), timeout=timeout
        )
        return self._json_object(response, "audit-logs/exports")

    def users(self) -> list[UserInfo]:
        """The organization's directory (id -> email, name, role)."""
        body = self._json_object(self._request("GET", "users"), "users")
        try:
            return [_user(item) for item in _items(body, "users")]
        except (KeyError, TypeError) as exc:
            raise ProtocolError(f"A user in the server's /v1/users answer lacks {exc}") from None

    # -- the log (C2SP tlog-tiles) ----------------------------------------------------------

    def log_info(self) -> LogInfo:
        body = self._json_object(self._request("GET", "log/info"), "log/info")
        try:
            return LogInfo(
                origin=str(body["origin"]),
                vkey=str(body["vkey"]),
                size=int(body["size"]),
                min_index=int(body.get("min_index", 0)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"The server's /v1/log/info answer is malformed ({exc})") from None

    def checkpoint(self) -> str:
        """The latest signed checkpoint note, as text (not verified here)."""
        response = self._request("GET", "log/checkpoint")
        try:
            return response.content.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("The server's checkpoint is not UTF-8 text") from None

    def tile(self, level: int, n: int, width: int = tiles.TILE_WIDTH) -> bytes:
        """A hash tile (``tile/<L>/<N>[.p/<W>]``): ``width`` 32-byte hashes, not verified."""
        return self._tile(tiles.tile_path(level, n, width))

    def entries_tile(self, n: int, width: int = tiles.TILE_WIDTH) -> bytes:
        """An entry bundle (``tile/entries/<N>[.p/<W>]``); PrunedByPolicy below min_index."""
        return self._tile(tiles.entries_path(n, width))

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        body = self._json_object(
            self._request("GET", "log/proof/inclusion", params={"index": index, "size": size}),
            "log/proof/inclusion",
        )
        return _proof(body, "inclusion")

    def consistency_proof(self, first: int, second: int) -> list[bytes]:
        """The RFC 9162 consistency proof between tree sizes ``first`` and ``second``."""
        body = self._json_object(
            self._request("GET", "log/proof/consistency", params={"from": first, "to": second}),
            "log/proof/consistency",
        )
        return _proof(body, "consistency")

    # -- plumbing ------------------------------------------------------------------------------

    def _tile(self, path: str) -> bytes:
        return self._request("GET", "log/" + path).content

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        content: bytes | None = None,
        params: Mapping[str, int | str] | None = None,
        login: bool = False,
        timeout: float | None = None,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if self._token is not None and not login:
            headers["Authorization"] = f"Bearer {self._token}"
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = self._http.request(
                method, path, json=json, content=content, params=params, headers=headers,
                timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            )  # fmt: skip
        except httpx.TimeoutException:
            raise ServerUnreachable(
                f"The server at {self.base_url} did not answer in time. "
                "Check that it is running and reachable, then try again.",
                url=self.base_url,
            ) from None
        except httpx.ConnectError as exc:
            if _is_tls_failure(exc):
                raise TlsError(
                    f"The TLS certificate of {self._host} could not be verified "
                    f"({_tls_reason(exc)}). The connection was refused to protect your "
                    "credentials.",
                    host=self._host,
                ) from None
            raise ServerUnreachable(
                f"Could not connect to the server at {self.base_url}. "
                "Check the address and that the server is running.",
                url=self.base_url,
            ) from None
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"The connection to {self.base_url} failed ({type(exc).__name__}).",
                url=self.base_url,
            ) from None
        if response.is_success:
            return response
        raise self._error_for(response, path, login=login)

    def _error_for(self, response: httpx.Response, path: str, *, login: bool) -> ApiError:
        status = response.status_code
        title, detail, invalid = _problem(response)
        said = f" The server said: {detail}" if detail else ""
        if status == 401:
            if login:
                return WrongCredentials("The email or password is not right.", status=status)
            return NotAuthenticated(
                "Your session has expired or your key was revoked: sign in again.", status=status
            )
        if status == 403:
            if path.startswith(("log/", "audit-logs", "users")):
                return Forbidden(
                    "Only Owners and Admins can read audit logs; this account is not allowed to.",
                    status=status,
                )
            return Forbidden(f"This account is not allowed to do that.{said}", status=status)
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            wait = f" Try again in {retry_after} seconds." if retry_after is not None else ""
            what = "sign-in attempts" if login else "requests"
            return RateLimited(
                f"Too many {what} to {self.base_url}.{wait}", retry_after=retry_after
            )
        if status == 410:
            return PrunedByPolicy(
                f"The server no longer holds {path}: removed by its retention policy.{said}",
                status=status,
            )
        if status >= 500:
            return ServerError(
                f"The server at {self.base_url} failed ({status} {title or 'error'}).{said}",
                status=status,
                detail=detail,
            )
        if status in (400, 404, 409, 413, 422):
            return RequestRejected(
                f"The server rejected {path} ({status} {title or 'error'}).{said}",
                status=status,
                invalid_params=invalid,
            )
        return ProtocolError(
            f"The server at {self.base_url} answered {path} with an unexpected {status}.{said}",
            status=status,
        )

    def _json_object(self, response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise ProtocolError(
                f"The server at {self.base_url} answered {path} with something that is not JSON; "
                "is it an auditlens audit API?"
            ) from None
        if not isinstance(body, dict):
            raise ProtocolError(f"The server's answer to {path} is not a JSON object")
        return body


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text


def _tls_reason(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) and seen.verify_message:
            return str(seen.verify_message)
        seen = seen.__cause__ or seen.__context__
    return "certificate verification failed"


def _problem(
    response: httpx.Response,
) -> tuple[str | None, str | None, tuple[tuple[str, str], ...]]:
    """(title, detail, invalid_params) of an RFC 9457 problem body, or Nones."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None, None, ()
    if not isinstance(body, dict):
        return None, None, ()
    title = body.get("title")
    detail = body.get("detail")
    invalid: list[tuple[str, str]] = []
    for item in body.get("invalid_params") or ():
        if isinstance(item, dict):
            invalid.append((str(item.get("name", "")), str(item.get("reason", ""))))
    return (
        str(title) if title is not None else None,
        str(detail) if detail is not None else None,
        tuple(invalid),
    )


def _retry_after(value: str | None) -> int | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0, round(when.timestamp() - time.time()))


def _items(body: Mapping[str, Any], path: str) -> list[Any]:
    items = body.get("items")
    if not isinstance(items, list):
        raise ProtocolError(f"The server's answer to {path} has no 'items' list")
    return items


def _user(obj: Any) -> UserInfo:
    return UserInfo(
        id=str(obj["id"]),
        email=str(obj["email"]),
        name=str(obj.get("name") or ""),
        role=str(obj["role"]),
    )


def _organization(obj: Any) -> OrganizationInfo:
    return OrganizationInfo(
        id=str(obj["id"]),
        name=str(obj.get("name") or ""),
        plan=str(obj.get("plan") or ""),
        origin=str(obj["origin"]),
        vkey=str(obj["vkey"]),
    )


def _api_key(obj: Any) -> ApiKey:
    try:
        return ApiKey(
            id=str(obj["id"]),
            name=str(obj.get("name") or ""),
            scope=str(obj["scope"]),
            prefix=str(obj.get("prefix") or ""),
            created_at=str(obj.get("created_at") or ""),
            key=str(obj["key"]) if obj.get("key") else None,
        )
    except (KeyError, TypeError) as exc:
        raise ProtocolError(f"An API key in the server's answer lacks {exc}") from None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _forwarder_status(obj: Mapping[str, Any]) -> ForwarderStatus:
    try:
        return ForwarderStatus(
            id=str(obj["id"]),
            name=str(obj.get("name") or ""),
            kind=str(obj["kind"]),
            state=str(obj["state"]),
            lag_events=int(obj.get("lag_events") or 0),
            lag_seconds=float(obj.get("lag_seconds") or 0.0),
            last_success_at=_optional_int(obj.get("last_success_at")),
            last_error=str(obj["last_error"]) if obj.get("last_error") else None,
            last_error_at=_optional_int(obj.get("last_error_at")),
            dead_letters=int(obj.get("dead_letters") or 0),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"The server's forwarder status is malformed ({exc})") from None


def _proof(body: Mapping[str, Any], kind: str) -> list[bytes]:
    proof = body.get("proof")
    if not isinstance(proof, list):
        raise ProtocolError(f"The server's {kind} proof has no 'proof' list")
    try:
        return [base64.b64decode(item, validate=True) for item in proof]
    except (binascii.Error, TypeError, ValueError):
        raise ProtocolError(f"The server's {kind} proof holds a hash that is not base64") from None
