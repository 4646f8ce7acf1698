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
- ``summary`` is :func:`auditlens.core.summaries.summarize`; a future auditlens may summarize
  differently, so the verifier says which version made the export when a summary disagrees.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from auditlens.core.summaries import summarize

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


NOT_DERIVED: Final = ("index", "user_email", REQUIRED_COLUMN)
"""The columns that do not come from the event alone: the log index, the directory's email,
and the event itself."""

DERIVED: Final[tuple[str, ...]] = tuple(c for c in CSV_COLUMNS if c not in NOT_DERIVED)
"""The columns computed from the event alone, in the order :func:`derived_cells` returns them."""

_FORMULA_CHARS: Final = frozenset("=+-@\t\r")


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return ""  # null, objects and arrays stay in canonical_json only


def _cell(value: object) -> str:
    text = value if type(value) is str else _text(value)
    if not text:
        return ""
    return "'" + text if text[0] in _FORMULA_CHARS else text


def derived_cells(event: Mapping[str, object]) -> tuple[str, ...]:
    """The cells of :data:`DERIVED` for ``event``, neutralized; ``""`` is an empty cell.

    One call per row for both the writer and the verifier (a million rows each), so it reads
    each member once, builds no dictionary, and tests ``type(x) is dict`` (what a parsed event
    holds) before the slower ``Mapping`` check. Empty cells are ``""`` (not None) so that the
    verifier compares a row's cells with one tuple comparison.
    """
    get = event.get
    body = get("event")
    if type(body) is not dict:
        body = body if isinstance(body, Mapping) else {}
    request = body.get("request")
    if type(request) is not dict and not isinstance(request, Mapping):
        request = None
    outcome = body.get("outcome")
    cell = _cell
    return (
        cell(get("id")),
        cell(get("timestamp")),
        cell(get("type")),
        cell(get("user_id")),
        cell(get("task_id")),
        cell(get("agent_id")),
        cell(outcome) if type(outcome) is str else "",
        cell(request.get("ip")) if request is not None else "",
        cell(body.get("tool")),
        cell(summarize(event)),
    )
