"""The audit event: catalogue, validation, timestamps, time-ordered ids and one-line summaries.

architecture.md §3 fixes the seed schema; this module is its executable form, shared by the server
(ingest validation, id and timestamp assignment), the demo data, the viewer (summary column,
task trail) and exports. It does no I/O.

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

:func:`summarize` never raises: it is display code and must cope with whatever a log holds.
"""

from __future__ import annotations

import difflib
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from random import Random
from typing import Any, Final

import orjson

from auditlens.core.canonical import MAX_SAFE_INTEGER, canonicalize_event
from auditlens.core.errors import FormatError

__all__ = [
    "CATEGORIES",
    "EVENT_FIELDS",
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "OUTCOMES",
    "SUBMISSION_FIELDS",
    "EventError",
    "EventIdGenerator",
    "category_of",
    "event_id_time",
    "format_timestamp",
    "is_event_id",
    "outcome_of",
    "parse_timestamp",
    "summarize",
    "validate_event",
    "validate_submission",
    "verdict_of",
]

# ---------------------------------------------------------------------------------------------
# Catalogue

CATEGORIES: Final[dict[str, tuple[str, ...]]] = {
    "auth": (
        "auth.login",
        "auth.logout",
        "auth.sso",
        "auth.api_key.created",
        "auth.api_key.deleted",
    ),
    "task": ("task.created", "task.started", "task.completed", "task.failed", "task.cancelled"),
    "agent": ("agent.action",),
    "approval": ("approval.requested", "approval.approved", "approval.denied"),
    "integration": (
        "integration.connected",
        "integration.disconnected",
        "integration.credential_refreshed",
    ),
    "billing": ("billing.plan_changed", "billing.usage_alert"),
    "team": ("team.member_invited", "team.role_changed", "team.member_removed"),
    "audit": ("audit.exported", "audit.retention_pruned"),
}
"""Category -> its event types, in the order architecture.md §3 lists them."""

EVENT_TYPES: Final = frozenset(t for types in CATEGORIES.values() for t in types)
_CATEGORY_OF: Final = {t: c for c, types in CATEGORIES.items() for t in types}

EVENT_FIELDS: Final = ("id", "timestamp", "type", "user_id", "task_id", "agent_id", "event")
"""The top-level fields of a stored event, in the order architecture.md §3 gives."""
SUBMISSION_FIELDS: Final = EVENT_FIELDS[2:]
"""The top-level fields of an ingest item: the server assigns ``id`` and ``timestamp``."""

OUTCOMES: Final = ("success", "failure")
MAX_EVENT_BYTES: Final = 65_535
MAX_ID_LENGTH: Final = 256
MAX_DEPTH: Final = 32

_TYPE_SHAPE: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+", re.ASCII)


