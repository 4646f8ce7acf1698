"""The audit event catalogue: the categories and types, the fields an event has, and its errors.

architecture.md §3 fixes the seed schema. The rest of the event's executable form lives next to
this module, each with one job: :mod:`~auditlens.core.timestamps` (the one timestamp format),
:mod:`~auditlens.core.event_ids` (time-ordered ids), :mod:`~auditlens.core.validation` (what an
event or a submission may contain) and :mod:`~auditlens.core.summaries` (one-line summaries and
verdicts for people). None of them does I/O.
"""

from __future__ import annotations

import re
from typing import Final

from auditlens.core.errors import FormatError, got

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

TYPE_SHAPE: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)+", re.ASCII)


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
    if isinstance(event_type, str) and TYPE_SHAPE.fullmatch(event_type):
        return event_type.split(".", 1)[0]
    raise EventError("type", f'must look like "<category>.<action>", got {got(event_type)}')
