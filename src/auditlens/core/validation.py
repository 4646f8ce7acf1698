"""What an audit event (or a submission) may contain: the server's ingest validation.

Validation decisions (what is rejected, and why):

- Exactly the top-level fields ``id, timestamp, type, user_id, task_id, agent_id, event``; a
  submission (what a platform POSTs) has the same fields *without* ``id`` and ``timestamp``,
  whose presence is an error because the server assigns both when it appends.
- JSON types only; **no floats anywhere** (decimals travel as strings) and ``bool`` is not an
  integer; integers within ±(2^53−1); lone surrogates rejected; nesting at most 32 levels; the
  canonical (RFC 8785) form at most 65,535 bytes (an entry bundle stores a 16-bit length).
- ``id``: ``log_`` + a 26-character uppercase Crockford base32 ULID, exactly as
  :class:`EventIdGenerator` writes it. ``timestamp``: exactly ``YYYY-MM-DDTHH:MM:SS.mmmZ``.
  The id's time is *not* required to equal the timestamp: both come from the server, and a
  validator that re-derives server invariants would reject logs for the wrong reason.
- ``type`` must be in the catalogue (the server rejects unknown types). Readers of a newer
  server's log may pass ``allow_unknown_types=True``: the type must then still look like
  ``<category>.<action>``.
- ``user_id``/``task_id``/``agent_id``: a non-empty string of at most 256 characters, or null.
- ``event``: an object with ``outcome`` ``"success"`` or ``"failure"``. Required beyond that only
  where architecture.md §3 makes a field part of the type's meaning: ``tool`` on ``agent.action``,
  ``reason`` on ``approval.denied`` (both non-empty strings). Everything else it lists as a common
  field is optional, but when present it must have the type every consumer expects (strings are
  strings, ``duration_ms``/``count``/``min_index``/``policy_days`` non-negative integers, ``params``
  an object, ``request`` an object of ``ip``/``user_agent`` strings, ``direction`` ``upgrade`` or
  ``downgrade``); ``null`` is accepted for an optional field, since many producers write absent
  values that way. ``error`` may be a string or an object (platforms often send ``{code,
  message}``); ``filter`` a string or an object; ``threshold``/``value`` an integer or a decimal
  string. Unknown extra fields are allowed: event types need more fields than the common ones
  (architecture.md §3: types may add fields).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson

from auditlens.core.canonical import MAX_SAFE_INTEGER, canonicalize_event
from auditlens.core.errors import got
from auditlens.core.event_ids import is_event_id
from auditlens.core.events import (
    EVENT_FIELDS,
    EVENT_TYPES,
    MAX_DEPTH,
    MAX_EVENT_BYTES,
    MAX_ID_LENGTH,
    OUTCOMES,
    SUBMISSION_FIELDS,
    TYPE_SHAPE,
    EventError,
)
from auditlens.core.timestamps import TS_EXAMPLE, is_canonical_timestamp

_SURROGATE: Final = re.compile("[\ud800-\udfff]")

_STRING_FIELDS: Final = frozenset(
    {
        "method", "provider", "key_id", "key_prefix", "key_name", "failure_reason",
        "title", "cancelled_by", "tool", "url", "path", "language", "approval_id",
        "approver_id", "reason", "integration", "integration_id", "from_plan", "to_plan",
        "metric", "member_id", "member_email", "role", "from_role", "to_role", "format",
        "sha256",
    }
)  # fmt: skip
_COUNT_FIELDS: Final = frozenset({"duration_ms", "count", "min_index", "policy_days"})
_CHECKED_FIELDS: Final = _STRING_FIELDS | _COUNT_FIELDS | {
    "params", "error", "filter", "threshold", "value", "direction", "request",
}  # fmt: skip
"""Every field name :func:`_check_common_field` has a rule for; other fields skip the call."""
_REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "agent.action": ("tool",),
    "approval.denied": ("reason",),
}


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _check_json(value: object, path: str, depth: int = 0) -> None:
    """Raise :class:`EventError` at the first value that is not plain, integral JSON."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            raise EventError(path, "must be valid Unicode text, got a lone surrogate")
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise EventError(path, f"must be an integer within ±(2^53−1), got {value}")
        return
    if isinstance(value, float):
        raise EventError(path, f"must not be a float (send decimals as strings), got {value!r}")
    if depth >= MAX_DEPTH:
        raise EventError(path, f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EventError(path, f"has a non-string member name {key!r}")
            _check_json(key, _join(path, key), depth + 1)
            _check_json(item, _join(path, key), depth + 1)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{path}[{i}]", depth + 1)
        return
    raise EventError(path, f"must be a JSON value, got {got(value)}")


def _plain_dict(obj: dict[Any, Any], depth: int) -> bool:
    """True when ``_check_json(obj)`` passes AND ``obj`` holds only exact JSON types.

    The cheap common case of validation: exact ``dict``/``list``/``str``/``int``/``bool``/
    ``None`` (no subclasses), ``str`` member names, no lone surrogates, integers within
    ±(2^53−1), containers nested less than :data:`MAX_DEPTH` deep. It builds no paths;
    anything it does not vouch for goes through :func:`_check_json`, which finds and names the
    problem, so the errors are unchanged. For such a value orjson writes exactly the canonical
    bytes up to member order, which is what lets :func:`_validate` measure the size cheaply.
    """
    if depth >= MAX_DEPTH:
        return False
    for key in obj:
        if type(key) is not str:
            return False
    if not _plain_values(obj.values(), depth):
        return False
    names = "".join(obj)
    return names.isascii() or not _SURROGATE.search(names)


def _plain_values(values: Iterable[Any], depth: int) -> bool:
    """:func:`_plain_dict` for the members of an object or the items of an array."""
    for value in values:
        kind = type(value)
        if kind is str:
            if not value.isascii() and _SURROGATE.search(value):
                return False
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                return False
        elif value is None or kind is bool:
            pass
        elif kind is dict:
            if not _plain_dict(value, depth + 1):
                return False
        elif kind is list:
            if depth + 1 >= MAX_DEPTH or not _plain_values(value, depth + 1):
                return False
        else:
            return False
    return True


def _check_top_level(obj: object, fields: tuple[str, ...], assigned: tuple[str, ...]) -> None:
    if not isinstance(obj, Mapping):
        raise EventError("", f"must be a JSON object, got {got(obj)}")
    for name in assigned:
        if name in obj:
            raise EventError(
                name, "must not be sent: the server assigns id and timestamp when it appends"
            )
    for name in fields:
        if name not in obj:
            raise EventError(name, f"is required (the fields are: {', '.join(fields)})")
    extra = sorted(str(k) for k in obj if k not in fields)
    if extra:
        raise EventError(
            extra[0], f"is not an event field (the fields are exactly: {', '.join(fields)})"
        )


def _check_reference(obj: Mapping[str, object], name: str) -> None:
    value = obj[name]
    if value is None:
        return
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise EventError(
            name,
            f"must be a non-empty string of at most {MAX_ID_LENGTH} characters or null, "
            f"got {got(value)}",
        )


def _check_type(value: object, allow_unknown: bool) -> str:
    if isinstance(value, str) and (
        value in EVENT_TYPES or (allow_unknown and TYPE_SHAPE.fullmatch(value))
    ):
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, sorted(EVENT_TYPES), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
    raise EventError(
        "type",
        f'must be a known event type such as "agent.action", got {got(value)}{hint}',
    )


def _check_body(body: object, event_type: str) -> None:
    if not isinstance(body, Mapping):
        raise EventError("event", f"must be an object of event fields, got {got(body)}")
    if "outcome" not in body:
        raise EventError("event.outcome", 'is required: "success" or "failure"')
    if body["outcome"] not in OUTCOMES:
        raise EventError(
            "event.outcome",
            f'must be "success" or "failure", got {got(body["outcome"])}',
        )
    for name in _REQUIRED.get(event_type, ()):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            what = "is required" if value is None else f"got {got(value)}"
            raise EventError(
                f"event.{name}", f"must be a non-empty string on {event_type} ({what})"
            )
    for name, value in body.items():
        if value is not None and name in _CHECKED_FIELDS:
            _check_common_field(name, value)


def _check_common_field(name: str, value: object) -> None:
    field = f"event.{name}"
    if name in _STRING_FIELDS and not isinstance(value, str):
        raise EventError(field, f"must be a string, got {got(value)}")
    if name in _COUNT_FIELDS and (
        isinstance(value, bool) or not isinstance(value, int) or value < 0
    ):
        raise EventError(field, f"must be a non-negative integer, got {got(value)}")
    if name == "params" and not isinstance(value, Mapping):
        raise EventError(field, f"must be an object of the tool's parameters, got {got(value)}")
    if name in ("error", "filter") and not isinstance(value, str | Mapping):
        raise EventError(field, f"must be a string or an object, got {got(value)}")
    if name in ("threshold", "value") and (
        isinstance(value, bool) or not isinstance(value, int | str)
    ):
        raise EventError(field, f"must be an integer or a decimal string, got {got(value)}")
    if name == "direction" and value not in ("upgrade", "downgrade"):
        raise EventError(field, f'must be "upgrade" or "downgrade", got {got(value)}')
    if name == "request":
        if not isinstance(value, Mapping):
            raise EventError(field, f"must be an object with ip and user_agent, got {got(value)}")
        for key in ("ip", "user_agent"):
            item = value.get(key)
            if item is not None and not isinstance(item, str):
                raise EventError(f"{field}.{key}", f"must be a string, got {got(item)}")


def _validate(obj: object, *, submission: bool, allow_unknown_types: bool) -> None:
    if submission:
        _check_top_level(obj, SUBMISSION_FIELDS, ("id", "timestamp"))
    else:
        _check_top_level(obj, EVENT_FIELDS, ())
    assert isinstance(obj, Mapping)  # narrowed by _check_top_level
    plain = type(obj) is dict and _plain_dict(obj, 0)
    if not plain:
        _check_json(obj, "")  # finds and names the problem (or passes an unusual but valid value)
    if not submission:
        if not is_event_id(obj["id"]):
            raise EventError("id", f'must be "log_" + a 26-character ULID, got {got(obj["id"])}')
        ts = obj["timestamp"]
        if not isinstance(ts, str) or not is_canonical_timestamp(ts):
            raise EventError(
                "timestamp",
                f'must be RFC 3339 UTC with milliseconds like "{TS_EXAMPLE}", got {got(ts)}',
            )
    event_type = _check_type(obj["type"], allow_unknown_types)
    for name in ("user_id", "task_id", "agent_id"):
        _check_reference(obj, name)
    _check_body(obj["event"], event_type)
    # A plain value's canonical form is orjson's output with the members sorted: same length.
    size = len(orjson.dumps(obj)) if plain else len(canonicalize_event(obj))
    if size > MAX_EVENT_BYTES:
        raise EventError(
            "", f"is {size:,} bytes in canonical form; the limit is {MAX_EVENT_BYTES:,}"
        )


def validate_event(obj: object, *, allow_unknown_types: bool = False) -> None:
    """Check a stored event (all seven fields); raise :class:`EventError` at the first problem."""
    _validate(obj, submission=False, allow_unknown_types=allow_unknown_types)


def validate_submission(obj: object, *, allow_unknown_types: bool = False) -> None:
    """Check an ingest item: an event without ``id`` and ``timestamp`` (the server adds them)."""
    _validate(obj, submission=True, allow_unknown_types=allow_unknown_types)
