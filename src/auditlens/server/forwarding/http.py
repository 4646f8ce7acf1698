"""The HTTP plumbing the HTTP destinations share: one client, gzip, network errors as retries."""

from __future__ import annotations

import zlib
from typing import Any

import httpx

from auditlens.server.forwarding.destination import ConfigError, RetryError, http_outcome


def gzip_bytes(data: bytes) -> bytes:
    """gzip at level 1: SIEM payloads are repetitive JSON, so level 1 already shrinks them ~8x
    while costing a fraction of the default level's CPU (the forwarder shares the server's)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def client(config: dict[str, Any]) -> httpx.Client:
    """An HTTP client honouring ``verify_tls`` / ``ca_file`` and ``timeout_seconds``."""
    verify: bool | str = bool(config.get("verify_tls", True))
    if config.get("ca_file"):
        verify = str(config["ca_file"])
    timeout = float(config.get("timeout_seconds", 30))
    return httpx.Client(verify=verify, timeout=timeout, headers={"User-Agent": "auditlens"})


def check_url(config: dict[str, Any], name: str = "url") -> str:
    url = config.get(name)
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise ConfigError(name, "must be an http(s):// URL")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ConfigError(name, "is not a valid URL") from None
    if not parsed.host or not url.isprintable():
        raise ConfigError(name, "must name a host, without control characters")
    return url.rstrip("/")


def post(
    http: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    vendor: str,
    *,
    compress: bool = True,
) -> httpx.Response:
    """POST ``body`` (gzipped unless told not to); a 2xx answer is returned, anything else
    raised per the shared retry rules."""
    if compress:
        body = gzip_bytes(body)
        headers = {**headers, "Content-Encoding": "gzip"}
    try:
        response = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise RetryError(f"{vendor} unreachable: {type(exc).__name__}: {exc}") from None
    if 200 <= response.status_code < 300:
        return response
    http_outcome(response.status_code, response.text, response.headers.get("retry-after"), vendor)
    return response  # pragma: no cover - http_outcome always raises
