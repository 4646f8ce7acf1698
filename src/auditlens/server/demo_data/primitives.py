"""Small deterministic building blocks: ids, exact decimals, skewed draws, the submission shape."""

from __future__ import annotations

import random
from collections.abc import Mapping

from auditlens.core.event_ids import EventIdGenerator
from auditlens.server.demo_data.vocabulary import RUNTIME_AGENT, RUNTIME_NODES

Submission = dict[str, object]
"""An event without ``id`` and ``timestamp`` (the server assigns both)."""


_ULID_DIGITS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
"""Crockford base32, the alphabet of a ULID: to read one digit back."""


def ulid(rng: random.Random, ts_ms: int) -> str:
    """Return a 26-character ULID for ``ts_ms`` whose 80 random bits are drawn from ``rng``.

    The encoding is core's (:class:`~auditlens.core.event_ids.EventIdGenerator`, minus its ``log_``
    prefix). A fresh generator per id always draws new bits: the monotonic counter a long-lived
    generator keeps within one millisecond would make ids made in the same millisecond depend on
    each other.
    """
    return EventIdGenerator(rng).new(ts_ms).removeprefix("log_")


def decimal(value: int, places: int) -> str:
    """Format ``value / 10**places`` exactly as a decimal string (no floats anywhere)."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}"


def submission(
    kind: str,
    user_id: str | None,
    event: Mapping[str, object],
    task_id: str | None = None,
    agent_id: str | None = None,
) -> Submission:
    return {
        "type": kind,
        "user_id": user_id,
        "task_id": task_id,
        "agent_id": agent_id,
        "event": event,
    }


def runtime_request(task_id: str) -> dict[str, object]:
    """The agent runtime host that runs ``task_id`` (from the id, so no random draw moves)."""
    node = RUNTIME_NODES[_ULID_DIGITS.index(task_id[-1]) % len(RUNTIME_NODES)]
    return {"ip": node, "user_agent": RUNTIME_AGENT}


def pick(rng: random.Random, items: tuple[str, ...]) -> str:
    return items[int(rng.random() * len(items))]


def between(rng: random.Random, low: int, high: int) -> int:
    """A random int in [low, high), skewed towards ``low`` like most real latencies."""
    r = rng.random()
    return low + int((high - low) * r * r)
