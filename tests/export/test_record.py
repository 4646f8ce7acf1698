"""Recording an export as ``audit.exported``: a real HTTP server on loopback answers."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from auditlens.export.record import record_export
from auditlens.export.writer import ExportOptions, export
from tests.export.logs import MemoryLog

LOG = MemoryLog(20)


@dataclass
class Client:
    base_url: str
    token: str | None


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict], list[int]]]:
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
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", received, status
    httpd.shutdown()
    httpd.server_close()


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