class EventError(FormatError):
    """An event or submission breaks the schema.

    ``field`` is the dotted path of the offending value (``event.outcome``, ``event.params.n``,
    ``""`` for the event as a whole); ``reason`` says what was expected and what was found. The
    message is ``"<field> <reason>"`` so it reads on its own.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field} {reason}" if field else f"the event {reason}")

    def prefixed(self, prefix: str) -> EventError:
        """This error inside a batch: ``prefixed("events[3]")`` -> ``events[3].type``."""
        if not self.field:
            return EventError(prefix, self.reason)
        joiner = "" if self.field.startswith("[") else "."
        return EventError(f"{prefix}{joiner}{self.field}", self.reason)


def category_of(event_type: str) -> str:
    """Return the category of ``event_type`` (``"agent.action"`` -> ``"agent"``).

    Types outside the catalogue that still look like ``<category>.<action>`` get their first
    segment, so a reader of a newer server's log can still group them; anything else raises
    :class:`EventError`.
    """
    category = _CATEGORY_OF.get(event_type)
    if category is not None:
        return category
    if isinstance(event_type, str) and _TYPE_SHAPE.fullmatch(event_type):
        return event_type.split(".", 1)[0]
    raise EventError("type", f'must look like "<category>.<action>", got {_got(event_type)}')


# ---------------------------------------------------------------------------------------------
# Timestamps

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_CANONICAL_TS: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", re.ASCII
)
_RFC3339: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))",
    re.ASCII,
)
_TS_EXAMPLE: Final = "2026-11-26T07:13:13.123Z"


def format_timestamp(ms: int) -> str:
    """Return ``ms`` since the Unix epoch as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, 3-digit ms)."""
    if isinstance(ms, bool) or not isinstance(ms, int):
        raise FormatError(f"a timestamp must be integer milliseconds, got {type(ms).__name__}")
    seconds, millis = divmod(ms, 1000)
    try:
        t = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise FormatError(f"timestamp {ms} ms is outside the years 1-9999") from None
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T"
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{millis:03d}Z"
    )


def parse_timestamp(text: str) -> int:
    """Return the milliseconds since the Unix epoch (UTC) of an RFC 3339 date-time.

    Any offset is accepted (``Z``, ``+02:00``); fractions beyond milliseconds are truncated
    (floor), so the result never lies after the instant written. Leap seconds (``:60``) have no
    millisecond timeline position and are rejected.
    """
    m = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise FormatError(f"expected an RFC 3339 date-time like {_TS_EXAMPLE!r}, got {_got(text)}")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    if second == 60:
        raise FormatError(f"leap seconds are not supported: {text!r}")
    fraction, zulu, sign, off_h, off_m = m.group(7, 8, 9, 10, 11)
    offset = timedelta(0)
    if not zulu:
        if int(off_h) > 23 or int(off_m) > 59:
            raise FormatError(f"invalid UTC offset in {text!r}")
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    try:
        t = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError as exc:
        raise FormatError(f"invalid date-time {text!r}: {exc}") from None
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    return (t - _EPOCH) // timedelta(milliseconds=1) + millis


def _is_canonical_timestamp(value: str) -> bool:
    if not _CANONICAL_TS.fullmatch(value):
        return False
    try:
        return format_timestamp(parse_timestamp(value)) == value
    except FormatError:
        return False


# ---------------------------------------------------------------------------------------------
# Event ids

_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_VALUE: Final = {c: i for i, c in enumerate(_CROCKFORD)}
_EVENT_ID: Final = re.compile(r"log_[0-7][0-9A-HJKMNP-TV-Z]{25}", re.ASCII)
_RANDOM_BITS: Final = 80
_RANDOM_MASK: Final = 2**80 - 1
_MAX_TIME: Final = 2**48 - 1


def is_event_id(value: object) -> bool:
    """True when ``value`` is ``log_`` + a 26-character uppercase Crockford base32 ULID."""
    return isinstance(value, str) and _EVENT_ID.fullmatch(value) is not None


def event_id_time(event_id: str) -> int:
    """Return the millisecond timestamp encoded in the first 48 bits of an event id's ULID."""
    if not is_event_id(event_id):
        raise FormatError(f'an event id is "log_" + a 26-character ULID, got {_got(event_id)}')
    value = 0
    for ch in event_id[4:14]:
        value = value * 32 + _CROCKFORD_VALUE[ch]
    return value


_PAIRS: Final = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
"""Every 10-bit value as its two Crockford digits: one lookup per two characters."""


def _encode_time(ms: int) -> str:
    """The first 10 ULID characters: the 48-bit time as 50 bits (two leading zero bits)."""
    p = _PAIRS
    return (
        p[ms >> 40]
        + p[(ms >> 30) & 1023]
        + p[(ms >> 20) & 1023]
        + p[(ms >> 10) & 1023]
        + p[ms & 1023]
    )


