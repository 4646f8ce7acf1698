"""A submission's canonical bytes, cut where the server's ``id`` and ``timestamp`` will go.

An event's canonical form (RFC 8785) is an object with its members sorted by name, so ``id`` and
``timestamp`` always sit between the same neighbours: ``{"agent_id":…,"event":…,"id":"…",
"task_id":…,"timestamp":"…","type":…,"user_id":…}``. :func:`canonical_runs` serializes the
submission once, whole, and cuts it into the three runs around them; the bulk writer splices in
the id it draws and the formatted time (neither needs escaping) and hashes.

Serializing the whole submission in one call costs about half of serializing ``event`` and then
each top-level member apart, which the bulk path did before. The call is
:func:`~auditlens.core.canonical.canonicalize_event`: orjson with sorted keys where core's
structural check proves that equal to RFC 8785, the reference serializer otherwise (a property
test compares the spliced bytes with the reference's). A check written for the demo's shapes
(collecting an object's value types in C) measured slower than core's, so there is one check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from auditlens.core.canonical import canonicalize_event
from auditlens.core.events import EventError

__all__ = ["canonical_runs"]

_TOP_SCALARS: Final = frozenset({str, type(None)})

_TASK: Final = b',"task_id":'
_TYPE: Final = b',"type":'


def canonical_runs(sub: Mapping[str, Any]) -> tuple[bytes, bytes, bytes]:
    """``(head, middle, tail)``: the canonical bytes of ``sub`` with ``id`` and ``timestamp``.

    ``head + id + middle + timestamp + tail`` is the RFC 8785 form of ``{"id": id, "timestamp":
    timestamp, **sub}`` for any ``id`` and ``timestamp`` made of characters JSON does not escape.
    ``sub`` must hold exactly the members ``agent_id``, ``event``, ``task_id``, ``type`` and
    ``user_id``, all but ``event`` a str or None (the caller checks the names; an
    :class:`EventError` names a top-level value of another kind). Raises ``FormatError`` as
    :func:`~auditlens.core.canonical.canonicalize` does for a value it cannot serialize.
    """
    for name in ("agent_id", "task_id", "type", "user_id"):
        if type(sub[name]) not in _TOP_SCALARS:
            raise EventError(name, "must be a string or null")
    whole = canonicalize_event(sub)
    # Only strings and nulls follow the top-level "task_id" and "type" members, and a string
    # cannot hold an unescaped quote, so their last occurrences are the top-level ones.
    task = whole.rindex(_TASK)
    kind = whole.rindex(_TYPE)
    return (
        whole[:task] + b',"id":"',
        b'"' + whole[task:kind] + b',"timestamp":"',
        b'"' + whole[kind:],
    )
