"""The filter of an export: its keys, its canonical form, and which events it matches.

One definition serves three readers that must agree exactly: the server that attests how many
events match a filter (:mod:`auditlens.server.attestation`), the verifier that checks every
exported event against the filter it claims (``FILTER_MISMATCH``), and the published format
(docs/evidence-format.md, "Filters"). Every key narrows the set; keys combine with AND; the
empty filter matches every event.

Keys and their meaning (``e`` is the stored event):

``since`` / ``until``  RFC 3339 instants; ``since <= e.timestamp < until`` (``until`` exclusive,
                       so consecutive windows neither overlap nor leave a gap).
``user_id``            ``e.user_id`` equals it (a system event, ``user_id: null``, never does).
``task_id``            ``e.task_id`` equals it.
``agent_id``           ``e.agent_id`` equals it.
``ip``                 ``e.event.request.ip`` equals it.
``outcome``            the event's verdict (:func:`auditlens.core.summaries.verdict_of`) equals it:
                       ``denied`` is a refusal (``approval.denied``, or a failure whose reason
                       is a refusal reason); ``success`` and ``failure`` leave refusals out.
``type``               a list of event types (``agent.action``) and categories (``agent``):
                       ``e.type`` is one of the types, or its category (the text before its
                       first dot) is one of the categories.
``user_email``         the directory's email of ``user_id``. Emails are not in the signed
                       events, so this key is never checked against an event: the server that
                       attests a filter resolves it and records the ``user_id`` beside it.

A value of ``user_id``, ``task_id``, ``agent_id``, ``ip`` or ``user_email`` ending in ``*`` is a
prefix: the text before the stars must start the field (case-sensitive). Otherwise matching is
exact (no case folding except for ``user_email``, which the directory stores lower-cased): an
attested count must mean the same set to everyone who recomputes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from auditlens.core.errors import FormatError
from auditlens.core.events import CATEGORIES, EVENT_TYPES
from auditlens.core.summaries import VERDICTS, verdict_of
from auditlens.core.timestamps import format_timestamp
from auditlens.core.timestamps import parse_timestamp as _parse_timestamp

FILTER_KEYS: Final = (
    "since",
    "until",
    "user_email",
    "user_id",
    "task_id",
    "agent_id",
    "ip",
    "outcome",
    "type",
)
"""Every key a filter may hold; anything else is not a filter this format defines."""

_ID_KEYS: Final = ("user_id", "task_id", "agent_id", "ip")
PREFIX: Final = "*"
MAX_VALUE_LENGTH: Final = 256
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


class FilterError(FormatError):
    """A filter is not one this format defines; ``key`` names the key at fault ("" if none)."""

    def __init__(self, message: str, key: str = "") -> None:
        super().__init__(message)
        self.key = key


def canonical_filter(obj: object) -> dict[str, object]:
    """Return ``obj`` in the canonical form an attestation records; FormatError names the key.

    Times become ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds), ``type`` a sorted list
    without repeats (a single string is accepted), ``user_email`` is stripped and lower-cased.
    Unknown keys, empty values and a window that ends before it starts are refused.
    """
    if not isinstance(obj, Mapping):
        raise FilterError("filter must be a JSON object")
    out: dict[str, object] = {}
    for key, value in obj.items():
        try:
            out[key] = _canonical_value(key, value)
        except FormatError as exc:
            raise FilterError(str(exc), str(key)) from None
    since, until = out.get("since"), out.get("until")
    if isinstance(since, str) and isinstance(until, str) and since >= until:
        raise FilterError("filter.until must be after filter.since", "until")
    return dict(sorted(out.items()))


def _canonical_value(key: object, value: object) -> object:
    if key not in FILTER_KEYS:
        raise FormatError(f"filter.{key} is not a filter key; use {', '.join(FILTER_KEYS)}")
    if key in ("since", "until"):
        if not isinstance(value, str):
            raise FormatError(f"filter.{key} must be an RFC 3339 date-time")
        try:
            return format_timestamp(_parse_timestamp(value))
        except (FormatError, ValueError, OverflowError) as exc:
            raise FormatError(f"filter.{key}: {exc}") from None
    if key == "type":
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names:
            raise FormatError("filter.type must be a type, a category or a list of them")
        for name in names:
            if not isinstance(name, str) or (name not in EVENT_TYPES and name not in CATEGORIES):
                raise FormatError(
                    f"filter.type: {name!r:.80} is neither an event type (agent.action) "
                    f"nor a category ({', '.join(CATEGORIES)})"
                )
        return sorted(set(names))
    if key == "outcome":
        if value not in VERDICTS:
            raise FormatError(f"filter.outcome must be one of {', '.join(VERDICTS)}")
        return value
    if not isinstance(value, str) or not value.strip(PREFIX + " \t\n"):
        raise FormatError(f"filter.{key} must be a non-empty string")
    if len(value) > MAX_VALUE_LENGTH:
        raise FormatError(f"filter.{key} is longer than {MAX_VALUE_LENGTH} characters")
    return value.strip().lower() if key == "user_email" else value


def timestamp_ms(text: str) -> int:
    """Milliseconds of a stored event's RFC 3339 timestamp (fast path for the canonical form)."""
    if len(text) == 24 and text[-1] == "Z":
        try:
            return (datetime.fromisoformat(text) - _EPOCH) // _MS
        except ValueError:
            pass
    return _parse_timestamp(text)


