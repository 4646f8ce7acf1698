"""Recording an export as ``audit.exported``: a real HTTP server on loopback answers."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from auditlens.client.api import AuditApiClient
from auditlens.export.record import attester, record_export
from auditlens.export.writer import (
    AttestationUnavailableError,
    AttestRequest,
    ExportOptions,
    export,
)
from tests.export.logs import MemoryLog
from tests.server.test_forwarding_syslog import make_pki

LOG = MemoryLog(20)


def Client(base_url: str, token: str | None) -> AuditApiClient:
    return AuditApiClient(base_url, token, timeout=5)


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[dict], list[int]]]:
    """A loopback server recording each POST and answering ``status[0]`` (HTTPS with ``tls``)."""
    received: list[dict] = []
    status = [201]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(
                {"path": self.path, "auth": self.headers["Authorization"], "json": json.loads(body)}
            )
            self.send_response(status[0])
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"index": 20, "id": "log_X"}')

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    try:
        yield f"{scheme}://localhost:{httpd.server_address[1]}", received, status
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict], list[int]]]:
    with serving() as running:
        yield running


def _result(tmp_path: Path):  # type: ignore[no-untyped-def]
    return export(LOG.snapshot([1, 2, 3]), ExportOptions("csv", tmp_path / "e.csv", {"x": 1}))


def test_a_recorded_export_posts_format_count_filter_and_hash(server, tmp_path: Path) -> None:
    url, received, _ = server
    result = _result(tmp_path)
    outcome = record_export(Client(url, "tok"), result)
    assert outcome.recorded and "index 20" in outcome.message
    [request] = received
    assert request["path"] == "/v1/audit-logs/exports"
    assert request["auth"] == "Bearer tok"
    assert request["json"]["format"] == "csv"
    assert request["json"]["count"] == 3
    assert request["json"]["filter"] == {"x": 1}
    assert request["json"]["sha256"] == result.sha256
    assert request["json"]["evidence_sha256"] == result.evidence_sha256


def test_a_server_without_the_route_leaves_the_export_unrecorded(server, tmp_path: Path) -> None:
    url, _, status = server
    status[0] = 404
    outcome = record_export(Client(url, "tok"), _result(tmp_path))
    assert not outcome.recorded
    assert "does not support recording exports" in outcome.message
    assert (tmp_path / "e.csv").exists()


def test_an_unreachable_server_leaves_the_export_unrecorded(tmp_path: Path) -> None:
    outcome = record_export(Client("http://127.0.0.1:9", "tok"), _result(tmp_path))
    assert not outcome.recorded
    assert "tok" not in outcome.message


def test_the_record_goes_through_the_client_with_its_tls_settings(tmp_path: Path) -> None:
    """A server whose certificate a private CA signed: the client's CA setting must reach it."""
    pki = make_pki(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(pki["server_cert"], pki["server_key"])
    with serving(server_tls) as (url, received, _):
        result = _result(tmp_path)
        trusting = ssl.create_default_context(cafile=str(pki["ca"]))
        client = AuditApiClient(url, "tok", verify_tls=trusting, timeout=5)
        outcome = record_export(client, result)
        assert outcome.recorded, outcome.message
        assert [r["path"] for r in received] == ["/v1/audit-logs/exports"]

        untrusting = AuditApiClient(url, "tok", timeout=5)  # the system's CAs only
        refused = record_export(untrusting, result)
        assert not refused.recorded and "TLS certificate of localhost" in refused.message
        request = AttestRequest("csv", {"x": 1}, 20, 3, "e.csv")
        with pytest.raises(AttestationUnavailableError, match="TLS certificate"):
            attester(untrusting)(request)
        assert len(received) == 1  # nothing reached the server without the CA
