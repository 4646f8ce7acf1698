"""Each failure of the HTTP client is its own exception with a sentence for people."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auditlens.client.api import AuditApiClient, normalize_server_url
from auditlens.client.errors import (
    Forbidden,
    NotAuthenticated,
    ProtocolError,
    PrunedByPolicy,
    RateLimited,
    ServerError,
    ServerUnreachable,
    TlsError,
    WrongCredentials,
)
from tests.client.fakelog import FakeLog

TOKEN = "tok-secret-123"


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> AuditApiClient:
    return AuditApiClient("http://audit.test", TOKEN, transport=httpx.MockTransport(handler))


def answer(status: int, **kwargs: object) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, **kwargs)  # type: ignore[arg-type]


def problem(status: int, detail: str) -> dict[str, object]:
    return {"type": "about:blank", "title": "Error", "status": status, "detail": detail}


def test_login_returns_the_session_and_uses_its_token_afterwards() -> None:
    log = FakeLog()
    client = AuditApiClient("http://audit.test", transport=log.transport())
    session = client.login("ada@example.com", "right")
    assert session.organization.origin == log.origin
    assert session.organization.vkey == log.vkey
    assert session.user.email == "ada@example.com"
    assert client.me().organization.id == "org_1"


def test_a_wrong_password_is_wrong_credentials() -> None:
    client = AuditApiClient("http://audit.test", transport=FakeLog().transport())
    with pytest.raises(WrongCredentials, match="email or password is not right"):
        client.login("ada@example.com", "wrong")


def test_a_401_after_sign_in_means_the_session_expired() -> None:
    client = client_for(answer(401, json=problem(401, "expired")))
    with pytest.raises(NotAuthenticated, match="sign in again"):
        client.checkpoint()


def test_a_403_on_audit_reads_says_only_owners_and_admins_may() -> None:
    client = client_for(answer(403, json=problem(403, "forbidden")))
    with pytest.raises(Forbidden, match="Only Owners and Admins can read audit logs"):
        client.entries_tile(0, 10)


def test_a_429_carries_the_seconds_to_wait() -> None:
    client = client_for(answer(429, json=problem(429, "slow down"), headers={"Retry-After": "42"}))
    with pytest.raises(RateLimited) as caught:
        client.login("ada@example.com", "x")
    assert caught.value.retry_after == 42
    assert "42 seconds" in str(caught.value)


def test_a_5xx_is_a_server_error_with_its_problem_detail() -> None:
    client = client_for(answer(503, json=problem(503, "database is locked")))
    with pytest.raises(ServerError, match="database is locked") as caught:
        client.log_info()
    assert caught.value.status == 503 and caught.value.detail == "database is locked"


def test_a_410_is_pruned_by_policy() -> None:
    client = client_for(answer(410, json=problem(410, "below min_index")))
    with pytest.raises(PrunedByPolicy, match="retention policy"):
        client.entries_tile(0)


def test_an_answer_that_is_not_json_is_a_protocol_error() -> None:
    client = client_for(answer(200, text="<html>hello</html>"))
    with pytest.raises(ProtocolError, match="not JSON"):
        client.log_info()


def test_an_unreachable_server_is_named_in_the_message() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = AuditApiClient(f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(ServerUnreachable, match=f"127.0.0.1:{port}") as caught:
        client.checkpoint()
    assert caught.value.url == f"http://127.0.0.1:{port}"


@pytest.fixture
def self_signed_tls_server(tmp_path: Path) -> Iterator[int]:
    """A loopback TLS server with a self-signed certificate the client cannot verify."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with context.wrap_socket(conn, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    listener.close()
    thread.join(5)


def test_an_unverifiable_certificate_is_a_tls_error_naming_the_host(
    self_signed_tls_server: int,
) -> None:
    client = AuditApiClient(f"https://localhost:{self_signed_tls_server}", timeout=5)
    with pytest.raises(TlsError, match="localhost") as caught:
        client.checkpoint()
    assert caught.value.host == "localhost"


def test_no_message_or_repr_contains_the_token() -> None:
    client = client_for(answer(401, json=problem(401, "expired")))
    with pytest.raises(NotAuthenticated) as caught:
        client.checkpoint()
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    assert TOKEN not in repr(client)
    session = AuditApiClient("http://audit.test", transport=FakeLog().transport()).login(
        "ada@example.com", "right"
    )
    assert TOKEN not in repr(session)


def test_the_bearer_token_is_sent_in_the_authorization_header() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(200, text="note")

    client_for(handler).checkpoint()
    assert seen == [f"Bearer {TOKEN}"]


def test_tiles_are_fetched_at_their_tlog_tiles_paths() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, content=b"")

    client = client_for(handler)
    client.entries_tile(1234, 17)
    client.tile(1, 3)
    assert paths == ["/v1/log/tile/entries/x001/234.p/17", "/v1/log/tile/1/003"]


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("HTTP://Audit.Example.com:8765/", "http://audit.example.com:8765"),
        ("https://audit.example.com/base/", "https://audit.example.com/base"),
    ],
)
def test_server_urls_are_normalized(given: str, normal: str) -> None:
    assert normalize_server_url(given) == normal


@pytest.mark.parametrize("bad", ["audit.example.com", "ftp://x", "http://", "http://x/?a=1"])
def test_a_malformed_server_url_is_refused_with_a_reason(bad: str) -> None:
    with pytest.raises(ValueError, match="Server URL"):
        normalize_server_url(bad)
