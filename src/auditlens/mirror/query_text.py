"""The query bar's language: one line of text <-> one :class:`EventFilter` (no Qt, no SQL).

The query bar above the table and the sidebar are two views of the same filter; saved searches
and ``auditlens export --query`` carry this text. :func:`parse_query` reads a line;
:func:`~auditlens.mirror.query_format.format_query` prints a filter back as its canonical
line, and ``parse_query(format_query(f)).filter == f`` for every filter the bar or the sidebar
can make (a property test checks it).

The language, as the log tools investigators know (GitHub, Splunk, Datadog) write it:

- ``type:agent``, ``type:agent.action,approval.denied`` (a category is all its types; a comma
  or ``OR`` means either), ``outcome:denied`` (``success``, ``failure``, ``denied``),
  ``user:ana@example.com`` or ``user:usr_123`` (an email has an ``@``; else it is a user id),
  ``task:tsk_9f``, ``agent:agt_7``, ``ip:10.0.0.7``. A value ending in ``*`` is a prefix
  (``user:ana*``, ``ip:10.0.*``); every other value is matched exactly.
- ``after:`` (inclusive) and ``before:`` (exclusive) take a UTC date or time as the sidebar
  shows them: ``2026-01-31``, ``2026-01-31T14:05``, ``"2026-01-31 14:05 UTC"``, a full RFC 3339
  time (any offset), or a time back from now: ``after:-24h`` (``m``, ``h``, ``d``, ``w``). A
  relative ``after:`` stays relative in a saved search.
- Anything else is free text, searched in every value of the event
  (:mod:`auditlens.mirror.search`); ``"two words"`` is a phrase. Every condition must hold.
- ``-`` before a qualifier excludes: ``-type:auth``, ``-user:bot@example.com``,
  ``-outcome:success``, ``-ip:10.0.*``. An event without that field (no user) stays.
  ``-after:X`` is ``before:X`` and ``-before:X`` is ``after:X``.
- ``-`` before a word or phrase leaves out the events holding it (``timeout -retry``); it only
  narrows a search, so some word must be looked for (the index lists events holding words).
- ``OR`` joins two words or phrases (``timeout OR "connection refused"``: either) or two
  values of the same ``type:`` or ``outcome:`` (``type:agent OR type:task``).
- Two conditions no control of the sidebar makes, but which pivots do, print as
  ``idx:120..140`` (log positions, both ends included) and ``event.key_id:key_1`` (a payload
  field), so the bar shows every filter whole.

What the filter cannot express is refused with a :class:`QueryError` naming the token and its
position, never silently approximated: ``OR`` between different qualifiers, or between a
word and a qualifier (``user:a OR task:b``: the filter is one AND of conditions; a ``user:``,
``task:``, ``agent:`` or ``ip:`` takes one value or a prefix), only excluded words (``-retry``
alone), the same qualifier twice
(``user:a user:b`` matches nothing; ``type:a type:b`` is written ``type:a,b``), an unknown
qualifier (``usr:ana``; quote it to search the text), an unknown type or outcome, an unclosed
quote, an ``after:`` not before the ``before:``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from auditlens.core.errors import FormatError
from auditlens.core.events import CATEGORIES, EVENT_TYPES
from auditlens.core.timestamps import parse_timestamp
from auditlens.mirror import search
from auditlens.mirror.filter import OUTCOMES, PREFIX, EventFilter

__all__ = [
    "QUALIFIERS",
    "ParsedQuery",
    "QueryError",
    "Token",
    "parse_query",
    "token_at",
    "tokenize",
]

#: The qualifiers, in the order a canonical query prints them (completion offers them so).
QUALIFIERS = ("after", "before", "user", "type", "task", "agent", "ip", "outcome")
#: Qualifiers the bar prints for pivots' conditions (``event.<name>:`` is the payload field).
_PIVOT_QUALIFIERS = ("idx",)
_EVENT_FIELD = re.compile(r"event\.([A-Za-z_][A-Za-z0-9_]{0,63})", re.IGNORECASE)
#: ``name:`` that reads as a qualifier (an unknown one is an error, not text: a typo must not
#: silently become a search for "usr").
_QUALIFIER_LIKE = re.compile(r"([A-Za-z][A-Za-z_]*|event\.[A-Za-z0-9_]*):(?!//)")

_UNITS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
_RELATIVE = re.compile(r"-(\d{1,6})([mhdw])")
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(?:Z| ?UTC)?",
    re.IGNORECASE,
)
_IDX_RANGE = re.compile(r"(\d*)\.\.(\d*)")
_TIME_EXAMPLES = "2026-01-31, 2026-01-31T14:05 (UTC) or -24h"


class QueryError(ValueError):
    """A query the filter cannot take: ``position`` (0-based) and ``token`` say where."""

    def __init__(self, message: str, position: int, token: str) -> None:
        self.message = message
        self.position = position
        self.token = token
        shown = token if len(token) <= 40 else token[:37] + "…"
        super().__init__(f"{message} (at character {position + 1}: “{shown}”)")

    @property
    def end(self) -> int:
        """Where the bad token ends (at least one character after ``position``)."""
        return self.position + max(len(self.token), 1)


@dataclass(frozen=True)
class Token:
    """One clause of a query as typed: ``[-][name:]value``, or ``OR``."""

    start: int
    end: int
    text: str  # the clause as typed
    negated: bool
    name: str | None  # the qualifier, lower case (None: free text)
    value: str  # unquoted
    value_start: int
    quoted: bool

    @property
    def is_or(self) -> bool:
        return self.text == "OR" and not self.quoted


@dataclass(frozen=True)
class ParsedQuery:
    """What a line says: the filter, and the length of a relative ``after:`` (None: none)."""

    filter: EventFilter
    last_ms: int | None = None


def _read_quoted(text: str, i: int) -> tuple[str, int]:
    """The value of the quote opening at ``text[i]`` and the index after its closing quote;
    ``\\"`` and ``\\\\`` stand for a quote and a backslash."""
    out: list[str] = []
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\" and j + 1 < len(text) and text[j + 1] in '"\\':
            out.append(text[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise QueryError("this quote is not closed", i, text[i:])


def tokenize(text: str) -> list[Token]:
    """The clauses of ``text`` in order (raises :class:`QueryError` on an unclosed quote)."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        negated = text[i] == "-" and i + 1 < n and not text[i + 1].isspace()
        if text[i] == "-" and not negated:
            raise QueryError("a - must stand right before a condition (-type:auth)", i, "-")
        body = i + 1 if negated else i
        name: str | None = None
        m = _QUALIFIER_LIKE.match(text, body)
        value_start = body
        if m is not None:
            name = m.group(1).lower()
            value_start = m.end()
        if value_start < n and text[value_start] == '"':
            value, i = _read_quoted(text, value_start)
            quoted = True
        else:
            i = value_start
            while i < n and not text[i].isspace():
                i += 1
            value, quoted = text[value_start:i], False
        tokens.append(Token(start, i, text[start:i], negated, name, value, value_start, quoted))
    return tokens


def _check_name(token: Token) -> None:
    name = token.name
    if name is None or name in QUALIFIERS or name in _PIVOT_QUALIFIERS:
        return
    if _EVENT_FIELD.fullmatch(name):
        return
    known = ", ".join(f"{q}:" for q in QUALIFIERS)
    raise QueryError(
        f"unknown qualifier “{name}:”: use one of {known} (or quote the word to search for it)",
        token.start,
        token.text,
    )


def _time_value(token: Token, now_ms: int) -> tuple[int, int | None]:
    """``(ms, relative length or None)`` of an ``after:``/``before:`` value."""
    value = token.value.strip()
    m = _RELATIVE.fullmatch(value)
    if m is not None:
        length = int(m.group(1)) * _UNITS[m.group(2)]
        return now_ms - length, length
    m = _DATE_TIME.fullmatch(value)
    try:
        if m is not None:
            year, month, day, hour, minute, second = (int(g or 0) for g in m.group(*range(1, 7)))
            millis = int((m.group(7) or "0")[:3].ljust(3, "0"))
            moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
            return int(moment.timestamp()) * 1000 + millis, None
        return parse_timestamp(value), None
    except (ValueError, FormatError, OverflowError):
        raise QueryError(
            f"{token.name}: takes a UTC date or time like {_TIME_EXAMPLES}",
            token.value_start,
            token.value or token.text,
        ) from None


def _values(token: Token) -> list[tuple[str, int]]:
    """The comma-separated values of ``token`` with their positions (empty ones refused)."""
    out: list[tuple[str, int]] = []
    offset = token.value_start + (1 if token.quoted else 0)
    for part in token.value.split(","):
        if not part.strip():
            at = offset - token.start
            raise QueryError(f"{token.name}: needs a value here", offset, token.text[at : at + 1])
        out.append((part.strip(), offset))
        offset += len(part) + 1
    return out


@dataclass
class _Builder:
    """The conditions read so far (the same qualifier twice is refused)."""

    now_ms: int
    fields: dict[str, object] = field(default_factory=dict)
    types: set[str] = field(default_factory=set)
    outcomes: set[str] | None = None
    exclude: set[tuple[str, str]] = field(default_factory=set)
    terms: list[str] = field(default_factory=list)
    excluded_words: list[Token] = field(default_factory=list)
    last_ms: int | None = None
    seen: dict[str, Token] = field(default_factory=dict)

    def once(self, slot: str, token: Token, hint: str) -> None:
        if slot in self.seen:
            raise QueryError(f"{token.name}: is given twice; {hint}", token.start, token.text)
        self.seen[slot] = token

    def add(self, group: Sequence[Token]) -> None:
        """One clause, or several joined by ``OR`` (words, or one qualifier; not negated)."""
        first = group[0]
        if len(group) > 1 and all(t.name is None and not t.negated for t in group):
            either = [text for text in map(self._term_text, group) if text]
            if either:
                self.terms.append(" OR ".join(either))
            return
        if len(group) > 1:
            self._check_or(group)
            if first.name == "type":
                self.once("type", first, "write type:a,b for either")
                for token in group:
                    self.types.update(self._types(token))
            else:
                self.once("outcome", first, "write outcome:a,b for either")
                self.outcomes = {o for token in group for o in self._outcomes(token)}
            return
        self._one(first)

    def _check_or(self, group: Sequence[Token]) -> None:
        first = group[0]
        for token in group:
            if token.negated:
                raise QueryError(
                    "OR cannot join an exclusion; exclude each value (-type:a -type:b)",
                    token.start,
                    token.text,
                )
            if first.name is None and token.name is None:
                continue  # a word: the culprit is the qualifier it was joined to
            if token.name not in ("type", "outcome") or token.name != first.name:
                raise QueryError(
                    "OR joins words (timeout OR refused) or values of one type: or outcome: "
                    "(type:agent OR type:task); every other condition must hold together, and "
                    "a user:, task:, agent: or ip: takes one value or a prefix (user:ana*)",
                    token.start,
                    token.text,
                )

    def _types(self, token: Token) -> set[str]:
        found = set()
        for value, at in _values(token):
            if value not in CATEGORIES and value not in EVENT_TYPES:
                raise QueryError(
                    f"no event type or category “{value}” (categories: {', '.join(CATEGORIES)})",
                    at,
                    value,
                )
            found.add(value)
        return found

    def _outcomes(self, token: Token) -> set[str]:
        found = set()
        for value, at in _values(token):
            if value.lower() not in OUTCOMES:
                raise QueryError(f"outcome: is one of {', '.join(OUTCOMES)}", at, value)
            found.add(value.lower())
        return found

    def _one(self, token: Token) -> None:
        name = token.name
        if name is None:
            self._term(token)
            return
        payload = name.startswith("event.")  # a payload value may be blank, if quoted
        if not (token.value.strip() or (payload and token.quoted)):
            raise QueryError(f"{name}: needs a value", token.start, token.text)
        if token.negated:
            self._excluded(token)
        elif name == "type":
            self.once("type", token, "write type:a,b for either")
            self.types.update(self._types(token))
        elif name == "outcome":
            self.once("outcome", token, "write outcome:a,b for either")
            self.outcomes = self._outcomes(token)
        elif name in ("after", "before"):
            self._time(token, name)
        elif name == "user":
            value = token.value.strip()
            email = "@" in value or value.endswith(PREFIX)
            self.once("user_email" if email else "user_id", token, "a user: takes one value")
            self.fields["user_email" if email else "user_id"] = value
        elif name in ("task", "agent", "ip"):
            self.once(name, token, f"a {name}: takes one value or a prefix ({name}:x*)")
            self.fields["ip" if name == "ip" else f"{name}_id"] = token.value.strip()
        elif name == "idx":
            self.once("idx", token, "give one range of log positions")
            m = _IDX_RANGE.fullmatch(token.value.strip())
            if m is None or not (m.group(1) or m.group(2)):
                raise QueryError(
                    "idx: takes log positions FIRST..LAST (idx:120..140)",
                    token.value_start,
                    token.value,
                )
            if m.group(1):
                self.fields["idx_from"] = int(m.group(1))
            if m.group(2):
                self.fields["idx_until"] = int(m.group(2)) + 1
        else:  # event.<name>:
            self.once("event_field", token, "give one payload field")
            self.fields["event_field"] = (name.split(".", 1)[1], token.value)

    def _time(self, token: Token, name: str) -> None:
        self.once(
            name, token, f"give one {name}: (and one {'before' if name == 'after' else 'after'}:)"
        )
        ms, length = _time_value(token, self.now_ms)
        self.fields["since_ms" if name == "after" else "until_ms"] = ms
        if name == "after":
            self.last_ms = length

    def _excluded(self, token: Token) -> None:
        name = token.name
        if name in ("after", "before"):
            flipped = replace(token, negated=False, name="before" if name == "after" else "after")
            self._time(flipped, str(flipped.name))
            return
        if name == "type":
            values = self._types(token)
        elif name == "outcome":
            values = self._outcomes(token)
        elif name in ("user", "task", "agent", "ip"):
            values = {token.value.strip()}
            if not token.value.strip().rstrip(PREFIX):
                raise QueryError(
                    f"-{name}: needs some of the value (a bare * would exclude everything)",
                    token.start,
                    token.text,
                )
        else:
            raise QueryError(
                f"{name}: cannot be excluded (only type:, user:, task:, agent:, ip:, "
                "outcome:, after: and before: can)",
                token.start,
                token.text,
            )
        self.exclude.update((str(name), v) for v in values)

    def _term(self, token: Token) -> None:
        text = self._term_text(token)
        if not text:
            return
        self.terms.append(("-" if token.negated else "") + text)
        if token.negated:
            self.excluded_words.append(token)

    @staticmethod
    def _term_text(token: Token) -> str:
        """A word or phrase as the search text holds it ("" when nothing in it is searchable:
        punctuation, ``""``; no condition, as the search reads it)."""
        if not search.SearchQuery.parse(token.value):
            return ""
        if token.quoted:
            if '"' in token.value:
                raise QueryError("a searched phrase cannot hold a quote", token.start, token.text)
            return f'"{token.value}"'
        return token.value

    def build(self, tokens: Sequence[Token]) -> ParsedQuery:
        since, until = self.fields.get("since_ms"), self.fields.get("until_ms")
        if isinstance(since, int) and isinstance(until, int) and since >= until:
            culprit = self.seen.get("before") or tokens[-1]
            raise QueryError("after: must be before before:", culprit.start, culprit.text)
        start, until_idx = self.fields.get("idx_from"), self.fields.get("idx_until")
        if isinstance(start, int) and isinstance(until_idx, int) and start >= until_idx:
            culprit = self.seen["idx"]
            raise QueryError("idx: FIRST must not be after LAST", culprit.start, culprit.text)
        exclude = set(self.exclude)
        outcome: str | None = None
        if self.outcomes is not None:
            if len(self.outcomes) == 1:
                outcome = next(iter(self.outcomes))
            elif len(self.outcomes) < len(OUTCOMES):  # "either of two" is "not the third"
                exclude.update(("outcome", o) for o in OUTCOMES if o not in self.outcomes)
        text = " ".join(self.terms) or None
        if self.excluded_words and not search.SearchQuery.parse(text or ""):
            culprit = self.excluded_words[0]
            why = "-word only narrows a search: add a word to look for (the index lists events "
            why += "holding words, not every event without one)"
            raise QueryError(why, culprit.start, culprit.text)
        try:
            f = EventFilter(
                types=frozenset(self.types),
                outcome=outcome,
                exclude=frozenset(exclude),
                text=text,
                **self.fields,  # type: ignore[arg-type]
            )
        except (TypeError, ValueError) as exc:  # a check of the filter's own, not foreseen here
            whole = " ".join(t.text for t in tokens)
            raise QueryError(str(exc), tokens[0].start if tokens else 0, whole) from None
        return ParsedQuery(f, self.last_ms if f.since_ms is not None else None)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_query(text: str, now_ms: int | None = None) -> ParsedQuery:
    """The filter ``text`` describes; relative times count back from ``now_ms`` (default: now).

    Raises :class:`QueryError` naming the first token the filter cannot take.
    """
    tokens = tokenize(text)
    for token in tokens:
        _check_name(token)
    builder = _Builder(_now_ms() if now_ms is None else now_ms)
    groups: list[list[Token]] = []
    expecting_or_operand = False
    for i, token in enumerate(tokens):
        if token.is_or:
            if not groups or expecting_or_operand or i == len(tokens) - 1:
                raise QueryError(
                    "OR needs a condition on each side (type:agent OR type:task)",
                    token.start,
                    token.text,
                )
            expecting_or_operand = True
            continue
        if expecting_or_operand:
            groups[-1].append(token)
            expecting_or_operand = False
        else:
            groups.append([token])
    for group in groups:
        builder.add(group)
    return builder.build(tokens)


# -- completion ----------------------------------------------------------------------------------


def token_at(text: str, cursor: int) -> tuple[int, str | None, str]:
    """What the cursor is completing: ``(start, qualifier, typed)``.

    ``start`` is where the word under the cursor begins (after a ``-``), ``qualifier`` the
    ``name`` of ``name:`` before the cursor (None: a qualifier itself is being typed) and
    ``typed`` what stands between them and the cursor. Works on unfinished text (an open
    quote), which :func:`tokenize` would refuse.
    """
    cursor = max(0, min(cursor, len(text)))
    start = cursor
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    if start < cursor and text[start] == "-":
        start += 1
    word = text[start:cursor]
    colon = word.find(":")
    if colon < 0:
        return start, None, word
    value = word[colon + 1 :].lstrip('"')
    # The last comma-separated value of a list (type:agent,appr).
    value = value.rsplit(",", 1)[-1]
    return cursor - len(value), word[:colon].lower(), value
