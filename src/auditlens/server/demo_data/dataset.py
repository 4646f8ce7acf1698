"""The demo dataset and :func:`generate`, the package's entry point."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

from auditlens.server.demo_data.directory import Person, make_agents, make_people
from auditlens.server.demo_data.primitives import Submission
from auditlens.server.demo_data.rhythm import DAY_MS, MINUTE_MS
from auditlens.server.demo_data.simulation import Simulation
from auditlens.server.demo_data.vocabulary import ORG_DOMAIN, ORG_NAME, ORG_PLAN, ORG_SLUG

DATA_VERSION = 2
"""Bumped whenever the same arguments would give other events: cached demos are keyed by it
(``auditlens.ui.demo_cache``), so a new generator never shows an old cache's data."""

_MAX_ULID_TIME = (1 << 48) - 1


@dataclass(frozen=True)
class DemoDataset:
    """A demo organisation and a recipe for its event stream (the events are made on demand)."""

    org_name: str
    org_slug: str
    plan: str
    people: tuple[Person, ...]
    agents: tuple[str, ...]
    agent_names: tuple[str, ...]  # parallel to ``agents``
    domain: str
    seed: int
    count: int
    now_ms: int
    start_ms: int
    days: int

    def events(self) -> Iterator[tuple[int, Submission]]:
        """Yield exactly ``count`` ``(timestamp_ms, submission)`` pairs, oldest first.

        Timestamps never decrease and lie in ``[start_ms, now_ms]``. Each call starts afresh
        and yields the same stream; every submission is a new dict the caller may keep or change.
        """
        return Simulation(self).run()

    def first_with_role(self, role: str) -> Person:
        """Return the first person with ``role`` (the demo credentials the server prints)."""
        for person in self.people:
            if person.role == role:
                return person
        raise LookupError(f"the demo organisation has no person with role {role!r}")


def generate(
    seed: int = 1, events: int = 100_000, now_ms: int | None = None, days: int = 90
) -> DemoDataset:
    """Return the demo organisation for ``seed`` whose stream holds ``events`` events.

    The events are spread over the ``days`` days before ``now_ms`` (default: now, rounded down to
    the minute). Same arguments, same dataset, same events.
    """
    for name, value in (("seed", seed), ("events", events), ("days", days)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if events < 0:
        raise ValueError(f"events must be >= 0, got {events}")
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000 // MINUTE_MS * MINUTE_MS
    elif isinstance(now_ms, bool) or not isinstance(now_ms, int):
        raise TypeError(f"now_ms must be an int or None, got {type(now_ms).__name__}")
    start_ms = now_ms - days * DAY_MS
    if start_ms < 400 * DAY_MS or now_ms > _MAX_ULID_TIME:
        raise ValueError(
            f"now_ms must leave {days} days (plus a year of history) after 1970 and fit in 48 bits,"
            f" got {now_ms}"
        )
    rng = random.Random(f"auditlens-demo/{seed}/directory")
    people = make_people(rng, start_ms)
    agents, agent_names = make_agents(rng, start_ms)
    return DemoDataset(
        org_name=ORG_NAME,
        org_slug=ORG_SLUG,
        plan=ORG_PLAN,
        people=people,
        agents=agents,
        agent_names=agent_names,
        domain=ORG_DOMAIN,
        seed=seed,
        count=events,
        now_ms=now_ms,
        start_ms=start_ms,
        days=days,
    )
