"""The columns of an ``entries`` row, derived from an event's exact bytes.

The sync (:mod:`auditlens.client.sync`), the start-up re-check (:mod:`auditlens.mirror.recheck`)
and the schema upgrade derive the same columns from the same bytes with :func:`extract_row`, so
an edited column is found by deriving it again.
"""

from __future__ import annotations

from collections.abc import Mapping

from auditlens.core import events as core_events
from auditlens.core import summaries as core_summaries
from auditlens.core import timestamps as core_timestamps
from auditlens.core.errors import FormatError

#: (idx, id, ts, type, category, user_id, task_id, agent_id, outcome, summary, raw,
#:  verdict, ip, user_agent): the columns of ``entries`` in table order.
EntryRow = tuple[
    int,
    str,
    int,
    str,
    str,
    str | None,
    str | None,
    str | None,
    str,
    str,
    bytes,
    str,
    str | None,
    str | None,
]


class MalformedEntryError(FormatError):
    """An entry of the signed log is not an event this viewer can index; ``index`` says which."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(f"entry {index} of the log is not a valid event: {reason}")
        self.index = index


_day_ms_cache: dict[str, int] = {}


def timestamp_ms(text: object) -> int:
    """Milliseconds since the epoch of an event timestamp (fast path for the canonical form)."""
    if (
        isinstance(text, str)
        and len(text) == 24
        and text[10] == "T"
        and text[23] == "Z"
        and text[19] == "."
    ):
        day = text[:10]
        base = _day_ms_cache.get(day)
        if base is None:
            base = core_timestamps.parse_timestamp(day + "T00:00:00.000Z")
            if len(_day_ms_cache) < 100_000:
                _day_ms_cache[day] = base
        try:
            h, m, s, ms = int(text[11:13]), int(text[14:16]), int(text[17:19]), int(text[20:23])
        except ValueError:
            return core_timestamps.parse_timestamp(text)  # raises FormatError naming it
        if h < 24 and m < 60 and s < 60 and text[13] == ":" and text[16] == ":":
            return base + ((h * 60 + m) * 60 + s) * 1000 + ms
    if not isinstance(text, str):
        raise FormatError(f"timestamp must be a string, got {type(text).__name__}")
    return core_timestamps.parse_timestamp(text)


def _opt_str(value: object, name: str, index: int) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise MalformedEntryError(index, f"{name} must be a string or null, got {type(value).__name__}")


def request_of(event: Mapping[str, object]) -> tuple[str | None, str | None]:
    """``(ip, user_agent)`` of the event's ``request`` object (None where absent or not text).

    Display and filter columns only: a malformed ``request`` must not stop a verified entry
    from being stored, so anything but a string reads as absent.
    """
    body = event.get("event")
    request = body.get("request") if core_summaries.is_object(body) else None
    if not core_summaries.is_object(request):
        return None, None
    ip, agent = request.get("ip"), request.get("user_agent")
    return (ip if isinstance(ip, str) and ip else None), (
        agent if isinstance(agent, str) and agent else None
    )


def extract_row(index: int, raw: bytes, event: object) -> EntryRow:
    """The ``entries`` row for the event parsed from ``raw`` (stored as received)."""
    if not isinstance(event, dict):
        raise MalformedEntryError(index, "not a JSON object")
    event_id = event.get("id")
    event_type = event.get("type")
    if not isinstance(event_id, str) or not event_id:
        raise MalformedEntryError(index, "id is missing or not a string")
    if not isinstance(event_type, str):
        raise MalformedEntryError(index, "type is missing or not a string")
    try:
        ts = timestamp_ms(event.get("timestamp"))
        category = core_events.category_of(event_type)
    except FormatError as exc:
        raise MalformedEntryError(index, str(exc)) from None
    try:
        summary = core_summaries.summarize(event)
    except Exception as exc:  # a summary must never block storing a verified entry
        summary = f"(no summary: {type(exc).__name__})"
    return (
        index,
        event_id,
        ts,
        event_type,
        category,
        _opt_str(event.get("user_id"), "user_id", index),
        _opt_str(event.get("task_id"), "task_id", index),
        _opt_str(event.get("agent_id"), "agent_id", index),
        core_summaries.outcome_of(event),
        summary,
        raw,
        core_summaries.verdict_of(event),
        *request_of(event),
    )
