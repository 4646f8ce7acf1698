"""The demo organisation's directory: its people (with demo passwords) and its agents."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import NamedTuple

from auditlens.server.demo_data.primitives import ulid
from auditlens.server.demo_data.rhythm import DAY_MS
from auditlens.server.demo_data.vocabulary import (
    AGENT_CODENAMES,
    ASCII,
    FIRST_NAMES,
    LAST_NAMES,
    ORG_DOMAIN,
    PASSWORD_WORDS,
)


@dataclass(frozen=True)
class Person:
    """One member of the demo organisation; the server creates a user for each."""

    id: str
    email: str
    name: str
    role: str  # owner | admin | member
    password: str  # demo password, deterministic from the seed (printed by `serve --demo`)


def make_people(rng: random.Random, start_ms: int) -> tuple[Person, ...]:
    """Twelve people: 1-2 owners, 3-4 admins, the rest members; emails at the org's domain."""
    firsts = rng.sample(FIRST_NAMES, 12)
    lasts = rng.sample(LAST_NAMES, 12)
    owners = rng.choice((1, 2))
    admins = rng.choice((3, 4))
    people = []
    for i, (first, last) in enumerate(zip(firsts, lasts, strict=True)):
        role = "owner" if i < owners else "admin" if i < owners + admins else "member"
        local = f"{first}.{last}".lower().translate(ASCII)
        created = start_ms - rng.randrange(30, 700) * DAY_MS - rng.randrange(DAY_MS)
        words = rng.sample(PASSWORD_WORDS, 2)
        password = f"{words[0]}-{words[1]}-{rng.randrange(1000, 10000)}"
        people.append(
            Person(
                id="usr_" + ulid(rng, created),
                email=f"{local}@{ORG_DOMAIN}",
                name=f"{first} {last}",
                role=role,
                password=password,
            )
        )
    return tuple(people)


class _Specialty(NamedTuple):
    key: str
    label: str
    weight: int  # how many of the ~40 agents do this kind of work


_SPECIALTIES = (
    _Specialty("code", "Code Mechanic", 10),
    _Specialty("ops", "Ops Runner", 7),
    _Specialty("support", "Support Triage", 7),
    _Specialty("data", "Data Analyst", 6),
    _Specialty("research", "Research Scout", 5),
    _Specialty("docs", "Docs Writer", 5),
)


def make_agents(rng: random.Random, start_ms: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Forty agents, each named for its specialty (``Kestrel Code Mechanic``)."""
    codenames = list(AGENT_CODENAMES)
    rng.shuffle(codenames)
    ids: list[str] = []
    names: list[str] = []
    for specialty in _SPECIALTIES:
        for _ in range(specialty.weight):
            created = start_ms - rng.randrange(1, 300) * DAY_MS - rng.randrange(DAY_MS)
            ids.append("agt_" + ulid(rng, created))
            names.append(f"{codenames[len(names)]} {specialty.label}")
    return tuple(ids), tuple(names)


def specialty_of(agent_index: int) -> str:
    """The specialty of the agent at ``agent_index`` (agents are made in specialty order)."""
    for specialty in _SPECIALTIES:
        if agent_index < specialty.weight:
            return specialty.key
        agent_index -= specialty.weight
    raise IndexError(agent_index)
