"""A filter printed as the query bar's line: the inverse of
:func:`~auditlens.mirror.query_text.parse_query`.

``parse_query(format_query(f)).filter == f`` for every filter the bar or the sidebar can make
(a property test checks it). The language itself is described in
:mod:`auditlens.mirror.query_text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from auditlens.core.timestamps import format_timestamp
from auditlens.mirror import search
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.query_text import _QUALIFIER_LIKE, _UNITS

__all__ = ["format_query", "relative_text"]


def relative_text(length_ms: int) -> str:
    """``-24h``, ``-7d``, ``-90m``: a length back from now, in the largest whole unit (hours up
    to two days, so "the last 24 hours" reads as it does in the sidebar)."""
    if length_ms <= 0 or length_ms % _UNITS["m"]:
        raise ValueError(f"a relative time must be whole minutes, got {length_ms} ms")
    if length_ms % _UNITS["d"] == 0 and length_ms >= 2 * _UNITS["d"]:
        return f"-{length_ms // _UNITS['d']}d"
    if length_ms % _UNITS["h"] == 0:
        return f"-{length_ms // _UNITS['h']}h"
    return f"-{length_ms // _UNITS['m']}m"


def _time_text(ms: int) -> str:
    """The shortest exact UTC form: a date, a minute, or the full RFC 3339 time."""
    stamp = format_timestamp(ms)
    if ms % 86_400_000 == 0:
        return stamp[:10]
    if ms % 60_000 == 0:
        return stamp[:16]
    return stamp


def _needs_quotes(value: str) -> bool:
    return not value or any(c.isspace() or c == '"' for c in value) or value.startswith("\\")


def _value_text(value: str) -> str:
    if not _needs_quotes(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _term_texts(text: str) -> Iterable[str]:
    """The terms of a search text, each printed so it reads back as text, not as a clause
    (an excluded one keeps its ``-``)."""
    joining = looked_for = False  # an OR read / the last term printed is looked for
    for m in re.finditer(r'(-?)"([^"]*)"?|(-?)(\S+)', text):
        minus = (m.group(1) or "") + (m.group(3) or "")
        quoted, bare = m.group(2), m.group(4)
        if bare == "OR" and not minus:  # the search's own OR: either side (search.py)
            joining = looked_for
            continue
        if bare is not None and not (bare.startswith(("-", '"')) or _QUALIFIER_LIKE.match(bare)):
            printed = minus + bare
        elif search.SearchQuery.parse(quoted if bare is None else bare):
            printed = minus + '"' + (quoted if bare is None else bare).replace('"', "") + '"'
        else:
            continue
        if joining and not minus:
            yield "OR"
        yield printed
        joining, looked_for = False, not minus


def format_query(f: EventFilter, last_ms: int | None = None) -> str:
    """``f`` as its canonical query line ("" for no filter).

    With ``last_ms`` (the sidebar's "Last 24 hours") the start prints as ``after:-24h`` so it
    stays relative wherever the line goes (a saved search), whatever ``f.since_ms`` says.
    The clauses come in one fixed order (time, fields, exclusions, index range, event field,
    words), so one filter always prints as one line.
    """
    parts = [
        *_time_clauses(f, last_ms),
        *_field_clauses(f),
        *_excluded_clauses(f),
        *_index_and_field_clauses(f),
    ]
    if f.text is not None:
        parts.extend(_term_texts(f.text))
    return " ".join(parts)


def _time_clauses(f: EventFilter, last_ms: int | None) -> Iterable[str]:
    if last_ms is not None:
        yield f"after:{relative_text(last_ms)}"
    elif f.since_ms is not None:
        yield f"after:{_time_text(f.since_ms)}"
    if f.until_ms is not None:
        yield f"before:{_time_text(f.until_ms)}"


def _field_clauses(f: EventFilter) -> Iterable[str]:
    for value in (f.user_email, f.user_id):
        if value is not None:
            yield f"user:{_value_text(value)}"
    if f.types:
        yield "type:" + ",".join(sorted(f.types))
    for name, value in (("task", f.task_id), ("agent", f.agent_id), ("ip", f.ip)):
        if value is not None:
            yield f"{name}:{_value_text(value)}"
    if f.outcome is not None:
        yield f"outcome:{f.outcome}"


def _excluded_clauses(f: EventFilter) -> Iterable[str]:
    excluded: dict[str, list[str]] = {}
    for name, value in sorted(f.exclude):
        excluded.setdefault(name, []).append(value)
    for name in ("type", "outcome"):  # no comma inside a value: one clause for them all
        if name in excluded:
            yield f"-{name}:" + ",".join(excluded.pop(name))
    for name, values in excluded.items():
        yield from (f"-{name}:{_value_text(v)}" for v in values)


def _index_and_field_clauses(f: EventFilter) -> Iterable[str]:
    if f.idx_from is not None or f.idx_until is not None:
        low = "" if f.idx_from is None else str(f.idx_from)
        high = "" if f.idx_until is None else str(f.idx_until - 1)
        yield f"idx:{low}..{high}"
    if f.event_field is not None:
        yield f"event.{f.event_field[0]}:{_value_text(f.event_field[1])}"