def _encode_random(bits: int) -> str:
    """The last 16 ULID characters: the 80 random bits."""
    p = _PAIRS
    return (
        p[bits >> 70]
        + p[(bits >> 60) & 1023]
        + p[(bits >> 50) & 1023]
        + p[(bits >> 40) & 1023]
        + p[(bits >> 30) & 1023]
        + p[(bits >> 20) & 1023]
        + p[(bits >> 10) & 1023]
        + p[bits & 1023]
    )


def _encode_ulid(value: int) -> str:
    """The 26 Crockford digits of a 128-bit ULID (the time part, then the random part).

    Table lookups of 10 bits instead of a loop of 26 5-bit digits: ids are minted once per
    ingested event, so this is on the server's append path (tests compare it with the plain
    digit loop).
    """
    return _encode_time(value >> _RANDOM_BITS) + _encode_random(value & _RANDOM_MASK)


class EventIdGenerator:
    """Makes ``log_`` + ULID ids: 48-bit millisecond time, 80 random bits, sortable as text.

    Within one millisecond the ids are monotonic (the random part of the previous id plus one),
    so ids the server assigns in append order sort in append order. The id's time is always the
    ``timestamp_ms`` given; if a caller goes back in time, the new id sorts before the previous
    ones, as its time says (the server's clock for appends never decreases). Pass a seeded
    :class:`random.Random` for reproducible ids (demo data, tests); the default draws from the
    OS's CSPRNG. Thread-safe.
    """

    def __init__(self, rng: Random | None = None) -> None:
        self._random: Callable[[int], int] = rng.getrandbits if rng else secrets.randbits
        self._last_ms = -1
        self._last_random = 0
        self._last_prefix = ""  # "log_" + the time digits of _last_ms: a batch shares one ms
        self._lock = threading.Lock()

    def new(self, timestamp_ms: int) -> str:
        """Return the next id for an event appended at ``timestamp_ms`` (ms since the epoch)."""
        if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int):
            raise FormatError(f"timestamp_ms must be an int, got {type(timestamp_ms).__name__}")
        if not 0 <= timestamp_ms <= _MAX_TIME:
            raise FormatError(f"timestamp_ms must be within 0..2^48-1, got {timestamp_ms}")
        with self._lock:
            if timestamp_ms == self._last_ms:
                randomness = self._last_random + 1
                if randomness >> _RANDOM_BITS:
                    raise OverflowError(
                        f"more than 2^80 ids requested within millisecond {timestamp_ms}"
                    )
                prefix = self._last_prefix
            else:
                randomness = self._random(_RANDOM_BITS)
                prefix = self._last_prefix = "log_" + _encode_time(timestamp_ms)
            self._last_ms, self._last_random = timestamp_ms, randomness
        return prefix + _encode_random(randomness)


# ---------------------------------------------------------------------------------------------
# Validation

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


