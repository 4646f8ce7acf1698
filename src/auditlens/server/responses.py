"""Fast JSON responses: orjson for built objects, raw bytes for pages spliced from the log.

A page of the audit log is assembled from the stored canonical bytes of each event without
parsing or re-serializing them (``splice_page``), which keeps the server's page rate near the
network's rather than the JSON encoder's (docs/benchmarks.md: ~71k ev/s re-serialized per request).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from starlette.responses import JSONResponse


class JSONBytes(JSONResponse):
    """``application/json`` encoded with orjson (or given as ready bytes).

    A :class:`JSONResponse` subclass so that OpenAPI documents the routes' response models.
    """

    def render(self, content: Any) -> bytes:
        return content if isinstance(content, bytes) else orjson.dumps(content)


def splice_page(items: Sequence[tuple[int, bytes]], next_cursor: str | None) -> bytes:
    """``{"items": [{"index": i, "event": <bytes>}, ...], "next_cursor": ...}`` as bytes."""
    parts = [b'{"index":%d,"event":%s}' % (index, body) for index, body in items]
    return b'{"items":[' + b",".join(parts) + b'],"next_cursor":' + orjson.dumps(next_cursor) + b"}"
