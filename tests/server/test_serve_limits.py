"""``auditlens serve`` as a real process: read deadlines, the connection cap, proxy trust."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.serve_process import ServeProcess, serve


def _open_stalled(port: int, first_bytes: bytes) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if first_bytes:
        s.sendall(first_bytes)
    return s


def _closed_by_server(s: socket.socket, wait: float) -> bool:
    """True when the server closed ``s`` (EOF or reset) within ``wait`` seconds."""
    s.settimeout(wait)
    try:
        while True:
            data = s.recv(4096)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


@pytest.mark.slow
def test_stalled_connections_are_closed_by_the_read_deadlines(tmp_path: Path) -> None:
    partial_head = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n"
    partial_body = (
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"email":'
    )
    options = ("--header-timeout", "2", "--body-timeout", "3", "--max-connections", "1000")
    with serve(tmp_path, *options) as server:
        stalled = [
            _open_stalled(server.port, (b"", partial_head, partial_body)[n % 3]) for n in range(300)
        ]
        try:
            # A client that trickles its head a byte at a time cannot stretch the deadline.
            trickler = _open_stalled(server.port, b"G")
            for byte in b"ET /v1/health HTTP/1.1\r\n":
                time.sleep(0.2)
                try:
                    trickler.sendall(bytes([byte]))
                except OSError:
                    break
            stalled.append(trickler)
            assert httpx.get(f"{server.url}/v1/health").status_code == 200
            time.sleep(3.5)
            still_open = [s for s in stalled if not _closed_by_server(s, 0.5)]
            assert not still_open, f"{len(still_open)} of {len(stalled)} stalled connections open"
            assert httpx.get(f"{server.url}/v1/health").status_code == 200
        finally:
            for s in stalled:
                s.close()


@pytest.mark.slow
def test_connections_beyond_the_cap_get_503_until_stalled_ones_expire(tmp_path: Path) -> None:
    with serve(tmp_path, "--max-connections", "8", "--header-timeout", "2") as server:
        idle = [_open_stalled(server.port, b"") for _ in range(8)]
        try:
            time.sleep(0.2)
            r = httpx.get(f"{server.url}/v1/health")
            assert r.status_code == 503
            assert r.headers["content-type"] == "application/problem+json"
            assert r.headers["retry-after"] == "1"
            time.sleep(2.5)
            assert httpx.get(f"{server.url}/v1/health").status_code == 200
        finally:
            for s in idle:
                s.close()


def _login_from(
    server: ServeProcess, source: str, email: str, password: str, **headers: str
) -> Any:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=30) as http:
        return http.post(
            f"{server.url}/v1/auth/login",
            json={"email": email, "password": password},
            headers=headers,
        )


def _reader_token(server: ServeProcess) -> str:
    with httpx.Client(timeout=30) as http:
        return server.admin_token(http)


def _latest_login_request(server: ServeProcess, token: str, outcome: str) -> dict[str, Any]:
    with httpx.Client(timeout=30) as http:
        r = http.get(
            f"{server.url}/v1/audit-logs",
            params={"type": "auth.login", "outcome": outcome, "limit": 1},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert r.status_code == 200, r.text
    request: dict[str, Any] = r.json()["items"][0]["event"]["event"]["request"]
    return request


@pytest.mark.slow
def test_a_local_client_cannot_forge_its_address(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        token = _reader_token(server)
        email = server.admin_email
        forged = [
            _login_from(
                server, "127.0.0.1", email, "wrong-guess", **{"X-Forwarded-For": f"10.9.0.{n}"}
            )
            for n in range(6)
        ]
        # The pair budget (5) counted every attempt as 127.0.0.1's: rotating forged addresses
        # does not get around it ...
        assert [r.status_code for r in forged] == [401] * 5 + [429]
        assert _latest_login_request(server, token, "failure")["ip"] == "127.0.0.1"
        # ... and the forged addresses were not locked out: the real 10.9.0.x is not ours to
        # test on loopback, but another local address claimed in the header is.
        victim = _login_from(server, "127.0.0.5", email, server.admin_password)
        assert victim.status_code == 200
        assert _latest_login_request(server, token, "success")["ip"] == "127.0.0.5"
        spoof = _login_from(
            server, "127.0.0.1", email, "wrong-guess", **{"X-Forwarded-For": "127.0.0.6"}
        )
        assert spoof.status_code == 429
        assert _login_from(server, "127.0.0.6", email, server.admin_password).status_code == 200


@pytest.mark.slow
def test_forwarded_headers_count_from_the_proxies_named(tmp_path: Path) -> None:
    with serve(tmp_path, "--forwarded-allow-ips", "127.0.0.1") as server:
        token = _reader_token(server)
        r = _login_from(
            server, "127.0.0.1", server.admin_email, server.admin_password,
            **{"X-Forwarded-For": "203.0.113.9"},
        )  # fmt: skip
        assert r.status_code == 200
        assert _latest_login_request(server, token, "success")["ip"] == "203.0.113.9"
        r = _login_from(
            server, "127.0.0.2", server.admin_email, server.admin_password,
            **{"X-Forwarded-For": "203.0.113.10"},
        )  # fmt: skip
        assert r.status_code == 200
        assert _latest_login_request(server, token, "success")["ip"] == "127.0.0.2"
