"""Datadog Logs, the v2 intake: ``POST https://http-intake.logs.<site>/api/v2/logs``, gzip.

Each log is ``{"ddsource": "auditlens", "ddtags", "hostname", "service", "timestamp" (ms),
"message": <the canonical JSON of the event>, "auditlens": {"index", "id", "type", "origin",
"checkpoint"}}``; the ``auditlens`` attributes carry the signed checkpoint covering the batch.
Datadog's limits are kept on the sending side: at most 1,000 logs and 5 MB (uncompressed) per
request; a larger batch goes out as several requests, in order. ``url`` overrides the intake
URL (a proxy or a test receiver); otherwise ``site`` (default ``datadoghq.com``) chooses it.
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

KIND = "datadog"
LABEL = "Datadog Logs"
SECRET = True
MAX_ENTRIES = 1000
MAX_BYTES = 5 * 1024 * 1024


def check_config(config: dict[str, Any]) -> dict[str, Any]:
    out = dict(config)
    site = out.setdefault("site", "datadoghq.com")
    if not isinstance(site, str) or not site or "/" in site:
        raise ConfigError("site", "must be a Datadog site such as datadoghq.eu")
    out["url"] = (
        http.check_url(out) if out.get("url") else f"https://http-intake.logs.{site}/api/v2/logs"
    )
    out.setdefault("service", "auditlens")
    check_format(out)
    out.setdefault("ddtags", "")
    out.setdefault("hostname", socket.gethostname())
    for name in ("service", "hostname"):
        if not isinstance(out[name], str) or not out[name]:
            raise ConfigError(name, "must be a non-empty string")
    if not isinstance(out["ddtags"], str):
        raise ConfigError("ddtags", "must be a string like env:prod,team:security")
    return out


class Datadog:
    max_records = MAX_ENTRIES

    def __init__(self, config: dict[str, Any], api_key: str) -> None:
        self.config = config
        self.headers = {"DD-API-KEY": api_key, "Content-Type": "application/json"}
        self.http = http.client(config)

    def _entry(self, batch: Batch, index: int) -> bytes:
        rec = batch.records[index]
        return orjson.dumps(
            {
                "ddsource": "auditlens",
                "ddtags": self.config["ddtags"],
                "hostname": self.config["hostname"],
                "service": self.config["service"],
                "timestamp": rec.ts_ms,
                "message": payload(self.config, batch, rec).decode("utf-8"),
                "auditlens": {
                    "index": rec.index,
                    "id": rec.id,
                    "type": rec.type,
                    "origin": batch.origin,
                    "checkpoint": batch.checkpoint,
                },
            }
        )

    def send(self, batch: Batch) -> None:
        entries = [self._entry(batch, i) for i in range(len(batch.records))]
        start = 0
        while start < len(entries):
            end, size = start, 2
            while end < len(entries) and end - start < MAX_ENTRIES:
                if size + len(entries[end]) + 1 > MAX_BYTES and end > start:
                    break
                size += len(entries[end]) + 1
                end += 1
            body = b"[" + b",".join(entries[start:end]) + b"]"
            try:
                http.post(self.http, self.config["url"], body, self.headers, "Datadog")
            except RefusedError as exc:
                if start:  # the requests before were stored: resend only from here
                    raise RefusedError(exc.reason, position=None, accepted=start) from None
                raise
            start = end

    def close(self) -> None:
        self.http.close()


def connect(config: dict[str, Any], secret: str) -> Datadog:
    return Datadog(config, secret)
