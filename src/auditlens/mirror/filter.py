"""What the person asked to see: :class:`EventFilter`, the one filter type of the viewer.

The filter panel, the query bar, the export dialog, ``auditlens export`` and the reports all
hand this same value around, so it holds no Qt and no SQL: it is a frozen dataclass that checks
its own fields (a clear error naming the bad one) and says itself as a URL-like line
(:meth:`EventFilter.to_query`) or as the evidence records it (:func:`filter_description`). The
reader (:mod:`auditlens.mirror.reader`) turns it into indexed queries.

The sort vocabulary lives here too, since the table, the CLI and the reader share it:
:data:`SORT_COLUMNS` and :data:`Key`, where a row sits in a sort order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import quote

from auditlens.core.timestamps import format_timestamp
from auditlens.mirror.search import SearchQuery

__all__ = [
    "EVENT_FIELD_NAME",
    "OUTCOMES",
    "PREFIX",
    "SORT_COLUMNS",
    "EventFilter",
    "Key",
    "SortColumn",
    "filter_description",
]

SortColumn = Literal["ts", "type", "user", "task", "agent", "outcome", "idx"]
SORT_COLUMNS: tuple[SortColumn, ...] = ("ts", "type", "user", "task", "agent", "outcome", "idx")
#: What the Outcome filter and sort use: the verdict (:func:`auditlens.core.summaries.verdict_of`),
#: so a refusal is "denied", never "success" or "failure"; the signed outcome is unchanged.
OUTCOMES = ("success", "failure", "denied")

#: A text filter ending in ``*`` is a prefix (``elena*``, ``task_9f*``, ``10.0.*``). It is
#: resolved to the distinct values that start with it (one index seek each), and those values
#: then filter like a set of exact values, so it stays an index seek per value. A prefix
#: matching too many values is refused with a message asking for more of the value
#: (:data:`auditlens.mirror.resolve.MAX_PREFIX_VALUES`).
PREFIX = "*"

#: What an :attr:`EventFilter.event_field` name may be: a plain payload key (it is put into a
#: JSON path, so nothing that could change the path's meaning).
EVENT_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")

#: The fields an :attr:`EventFilter.exclude` pair may name.
EXCLUDABLE = ("type", "user", "task", "agent", "ip", "outcome")

#: Where a row sits in a sort order: ``(sort value, ts, idx)``; the sort value is None for the
#: Time and Index sorts and for a row whose sort column is NULL. Pass a row's key as ``after``.
Key = tuple[object, int, int]


@dataclass(frozen=True)
class EventFilter:
    """What the person asked to see; every field narrows the rows (they combine with AND).

    ``types`` holds exact event types (``agent.action``) and/or whole categories (``agent``): a
    name with a dot is a type. ``until_ms`` is exclusive. ``user_email`` matches the directory
    case-insensitively; an email nobody has matches nothing. ``outcome`` is a verdict
    (:data:`OUTCOMES`): ``"denied"`` is a refusal, and ``"success"``/``"failure"`` leave refusals
    out. ``ip`` is the event's ``request.ip``.

    ``user_email``, ``user_id``, ``task_id``, ``agent_id`` and ``ip`` ending in ``*`` are
    prefixes (:data:`PREFIX`); a ``user_email`` prefix also matches user ids that start with it,
    so typing a name finds the person whichever the log holds.

    ``idx_from`` (inclusive) and ``idx_until`` (exclusive) keep a window of log positions: the
    neighbours of one event, whatever their type ("what happened just before and after"). They
    are turned into the equal time range (a timestamp never decreases with the index), so every
    index still drives; the index test itself reads no table row (every index ends in ``idx``).

    ``event_field`` is ``(name, value)``: the payload's ``event.<name>`` equals ``value`` (an API
    key's ``key_id``, an SSO ``idp_session``). No column holds payload fields: the full-text
    index finds the events holding the value's words, and each of those rows is then tested
    (measured at 1M: 0.1 ms warm for a count, page or histogram, against 2.4–4 s when every row
    was tested); a value without a letter or digit is tested on every candidate row.
    ``text`` is a free-text search over every value of the event (:mod:`auditlens.mirror.search`
    says how terms match); text without a letter or digit is no condition.

    ``exclude`` holds ``(field, value)`` pairs no shown event may have (the query bar's
    ``-user:bob``): ``field`` is one of :data:`EXCLUDABLE`, ``type`` takes a type or a whole
    category, ``user`` an email or a user id as the user fields do, and a value ending in ``*``
    is a prefix. An event without the field (no user, no IP) is never excluded. Each is one
    more index probe, never the driver.
    """

    since_ms: int | None = None
    until_ms: int | None = None
    user_email: str | None = None
    user_id: str | None = None
    types: frozenset[str] = field(default_factory=frozenset)
    task_id: str | None = None
    agent_id: str | None = None
    outcome: str | None = None
    ip: str | None = None
    idx_from: int | None = None
    idx_until: int | None = None
    event_field: tuple[str, str] | None = None
    text: str | None = None
    exclude: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        self._check_exclude()
        self._check_event_field()
        self._check_ranges()
        self._check_strings()
        self._check_types()

    def _check_event_field(self) -> None:
        if self.event_field is None:
            return
        name, value = self.event_field
        if not EVENT_FIELD_NAME.fullmatch(str(name)) or not isinstance(value, str):
            raise ValueError(
                "EventFilter.event_field must be (a payload field name such as 'key_id', a "
                f"string value), got {self.event_field!r}"
            )
        object.__setattr__(self, "event_field", (name, value))

    def _check_ranges(self) -> None:
        if (
            self.idx_from is not None
            and self.idx_until is not None
            and self.idx_from >= self.idx_until
        ):
            raise ValueError(
                f"EventFilter: the first index ({self.idx_from}) must be below the end "
                f"({self.idx_until})"
            )
        if (
            self.since_ms is not None
            and self.until_ms is not None
            and self.since_ms >= self.until_ms
        ):
            raise ValueError(
                f"EventFilter: the start ({format_timestamp(self.since_ms)}) must be before the "
                f"end ({format_timestamp(self.until_ms)})"
            )

    def _check_strings(self) -> None:
        """Text fields are strings; a blank one (or a bare ``*``) is no condition at all."""
        for name in ("user_email", "user_id", "task_id", "agent_id", "outcome", "ip"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"EventFilter.{name} must be a string or None, got {value!r}")
            if value is not None and not value.strip(PREFIX + " \t\n"):
                object.__setattr__(self, name, None)  # "" or a bare "*": no condition
        if self.outcome is not None and self.outcome not in OUTCOMES:
            raise ValueError(
                "EventFilter.outcome must be 'success', 'failure' or 'denied', "
                f"got {self.outcome!r}"
            )
        if self.text is not None:
            if not isinstance(self.text, str):
                raise TypeError(f"EventFilter.text must be a string or None, got {self.text!r}")
            searchable = SearchQuery.parse(self.text)  # nothing searchable: no condition
            if searchable.excluded and not searchable:
                raise ValueError(
                    f"EventFilter.text {self.text!r} only excludes words: -word narrows a "
                    "search, so give a word to look for as well"
                )
            object.__setattr__(self, "text", self.text.strip() if searchable else None)

    def _check_types(self) -> None:
        if not isinstance(self.types, frozenset):
            object.__setattr__(self, "types", frozenset(self.types))
        for value in self.types:
            if not isinstance(value, str) or not value:
                raise ValueError(f"EventFilter.types holds an empty or non-string {value!r}")

    @property
    def categories(self) -> frozenset[str]:
        """The whole categories in ``types``."""
        return frozenset(t for t in self.types if "." not in t)

    @property
    def exact_types(self) -> frozenset[str]:
        """The exact types in ``types`` whose category is not selected as a whole."""
        cats = self.categories
        return frozenset(t for t in self.types if "." in t and t.split(".", 1)[0] not in cats)

    def is_empty(self) -> bool:
        """True when the filter lets every event through."""
        return self == EventFilter()

    def _check_exclude(self) -> None:
        if not isinstance(self.exclude, frozenset):
            object.__setattr__(self, "exclude", frozenset(self.exclude))
        for pair in self.exclude:
            if (
                not isinstance(pair, tuple)
                or len(pair) != 2
                or pair[0] not in EXCLUDABLE
                or not isinstance(pair[1], str)
                or not pair[1].strip(PREFIX + " \t\n")
            ):
                raise ValueError(
                    f"EventFilter.exclude holds (field, value) pairs with a field among "
                    f"{', '.join(EXCLUDABLE)} and a non-empty value, got {pair!r}"
                )
            if pair[0] == "outcome" and pair[1] not in OUTCOMES:
                raise ValueError(f"EventFilter.exclude: no outcome {pair[1]!r}")

    def to_query(self) -> str:
        """The filter as one URL-like line (``?type=agent&outcome=failure``), for the chips'
        tooltip and an export's description.

        The names are the audit API's query parameters where it has one; ``ip``, an
        ``outcome`` of ``denied`` and a trailing ``*`` (prefix) are this viewer's own. An empty
        filter is ``""``.
        """
        stamps = (("since", self.since_ms), ("until", self.until_ms))
        parts = [(name, format_timestamp(ms)) for name, ms in stamps if ms is not None]
        users = (("user_email", self.user_email), ("user_id", self.user_id))
        parts += [(name, value) for name, value in users if value is not None]
        if self.types:
            kept = sorted(self.categories) + sorted(self.exact_types)
            parts.append(("type", ",".join(kept)))
        named = (
            ("task_id", self.task_id),
            ("agent_id", self.agent_id),
            ("outcome", self.outcome),
            ("ip", self.ip),
            ("idx_from", None if self.idx_from is None else str(self.idx_from)),
            ("idx_until", None if self.idx_until is None else str(self.idx_until)),
        )
        parts += [(name, value) for name, value in named if value is not None]
        if self.event_field is not None:
            parts.append((f"event.{self.event_field[0]}", self.event_field[1]))
        if self.text is not None:
            parts.append(("q", self.text))
        parts += [(f"not_{name}", value) for name, value in sorted(self.exclude)]
        if not parts:
            return ""
        return "?" + "&".join(f"{k}={quote(v, safe='@:,.-_*')}" for k, v in parts)


def filter_description(f: EventFilter) -> dict[str, object]:
    """The filter as the evidence records it: the audit API's parameter names, set ones only."""
    out: dict[str, object] = {}
    if f.since_ms is not None:
        out["since"] = format_timestamp(f.since_ms)
    if f.until_ms is not None:
        out["until"] = format_timestamp(f.until_ms)
    for name in ("user_email", "user_id", "task_id", "agent_id", "outcome", "ip"):
        value = getattr(f, name)
        if value is not None:
            out[name] = value
    if f.types:
        out["type"] = sorted(f.types)
    return out