def _got(value: object) -> str:
    """Describe a value for an error message: short, JSON-like, never a wall of text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(shown)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"


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
    raise EventError(path, f"must be a JSON value, got {_got(value)}")


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
        raise EventError("", f"must be a JSON object, got {_got(obj)}")
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
            f"got {_got(value)}",
        )


def _check_type(value: object, allow_unknown: bool) -> str:
    if isinstance(value, str) and (
        value in EVENT_TYPES or (allow_unknown and _TYPE_SHAPE.fullmatch(value))
    ):
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, sorted(EVENT_TYPES), n=1)
        hint = f' (did you mean "{close[0]}"?)' if close else ""
    raise EventError(
        "type", f'must be a known event type such as "agent.action", got {_got(value)}{hint}'
    )


def _check_body(body: object, event_type: str) -> None:
    if not isinstance(body, Mapping):
        raise EventError("event", f"must be an object of event fields, got {_got(body)}")
    if "outcome" not in body:
        raise EventError("event.outcome", 'is required: "success" or "failure"')
    if body["outcome"] not in OUTCOMES:
        raise EventError(
            "event.outcome", f'must be "success" or "failure", got {_got(body["outcome"])}'
        )
    for name in _REQUIRED.get(event_type, ()):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            what = "is required" if value is None else f"got {_got(value)}"
            raise EventError(
                f"event.{name}", f"must be a non-empty string on {event_type} ({what})"
            )
    for name, value in body.items():
        if value is not None and name in _CHECKED_FIELDS:
            _check_common_field(name, value)


def _check_common_field(name: str, value: object) -> None:
    field = f"event.{name}"
    if name in _STRING_FIELDS and not isinstance(value, str):
        raise EventError(field, f"must be a string, got {_got(value)}")
    if name in _COUNT_FIELDS and (
        isinstance(value, bool) or not isinstance(value, int) or value < 0
    ):
        raise EventError(field, f"must be a non-negative integer, got {_got(value)}")
    if name == "params" and not isinstance(value, Mapping):
        raise EventError(field, f"must be an object of the tool's parameters, got {_got(value)}")
    if name in ("error", "filter") and not isinstance(value, str | Mapping):
        raise EventError(field, f"must be a string or an object, got {_got(value)}")
    if name in ("threshold", "value") and (
        isinstance(value, bool) or not isinstance(value, int | str)
    ):
        raise EventError(field, f"must be an integer or a decimal string, got {_got(value)}")
    if name == "direction" and value not in ("upgrade", "downgrade"):
        raise EventError(field, f'must be "upgrade" or "downgrade", got {_got(value)}')
    if name == "request":
        if not isinstance(value, Mapping):
            raise EventError(field, f"must be an object with ip and user_agent, got {_got(value)}")
        for key in ("ip", "user_agent"):
            item = value.get(key)
            if item is not None and not isinstance(item, str):
                raise EventError(f"{field}.{key}", f"must be a string, got {_got(item)}")


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
            raise EventError("id", f'must be "log_" + a 26-character ULID, got {_got(obj["id"])}')
        ts = obj["timestamp"]
        if not isinstance(ts, str) or not _is_canonical_timestamp(ts):
            raise EventError(
                "timestamp",
                f'must be RFC 3339 UTC with milliseconds like "{_TS_EXAMPLE}", got {_got(ts)}',
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


# ---------------------------------------------------------------------------------------------
# Display

MAX_SUMMARY: Final = 200
_TEXT_LIMIT: Final = 120
_TARGET_LIMIT: Final = 80


def outcome_of(event: Mapping[str, object]) -> str:
    """Return ``event.outcome`` (``"success"``/``"failure"``), or ``""`` when it is missing."""
    body = event.get("event")
    if isinstance(body, Mapping):
        outcome = body.get("outcome")
        if isinstance(outcome, str):
            return outcome
    return ""


# What a reader must not mistake for "it went through". The signed ``outcome`` says whether the
# action *itself* was recorded as succeeding; a denied approval is a decision recorded
# successfully, so its outcome is "success", yet a manager reading "success" next to it would
# conclude the gated call ran. The verdict is a display and filter classification derived from
# the signed body, never stored in it.
VERDICTS: Final = ("success", "failure", "denied")
REFUSAL_TYPES: Final = frozenset({"approval.denied"})
# Failure reasons meaning "refused by policy or permission", not "tried and broke".
REFUSAL_REASONS: Final = frozenset(
    {
        "access_denied",
        "account_locked",
        "forbidden",
        "mfa_rejected",
        "permission_denied",
        "policy_denied",
        "policy_violation",
        "rate_limited",
    }
)


def verdict_of(event: Mapping[str, object]) -> str:
    """Return ``"success"``, ``"failure"`` or ``"denied"`` for display and filtering.

    ``"denied"``: the type is a refusal (``approval.denied``), or the outcome is ``"failure"``
    and ``failure_reason``, ``reason`` or ``error.code`` is a refusal reason
    (:data:`REFUSAL_REASONS`). Otherwise the signed outcome, or ``""`` when it is missing.
    """
    if event.get("type") in REFUSAL_TYPES:
        return "denied"
    outcome = outcome_of(event)
    if outcome != "failure":
        return outcome
    body = event.get("event")
    if isinstance(body, Mapping):
        error = body.get("error")
        codes = (
            body.get("failure_reason"),
            body.get("reason"),
            error.get("code") if isinstance(error, Mapping) else None,
        )
        if any(isinstance(c, str) and c in REFUSAL_REASONS for c in codes):
            return "denied"
    return outcome


def _clean(value: object) -> str:
    """Text for one line: whitespace and control characters collapsed to single spaces."""
    if type(value) is str:  # the common case first: it skips the (slow) ABC check of Mapping
        return _clean_text(value)
    if value is None:
        return ""
    if isinstance(value, Mapping):  # an error object: its message says the most
        for key in ("message", "detail", "code", "type"):
            if isinstance(value.get(key), str | int) and not isinstance(value.get(key), bool):
                return _clean(value[key])
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if not isinstance(value, str):
        return ""
    return _clean_text(value)


def _clean_text(value: str) -> str:
    """``value`` with every run of whitespace or unprintable characters made one space, trimmed.

    Fast path: ``split()`` already turns every whitespace run into one separator, so when what
    is left is printable, blanking the unprintable characters first (all of them whitespace
    then) could not change the result. Only text with other control characters takes the
    per-character walk. tests/core/test_perf_equivalence.py checks this against the walk.
    """
    text = " ".join(value.split())
    if text.isprintable():
        return text
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())


def _cut_end(text: str, limit: int = _TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _cut_middle(text: str, limit: int = _TARGET_LIMIT) -> str:
    """Shorten a URL or path in the middle, keeping its start (host) and end (file name)."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 3 // 5
    tail = limit - 1 - head
    return text[:head] + "…" + text[-tail:]


