"""The CSV export's columns: how an event is flattened into cells, shared by writer and verifier.

A CSV export is for spreadsheets and SIEM importers, so it flattens each event into readable
columns; but only the ``canonical_json`` column is evidence (its bytes are the signed log entry).
The verifier therefore re-derives every flattened cell from ``canonical_json`` and reports a cell
that disagrees: a spreadsheet user who edits the ``outcome`` cell cannot make the file say
something the log does not.

Decisions:

- ``canonical_json`` is always written (an export without it could not be verified); the other
  columns are optional, in this fixed order. ``index`` is the log index (from the evidence, not
  from the event). ``user_email`` comes from the organization's directory, not from the signed
  event: it is checked against the sidecar's ``users`` map only.
- Formula injection (OWASP "CSV injection"): a cell whose text starts with ``=``, ``+``, ``-``,
  ``@``, TAB or CR is written with a leading apostrophe, so Excel/LibreOffice show it as text
  instead of running it. The verifier compares cells with the *neutralized* expected text, so
  the rule is exact in both directions (no guessing whether an apostrophe was added).
- Absent values (null, or a field the event does not have) are empty cells.
- ``summary`` is :func:`auditlens.core.events.summarize`; a future auditlens may summarize
  differently, so the verifier says which version made the export when a summary disagrees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from auditlens.core.events import summarize

CSV_COLUMNS: Final[tuple[str, ...]] = (
    "index",
    "id",
    "timestamp",
    "type",
    "user_id",
    "user_email",
    "task_id",
    "agent_id",
    "outcome",
    "ip",
    "tool",
    "summary",
    "canonical_json",
)
"""Every column a CSV export may have, in the order they are written."""

REQUIRED_COLUMN: Final = "canonical_json"

_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


def neutralize(text: str) -> str:
    """Return ``text`` as a spreadsheet shows it literally (leading apostrophe on formulas)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def check_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """Return ``columns`` in canonical order; raise ValueError on unknown or missing ones."""
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        raise ValueError(f"unknown CSV column(s) {unknown}; choose from {list(CSV_COLUMNS)}")
    chosen = set(columns) | {REQUIRED_COLUMN}
    return tuple(c for c in CSV_COLUMNS if c in chosen)


DERIVED: Final[tuple[str, ...]] = (
    "id",
    "timestamp",
    "type",
    "user_id",
    "task_id",
    "agent_id",
    "outcome",
    "ip",
    "tool",
    "summary",
)
"""The columns computed from the event alone, in the order :func:`derived_cells` returns them."""

_FORMULA_CHARS: Final = frozenset("=+-@\t\r")


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return None  # objects and arrays stay in canonical_json only


def _cell(value: object) -> str | None:
    text = value if type(value) is str else _text(value)
    if not text:
        return None
    return "'" + text if text[0] in _FORMULA_CHARS else text


def derived_cells(event: Mapping[str, object]) -> tuple[str | None, ...]:
    """The cells of :data:`DERIVED` for ``event``, neutralized; None means an empty cell.

    One call per row for both the writer and the verifier (a million rows each), so it reads
    each member once and builds no dictionary.
    """
    body = event.get("event")
    body = body if isinstance(body, Mapping) else {}
    request = body.get("request")
    outcome = body.get("outcome")
    return (
        _cell(event.get("id")),
        _cell(event.get("timestamp")),
        _cell(event.get("type")),
        _cell(event.get("user_id")),
        _cell(event.get("task_id")),
        _cell(event.get("agent_id")),
        _cell(outcome) if isinstance(outcome, str) else None,
        _cell(request.get("ip")) if isinstance(request, Mapping) else None,
        _cell(body.get("tool")),
        _cell(summarize(event)),
    )


def flat_values(event: Mapping[str, object], email: str | None) -> dict[str, str | None]:
    """Return the flattened cells of ``event`` except ``index`` and ``canonical_json``.

    Values are already neutralized; None means an empty cell.
    """
    out: dict[str, str | None] = dict(zip(DERIVED, derived_cells(event), strict=True))
    out["user_email"] = _cell(email)
    return out
