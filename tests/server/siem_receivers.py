"""Local receivers that implement the SIEM vendors' documented HTTP contracts, for the tests.

* Splunk HEC (``POST /services/collector/event``): ``Authorization: Splunk <token>`` (missing:
  401 code 2, wrong: 403 code 4), a body of concatenated JSON event objects, gzip allowed;
  each event needs ``event`` and a numeric ``time``; a bad event answers 400 ``{"text":
  "Invalid data format", "code": 6, "invalid-event-number": n}`` with the events before it
  indexed; success is 200 ``{"text": "Success", "code": 0}``.
* Datadog Logs v2 (``POST /api/v2/logs``): ``DD-API-KEY`` (wrong: 403), a JSON array of at most
  1,000 logs and 5 MB uncompressed, gzip allowed; 413 beyond; 202 ``{}`` on success.
* Standard Webhooks: the signature is checked with the specification's algorithm
  (HMAC-SHA256 of ``id.timestamp.body``, base64, ``v1,`` prefix, space-separated list).

Every receiver can be told to answer the next requests with given statuses (``script``), to
refuse events whose JSON contains a marker (``poison``: the SIEM-side "malformed" rule), and
to hang (``hold``) so a test can kill the sender mid-batch.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_DD_ENTRIES = 1000
MAX_DD_BYTES = 5 * 1024 * 1024


@dataclass
class Received:
    """What a receiver stored, and when each request arrived."""

    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[float, int, dict[str, str]]] = field(default_factory=list)
    batches: list[tuple[float, list[int]]] = field(default_factory=list)
    """When each wholly accepted request was stored, and the log indexes it carried."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def decode_hec(body: bytes) -> list[Any]:
    """Split HEC's concatenated JSON objects (whitespace between them allowed)."""
    decoder = json.JSONDecoder()
    text, pos, out = body.decode("utf-8"), 0, []
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        obj, pos = decoder.raw_decode(text, pos)
        out.append(obj)


def verify_standard_webhook(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks verification algorithm, written from the specification."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(time.time() - int(ts)) > 5 * 60:
        return False
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, sig = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


class Receiver:
    """A threaded HTTP server on loopback with one vendor's contract (``kind``)."""

    def __init__(self, kind: str, secret: str, port: int = 0) -> None:
        self.kind = kind
        self.secret = secret
        self.got = Received()
        self.script: list[tuple[int, dict[str, str]]] = []
        self.poison: str | None = None
        self.hold = threading.Event()
        self.release = threading.Event()
        self.on_request: Callable[[], None] | None = None
        self._port = port
        self.server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()  # answer without Nagle's delay, like a production server
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                receiver.handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self.server.daemon_threads = True
        self._port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Go down: connections are refused until :meth:`start`."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def count(self) -> int:
        with self.got.lock:
            return len(self.got.events)

    def indexes(self) -> list[int]:
        with self.got.lock:
            return [index_of(self.kind, e) for e in self.got.events]

    def _answer(self, h: BaseHTTPRequestHandler, status: int, body: Any, **headers: str) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("Content-Length", "0")))
        headers = {k.lower(): v for k, v in h.headers.items()}
        body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
        with self.got.lock:
            self.got.requests.append((time.monotonic(), len(body), headers))
        if self.on_request is not None:
            self.on_request()  # e.g. set ``hold`` once enough was stored
        if self.hold.is_set():
            self.release.wait(60)
            return  # never answers: the sender sees a broken connection
        if self.script:
            status, extra = self.script.pop(0)
            self._answer(h, status, {"text": "scripted", "code": 9}, **extra)
            return
        getattr(self, f"_{self.kind}")(h, headers, body)

    def _splunk_hec(self, h: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> None:
        if h.path != "/services/collector/event":
            self._answer(h, 404, {"text": "The requested URL was not found", "code": 404})
            return
        auth = headers.get("authorization", "")
        if not auth.startswith("Splunk "):
            self._answer(h, 401, {"text": "Token is required", "code": 2})
            return
        if auth != f"Splunk {self.secret}":
            self._answer(h, 403, {"text": "Invalid token", "code": 4})
            return
        events = decode_hec(body)
        for n, ev in enumerate(events):
            bad = not isinstance(ev.get("time"), int | float) or "event" not in ev
            if bad or (self.poison and self.poison in json.dumps(ev["event"])):
                with self.got.lock:
                    self.got.events.extend(events[:n])
                self._answer(
                    h, 400, {"text": "Invalid data format", "code": 6, "invalid-event-number": n}
                )
                return
        with self.got.lock:
            self.got.events.extend(events)
            self.got.batches.append((time.monotonic(), [index_of(self.kind, e) for e in events]))
        self._answer(h, 200, {"text": "Success", "code": 0})

    def _datadog(self, h: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> None:
        if h.path != "/api/v2/logs":
            self._answer(h, 404, {"errors": ["not found"]})
            return
        if headers.get("dd-api-key") != self.secret:
            self._answer(h, 403, {"errors": ["Forbidden"]})
            return
        logs = json.loads(body)
        if len(body) > MAX_DD_BYTES or len(logs) > MAX_DD_ENTRIES:
            self._answer(h, 413, {"errors": ["Payload too large"]})
            return
        if self.poison and any(self.poison in log["message"] for log in logs):
            self._answer(h, 400, {"errors": ["Bad request"]})
            return
        with self.got.lock:
            self.got.events.extend(logs)
        self._answer(h, 202, {})

    def _webhook(self, h: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> None:
        if not verify_standard_webhook(self.secret, headers, body):
            self._answer(h, 401, {"error": "bad signature"})
            return
        payload = json.loads(body)
        if self.poison and self.poison in body.decode():
            self._answer(h, 400, {"error": "malformed"})
            return
        with self.got.lock:
            for item in payload["events"]:
                self.got.events.append({**item, "checkpoint": payload["checkpoint"]})
        self._answer(h, 200, {})


def index_of(kind: str, event: dict[str, Any]) -> int:
    if kind == "splunk_hec":
        return int(event["fields"]["auditlens_index"])
    if kind == "datadog":
        return int(event["auditlens"]["index"])
    return int(event["index"])


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")
