"""A generic HTTPS webhook signed per the Standard Webhooks specification.

One POST per batch with the JSON body ``{"type": "auditlens.events", "origin", "checkpoint",
"events": [{"index", "id", "event"}]}`` and the headers ``webhook-id`` (``<forwarder id>.<first
index>-<last index>``: the same on every retry, so a receiver can drop a repeated delivery),
``webhook-timestamp`` (epoch seconds) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256 of
"<id>.<timestamp>.<body>">`` keyed with the base64 part of the ``whsec_`` secret. 2xx
acknowledges; 400/413/422 refuse the events as malformed; 401/403 and 410 stop the forwarder;
408, 429 and 5xx are retried. The body is sent uncompressed (the signature covers exactly
the bytes on the wire, and receivers of the specification do not expect gzip).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

import orjson

from auditlens.server.forwarding import http
from auditlens.server.forwarding.destination import Batch, ConfigError, check_format, payload

KIND = "webhook"
LABEL = "HTTPS webhook (Standard Webhooks)"
SECRET = True
PREFIX = "whsec_"


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    out["url"] = http.check_url(out)
    out.setdefault("batch_size", 500)
    check_format(out)
    if not isinstance(out["batch_size"], int) or not 1 <= out["batch_size"] <= 10_000:
        raise ConfigError("batch_size", "must be an integer from 1 to 10000")
    return out


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret."""
    if not secret.startswith(PREFIX):
        raise ConfigError("secret", "a Standard Webhooks secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except binascii.Error:
        raise ConfigError("secret", "the part after whsec_ must be base64") from None
    if len(key) < 24:
        raise ConfigError("secret", "must hold at least 24 random bytes")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class Webhook:
    def __init__(self, config: dict[str, Any], secret: str) -> None:
        self.config = config
        self.key = secret_key(secret)
        self.max_records = int(config["batch_size"])
        self.http = http.client(config)

    def send(self, batch: Batch) -> None:
        recs = batch.records
        body = orjson.dumps(
            {
                "type": "auditlens.events",
                "origin": batch.origin,
                "checkpoint": batch.checkpoint,
                "events": [
                    {
                        "index": r.index,
                        "id": r.id,
                        "event": orjson.Fragment(payload(self.config, batch, r)),
                    }
                    for r in recs
                ],
            }
        )
        msg_id = f"{batch.forwarder_id}.{recs[0].index}-{recs[-1].index}"
        ts = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(ts),
            "webhook-signature": sign(self.key, msg_id, ts, body),
        }
        http.post(self.http, self.config["url"], body, headers, "webhook", compress=False)

    def close(self) -> None:
        self.http.close()


def connect(config: dict[str, Any], secret: str) -> Webhook:
    return Webhook(config, secret)
