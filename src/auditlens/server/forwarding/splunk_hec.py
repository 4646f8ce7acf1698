"""Splunk HTTP Event Collector: ``POST /services/collector/event``, batched, gzip.

Each event is one HEC event object: ``time`` (epoch seconds with milliseconds), ``host``,
``source`` (default: the log's origin), ``sourcetype`` (default ``auditlens:event``), ``index``
(when configured), ``event`` (the exact canonical JSON of the audit event) and indexed
``fields``: ``auditlens_index``, ``auditlens_id``, ``auditlens_origin`` and
``auditlens_checkpoint`` (the signed checkpoint note covering the batch). HEC's answers: 400 is
a bad event (``invalid-event-number`` locates it: the events before it were indexed, it goes to
the dead letters, the rest is sent again); 401/403 is a bad token (stop and report); 429, 503
and other 5xx are retried with back-off.
"""

from __future__ import annotations

import socket
from typing import Any

import orjson

from auditlens.server.forwarding import http
from auditlens.server.forwarding.destination import (
    Batch,
    ConfigError,
    RefusedError,
    check_format,
    payload,
)

KIND = "splunk_hec"
LABEL = "Splunk HTTP Event Collector"
SECRET = True
PATH = "/services/collector/event"


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    out["url"] = http.check_url(config)
    out.setdefault("sourcetype", "auditlens:event")
    out.setdefault("host", socket.gethostname())
    out.setdefault("batch_size", 1000)
    check_format(out)
    for name in ("sourcetype", "host", "index", "source"):
        if name in out and (not isinstance(out[name], str) or not out[name]):
            raise ConfigError(name, "must be a non-empty string")
    if not isinstance(out["batch_size"], int) or not 1 <= out["batch_size"] <= 10_000:
        raise ConfigError("batch_size", "must be an integer from 1 to 10000")
    return out


class SplunkHec:
    def __init__(self, config: dict[str, Any], token: str) -> None:
        self.config = config
        self.url = config["url"] + PATH
        self.max_records = int(config["batch_size"])
        self.headers = {"Authorization": f"Splunk {token}", "Content-Type": "application/json"}
        self.http = http.client(config)

    def render(self, batch: Batch) -> bytes:
        base: dict[str, Any] = {
            "host": self.config["host"],
            "source": self.config.get("source") or batch.origin,
            "sourcetype": self.config["sourcetype"],
        }
        if self.config.get("index"):
            base["index"] = self.config["index"]
        parts = []
        for rec in batch.records:
            fields = {
                "auditlens_index": rec.index,
                "auditlens_id": rec.id,
                "auditlens_origin": batch.origin,
                "auditlens_checkpoint": batch.checkpoint,
            }
            item = {
                "time": round(rec.ts_ms / 1000, 3),
                **base,
                "event": orjson.Fragment(payload(self.config, batch, rec)),
                "fields": fields,
            }
            parts.append(orjson.dumps(item))
        return b"\n".join(parts)

    def send(self, batch: Batch) -> None:
        try:
            http.post(self.http, self.url, self.render(batch), self.headers, "Splunk HEC")
        except RefusedError as exc:
            position = _invalid_event_number(exc.reason)
            if position is not None:
                raise RefusedError(exc.reason, position=position, accepted=position) from None
            raise

    def close(self) -> None:
        self.http.close()


def _invalid_event_number(text: str) -> int | None:
    """HEC's ``invalid-event-number`` from an error answer quoted in ``text``."""
    start = text.find("{")
    if start < 0:
        return None
    try:
        answer = orjson.loads(text[start:])
    except orjson.JSONDecodeError:
        return None
    number = answer.get("invalid-event-number") if isinstance(answer, dict) else None
    return number if isinstance(number, int) and number >= 0 else None


def connect(config: dict[str, Any], secret: str) -> SplunkHec:
    return SplunkHec(config, secret)