def _duration(ms: object) -> str:
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(ms // 1000, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


_TARGET_KEYS: Final = ("url", "path", "command", "query", "language", "name", "file", "to")


def _target(body: Mapping[str, object]) -> str:
    """What an agent's tool acted on: the url, path, language, or the same inside ``params``."""
    params = body.get("params")
    for source in (body, params if isinstance(params, Mapping) else {}):
        for key in _TARGET_KEYS:
            text = _clean(source.get(key))
            if text:
                return _cut_middle(text)
    return ""


def _words(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _failure_text(body: Mapping[str, object]) -> str:
    for key in ("error", "failure_reason", "reason"):
        text = _clean(body.get(key))
        if text:
            return _cut_end(text)
    return ""


def _failed(body: Mapping[str, object]) -> str:
    text = _failure_text(body)
    return f"failed: {text}" if text else "failed"


def _auth(kind: str, body: Mapping[str, object]) -> str:
    method, provider = _clean(body.get("method")), _clean(body.get("provider"))
    name, prefix = _clean(body.get("key_name")), _clean(body.get("key_prefix"))
    key = _words(f'"{_cut_end(name, 60)}"' if name else "", f"({prefix}…)" if prefix else "")
    if kind == "login":
        if body.get("outcome") == "failure":
            return _failed(body)
        if method == "sso" or provider:
            return _words("signed in via SSO", f"({provider})" if provider else "")
        if method == "api_key":
            return _words("signed in with API key", key)
        return _words("signed in", f"with {method}" if method else "")
    if kind == "logout":
        return "signed out"
    if kind == "sso":
        return _words("SSO", f"via {provider}" if provider else "")
    if kind == "api_key.created":
        return _words("created API key", key)
    if kind == "api_key.deleted":
        return _words("deleted API key", key or _clean(body.get("key_id")))
    return ""


def _task(kind: str, body: Mapping[str, object]) -> str:
    title = _cut_end(_clean(body.get("title")))
    took = _duration(body.get("duration_ms"))
    if kind == "failed":
        return _failed(body)
    if kind == "completed":
        return _words(title + ":" if title else "", "completed", f"in {took}" if took else "")
    if kind == "cancelled":
        by = _clean(body.get("cancelled_by"))
        return _words("cancelled", f"by {by}" if by else "", f"after {took}" if took else "")
    return title or kind


def _agent(body: Mapping[str, object]) -> str:
    return _words(_clean(body.get("tool")), _target(body)) or "action"


def _approval(kind: str, body: Mapping[str, object]) -> str:
    if kind == "denied":
        reason = _cut_end(_clean(body.get("reason")))
        return f"denied: {reason}" if reason else "denied"
    action = _words(_clean(body.get("tool")), _target(body))
    if kind == "requested":
        return _words("approval requested", f"for {action}" if action else "")
    approver = _clean(body.get("approver_id"))
    return _words("approved", action, f"by {approver}" if approver else "")


def _integration(kind: str, body: Mapping[str, object]) -> str:
    name = _clean(body.get("integration")) or _clean(body.get("integration_id"))
    if kind == "credential_refreshed":
        return _words("refreshed", name, "credentials")
    return _words(kind, name)


def _billing(kind: str, body: Mapping[str, object]) -> str:
    if kind == "plan_changed":
        old, new = _clean(body.get("from_plan")) or "?", _clean(body.get("to_plan")) or "?"
        direction = _clean(body.get("direction"))
        return _words(f"{old} -> {new}", f"({direction})" if direction else "")
    metric = _clean(body.get("metric")) or "usage"
    value, threshold = _clean(body.get("value")), _clean(body.get("threshold"))
    return _words(
        metric, f"at {value}" if value else "", f"(threshold {threshold})" if threshold else ""
    )


def _team(kind: str, body: Mapping[str, object]) -> str:
    who = _clean(body.get("member_email")) or _clean(body.get("member_id")) or "member"
    if kind == "member_invited":
        role = _clean(body.get("role"))
        return _words("invited", who, f"as {role}" if role else "")
    if kind == "role_changed":
        old, new = _clean(body.get("from_role")) or "?", _clean(body.get("to_role"))
        new = new or _clean(body.get("role")) or "?"
        return f"{who}: {old} -> {new}"
    return _words("removed", who)


def _audit(kind: str, body: Mapping[str, object]) -> str:
    if kind == "exported":
        count, fmt = _clean(body.get("count")), _clean(body.get("format"))
        return _words("exported", f"{count} events" if count else "", f"as {fmt}" if fmt else "")
    below, days = body.get("min_index"), body.get("policy_days")
    return _words(
        "pruned entries",
        f"below index {below:,}" if isinstance(below, int) else "",
        f"({days}-day policy)" if isinstance(days, int) else "",
    )


_BY_CATEGORY: Final[dict[str, Callable[[str, Mapping[str, object]], str]]] = {
    "auth": _auth,
    "task": _task,
    "agent": lambda _kind, body: _agent(body),
    "approval": _approval,
    "integration": _integration,
    "billing": _billing,
    "team": _team,
    "audit": _audit,
}


def summarize(event: Mapping[str, object]) -> str:
    """One line for people: what happened, on what, and why it failed (at most 200 characters).

    Examples: ``browser.navigate https://docs.example.com/…``, ``denied: touches production``,
    ``failed: timeout after 30 s``, ``business -> enterprise (upgrade)``,
    ``invited bob@example.com as admin``. Never raises.
    """
    try:
        body = event.get("event")
        body = body if isinstance(body, Mapping) else {}
        event_type = event.get("type")
        text = ""
        if isinstance(event_type, str) and "." in event_type:
            category, kind = event_type.split(".", 1)
            render = _BY_CATEGORY.get(category)
            text = render(kind, body) if render else ""
        if body.get("outcome") == "failure" and not text.startswith(("failed", "denied")):
            failure = _failed(body)
            text = f"{text} ({failure})" if text else failure
        return _cut_end(_clean(text), MAX_SUMMARY)
    except Exception:  # display code: a strange event must not break a table or an export
        return ""
