"""Syslog (RFC 5424) over TLS (RFC 5425), plain TCP (RFC 6587 octet counting) or UDP (RFC 5426).

Each event is one message: ``<PRI>1 TIMESTAMP HOSTNAME auditlens - MSGID [SD] BOM<JSON>`` with
facility ``log audit`` (13) by default, severity informational, notice for a failure and
warning for a denial (the event's verdict, as the viewer shows it), MSGID the event type (cut
to the 32 characters RFC 5424 allows), and the structured data element ``auditlens@32473``
carrying ``id``, ``type``, ``index``, ``origin`` and
``checkpoint`` (the signed checkpoint note covering the batch, base64: a note has newlines).
32473 is the private enterprise number RFC 5612 reserves for documentation; set ``sd_id`` to
your own ``name@PEN`` if your SIEM keys on it.

Acknowledgement: syslog has no application-level acknowledgement. Over TCP and TLS a batch
counts as delivered once every byte was written to the socket without error; a connection that
breaks mid-batch makes the whole batch be sent again (at least once). UDP can lose messages
silently and is meant for a relay on the same machine only.
"""

from __future__ import annotations

import base64
import select
import socket
import ssl
from typing import Any

import orjson

from auditlens.core.summaries import verdict_of
from auditlens.core.timestamps import format_timestamp
from auditlens.server.forwarding.destination import Batch, ConfigError, Record, RetryError

KIND = "syslog"
LABEL = "Syslog (RFC 5424 over TLS, TCP or UDP)"
SECRET = False
TRANSPORTS = ("tls", "tcp", "udp")
FACILITY_LOG_AUDIT = 13
_SEVERITY = {"denied": 4, "failure": 5}  # warning, notice; everything else informational (6)


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    host = out.get("host")
    if not isinstance(host, str) or not host or len(host) > 253 or not host.isprintable():
        raise ConfigError("host", "must be the syslog receiver's host name or address")
    transport = out.setdefault("transport", "tls")
    if transport not in TRANSPORTS:
        raise ConfigError("transport", f"must be one of {', '.join(TRANSPORTS)}")
    out.setdefault("port", 6514 if transport == "tls" else 514)
    if type(out["port"]) is not int or not 0 < out["port"] < 65536:
        raise ConfigError("port", "must be a TCP/UDP port number")
    out.setdefault("facility", FACILITY_LOG_AUDIT)
    if not isinstance(out["facility"], int) or not 0 <= out["facility"] <= 23:
        raise ConfigError("facility", "must be a syslog facility number from 0 to 23")
    out.setdefault("hostname", socket.gethostname())
    out.setdefault("sd_id", "auditlens@32473")
    out.setdefault("batch_size", 500)
    for name in ("hostname", "sd_id"):
        if not isinstance(out[name], str) or not out[name]:
            raise ConfigError(name, "must be a non-empty string")
    if not isinstance(out["batch_size"], int) or not 1 <= out["batch_size"] <= 10_000:
        raise ConfigError("batch_size", "must be an integer from 1 to 10000")
    for name in ("ca_file", "cert_file", "key_file"):
        if name in out and not isinstance(out[name], str):
            raise ConfigError(name, "must be a file path")
    return out


def _sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_token(value: str, limit: int) -> str:
    token = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return token or "-"


def severity(rec: Record) -> int:
    """The syslog severity of ``rec``: its verdict (:func:`~auditlens.core.summaries.verdict_of`,
    read from the parsed event, so the text ``"outcome":"failure"`` nested in a payload field
    cannot pass for the event's own outcome), or informational for an unreadable body."""
    try:
        event = orjson.loads(rec.body)
    except orjson.JSONDecodeError:
        return 6
    return _SEVERITY.get(verdict_of(event), 6) if isinstance(event, dict) else 6


def render(config: dict[str, Any], batch: Batch) -> list[bytes]:
    """The RFC 5424 messages of ``batch`` (without transport framing)."""
    host = _header_token(config["hostname"], 255)
    checkpoint = base64.b64encode(batch.checkpoint.encode()).decode()
    messages = []
    for rec in batch.records:
        pri = config["facility"] * 8 + severity(rec)
        sd = (
            f'[{config["sd_id"]} id="{_sd_value(rec.id)}" type="{_sd_value(rec.type)}" '
            f'index="{rec.index}" origin="{_sd_value(batch.origin)}" '
            f'checkpoint="{checkpoint}"]'
        )
        head = (
            f"<{pri}>1 {format_timestamp(rec.ts_ms)} {host} auditlens - "
            f"{_header_token(rec.type, 32)} {sd} "
        )
        messages.append(head.encode("utf-8") + b"\xef\xbb\xbf" + rec.body)
    return messages


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the receiver closed a stream connection (readable with nothing to read)."""
    if sock.type != socket.SOCK_STREAM:
        return False
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    if isinstance(sock, ssl.SSLSocket):
        return True  # a receiver sends nothing on its own: readable means close_notify or EOF
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ssl.SSLError):
        return True


class Syslog:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.max_records = int(config["batch_size"])
        self.sock: socket.socket | None = None

    def _context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.config.get("ca_file"))
        if self.config.get("cert_file"):
            context.load_cert_chain(self.config["cert_file"], self.config.get("key_file"))
        if self.config.get("verify_tls") is False:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> socket.socket:
        host, port, transport = self.config["host"], self.config["port"], self.config["transport"]
        if transport == "udp":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect((host, port))
            return sock
        sock = socket.create_connection((host, port), timeout=30)
        if transport == "tls":
            return self._context().wrap_socket(sock, server_hostname=host)
        return sock

    def send(self, batch: Batch) -> None:
        messages = render(self.config, batch)
        try:
            if self.sock is not None and _peer_closed(self.sock):
                self.close()  # a write to a half-closed socket would "succeed" into the void
            if self.sock is None:
                self.sock = self._connect()
            if self.config["transport"] == "udp":
                for msg in messages:
                    self.sock.send(msg)
            else:
                framed = b"".join(b"%d %s" % (len(m), m) for m in messages)
                self.sock.sendall(framed)
        except (OSError, ssl.SSLError) as exc:
            self.close()
            raise RetryError(f"syslog {self.config['host']}:{self.config['port']}: {exc}") from None

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None


def connect(config: dict[str, Any], secret: str | None) -> Syslog:
    return Syslog(config)
