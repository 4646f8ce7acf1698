"""Schemathesis hooks for the fuzz run: every error answer must be problem+json.

Loaded by ``schemathesis run`` through ``SCHEMATHESIS_HOOKS=tests.server.fuzz_hooks``.
"""

from __future__ import annotations

from typing import Any

import orjson
import schemathesis


@schemathesis.check
def errors_are_problem_json(ctx: Any, response: Any, case: Any) -> None:
    """A 4xx or 5xx answer is RFC 9457 problem+json with a matching ``status`` member."""
    if response.status_code < 400:
        return None
    media_type = response.headers.get("content-type", [""])
    media_type = media_type[0] if isinstance(media_type, list) else media_type
    if media_type.split(";")[0].strip() != "application/problem+json":
        raise AssertionError(f"{response.status_code} answer is {media_type!r}, not problem+json")
    body = orjson.loads(response.content)
    if body.get("status") != response.status_code or not body.get("type"):
        raise AssertionError(f"problem document does not match its status: {body}")
    return None