def is_prefix(value: str) -> bool:
    """True when a filter value stands for every value starting with it (ends in ``*``)."""
    return value.endswith(PREFIX)


@dataclass(frozen=True)
class EventMatcher:
    """A parsed filter that tells whether a stored event matches it.

    ``unchecked`` lists keys that say something no event shows (``user_email``): they are
    reported, not silently treated as matching.
    """

    since_ms: int | None
    until_ms: int | None
    equal: tuple[tuple[str, str, bool], ...]
    """``(key, value, is prefix)``; a prefix's value is the text before its stars."""
    outcome: str | None
    types: frozenset[str] | None
    unchecked: tuple[str, ...]

    @classmethod
    def of(cls, obj: object) -> EventMatcher:
        """Parse a filter (any form :func:`canonical_filter` accepts); FormatError otherwise."""
        canon = canonical_filter(obj)
        since, until = canon.get("since"), canon.get("until")
        types = canon.get("type")
        equal = []
        for key in _ID_KEYS:
            if key in canon:
                value = str(canon[key])
                equal.append((key, value.rstrip(PREFIX), is_prefix(value)))
        return cls(
            since_ms=_parse_timestamp(since) if isinstance(since, str) else None,
            until_ms=_parse_timestamp(until) if isinstance(until, str) else None,
            equal=tuple(equal),
            outcome=str(canon["outcome"]) if "outcome" in canon else None,
            types=frozenset(types) if isinstance(types, list) else None,
            unchecked=("user_email",) if "user_email" in canon and "user_id" not in canon else (),
        )

    @property
    def checks_time(self) -> bool:
        return self.since_ms is not None or self.until_ms is not None

    def time_matches(self, ms: int) -> bool:
        if self.since_ms is not None and ms < self.since_ms:
            return False
        return self.until_ms is None or ms < self.until_ms

    def matches(self, event: Mapping[str, object]) -> bool:
        """Whether a stored event matches (a malformed timestamp never matches a window)."""
        for key, value, prefix in self.equal:
            got = _field(event, key)
            if not isinstance(got, str) or not (got.startswith(value) if prefix else got == value):
                return False
        if self.outcome is not None and verdict_of(event) != self.outcome:
            return False
        if self.types is not None:
            etype = event.get("type")
            if not isinstance(etype, str):
                return False
            if etype not in self.types and etype.split(".", 1)[0] not in self.types:
                return False
        if not self.checks_time:
            return True
        ts = event.get("timestamp")
        try:
            return isinstance(ts, str) and self.time_matches(timestamp_ms(ts))
        except FormatError:
            return False


def _field(event: Mapping[str, object], key: str) -> object:
    if key != "ip":
        return event.get(key)
    body = event.get("event")
    request = body.get("request") if isinstance(body, Mapping) else None
    return request.get("ip") if isinstance(request, Mapping) else None
