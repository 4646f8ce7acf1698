"""What the sidebar holds (:class:`PanelState`) and how its filter reads as chips.

Kept apart from the widget (:mod:`auditlens.ui.filter_panel`) so the history, the case file's
saved searches and the chips can use them without the sidebar's controls.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditlens.core.timestamps import format_timestamp
from auditlens.mirror.filter import PREFIX, EventFilter

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

#: (label, length in ms) of the date range presets (:attr:`PanelState.range_index` is a
#: position in it); None: all time; -1: custom from/to.
RANGES: tuple[tuple[str, int | None], ...] = (
    ("All time", None),
    ("Last hour", HOUR_MS),
    ("Last 24 hours", DAY_MS),
    ("Last 7 days", 7 * DAY_MS),
    ("Last 30 days", 30 * DAY_MS),
    ("Last 90 days", 90 * DAY_MS),
    ("Custom (UTC)…", -1),
)
CUSTOM = len(RANGES) - 1
OUTCOME_CHOICES = (
    ("Any outcome", None),
    ("Success", "success"),
    ("Failure", "failure"),
    ("Denied", "denied"),
)

#: The parts of a filter a chip can remove, in the order chips are shown.
PARTS = ("time", "user", "types", "task", "agent", "ip", "outcome", "exclude", "window", "field")


@dataclass(frozen=True)
class PanelState:
    """Everything the sidebar holds, as the person left it: a relative range stays relative
    ("Last 24 hours" put back is again the last 24 hours), typed text stays a prefix and a
    clicked value stays exact."""

    range_index: int = 0
    since_ms: int | None = None  # the custom From/To, when the range is custom
    until_ms: int | None = None
    texts: tuple[tuple[str, str], ...] = ()  # (field, text) of the text fields
    exact: tuple[tuple[str, str], ...] = ()  # (field, value) matched exactly
    types: frozenset[str] = frozenset()
    outcome_index: int = 0
    window: tuple[int, int] | None = None  # (idx_from, idx_until)
    event_field: tuple[str, str] | None = None
    #: The conditions only the query bar writes: its free text and its exclusions (``-x:y``).
    text: str | None = None
    exclude: frozenset[tuple[str, str]] = frozenset()


def _shown(value: str) -> tuple[str, str]:
    """``("starts with", "elena")`` for a prefix, ``("", value)`` for an exact value."""
    if value.endswith(PREFIX):
        return "starts with ", value.rstrip(PREFIX)
    return "", value


def filter_chips(f: EventFilter) -> list[tuple[str, str]]:
    """``(part, text)`` per condition of ``f``, as the removable chips above the table say it.

    Plain words, not query parameters: "User starts with elena", "Outcome: denied".
    """
    chips: list[tuple[str, str]] = []

    def minute(ms: int) -> str:
        return format_timestamp(ms)[:16].replace("T", " ")

    if f.since_ms is not None and f.until_ms is not None:
        chips.append(("time", f"{minute(f.since_ms)} – {minute(f.until_ms)} UTC"))
    elif f.since_ms is not None:
        chips.append(("time", f"Since {minute(f.since_ms)} UTC"))
    elif f.until_ms is not None:
        chips.append(("time", f"Before {minute(f.until_ms)} UTC"))
    user = f.user_email if f.user_email is not None else f.user_id
    if user is not None:
        how, value = _shown(user)
        chips.append(("user", f"User {how}{value}"))
    if f.types:
        names = sorted(f.categories) + sorted(f.exact_types)
        chips.append(("types", "Type: " + ", ".join(names)))
    for part, label, given in (
        ("task", "Task", f.task_id),
        ("agent", "Agent", f.agent_id),
        ("ip", "IP", f.ip),
    ):
        if given is not None:
            how, shown = _shown(given)
            chips.append((part, f"{label} {how}{shown}"))
    if f.outcome is not None:
        chips.append(("outcome", f"Outcome: {f.outcome}"))
    if f.exclude:
        excluded = sorted(f"{name} {''.join(_shown(value))}" for name, value in f.exclude)
        chips.append(("exclude", "Not " + ", not ".join(excluded)))
    if f.idx_from is not None or f.idx_until is not None:
        low = "the first" if f.idx_from is None else f"#{f.idx_from:,}"
        high = "the last" if f.idx_until is None else f"#{f.idx_until - 1:,}"
        chips.append(("window", f"Log positions {low} – {high}"))
    if f.event_field is not None:
        name, value = f.event_field
        chips.append(("field", f"event.{name} = {value}"))
    return chips
