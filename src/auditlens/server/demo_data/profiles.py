"""People as the event stream sees them: where they sign in from, when they joined, their roles."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from auditlens.server.demo_data.rhythm import DAY_MS, HOUR_MS, office_time
from auditlens.server.demo_data.vocabulary import MOBILE_AGENT, OFFICE_IPS, USER_AGENTS

if TYPE_CHECKING:
    from auditlens.server.demo_data.dataset import DemoDataset
    from auditlens.server.demo_data.directory import Person


@dataclass
class Profile:
    person: Person
    ips: tuple[str, ...]
    agents: tuple[str, ...]  # user agents
    sso: bool
    provider: str
    joined_ms: int  # 0 when the person was there before the window
    roles: list[tuple[int, str]]  # (from_ms, role), ascending

    def role_at(self, t: int) -> str:
        role = self.roles[0][1]
        for since, r in self.roles:
            if since <= t:
                role = r
        return role

    def request(self, rng: random.Random) -> dict[str, object]:
        return {"ip": rng.choice(self.ips), "user_agent": rng.choice(self.agents)}


class TeamChange(NamedTuple):
    t: int
    kind: str  # invited | role_changed
    profile: Profile
    actor: Profile
    from_role: str
    to_role: str


def make_profiles(
    dataset: DemoDataset, rng: random.Random
) -> tuple[list[Profile], list[TeamChange]]:
    """Give every person sign-in habits, and decide who joined or changed role in the window."""
    span = dataset.now_ms - dataset.start_ms
    profiles = []
    for n, person in enumerate(dataset.people):
        home = f"198.51.100.{20 + 7 * n}"
        ips = (rng.choice(OFFICE_IPS), home) + ((f"192.0.2.{40 + n}",) if n % 3 == 0 else ())
        agents = tuple(rng.sample(USER_AGENTS, rng.choice((1, 2))))
        if n % 4 == 1:
            agents += (MOBILE_AGENT,)
        sso = rng.randrange(100) < 70
        provider = "okta" if sso and rng.randrange(100) < 80 else "google"
        profiles.append(Profile(person, ips, agents, sso, provider, 0, [(0, person.role)]))

    changes: list[TeamChange] = []
    leaders = [p for p in profiles if p.person.role in ("owner", "admin")]
    members = [p for p in profiles if p.person.role == "member"]
    # Two members joined during the window: invited by a leader, active a day or two later.
    for p in members[-2:]:
        invited = office_time(rng, dataset.start_ms + span * rng.randrange(15, 70) // 100)
        p.joined_ms = invited + rng.randrange(4 * HOUR_MS, 2 * DAY_MS)
        actor = rng.choice(leaders)
        changes.append(TeamChange(invited, "invited", p, actor, "", "member"))
    # The last admin was promoted from member; one member was an admin until mid-window.
    admins = [p for p in profiles if p.person.role == "admin"]
    promoted = admins[-1]
    when = office_time(rng, dataset.start_ms + span * rng.randrange(30, 60) // 100)
    promoted.roles = [(0, "member"), (when, "admin")]
    actor = next(p for p in profiles if p.person.role == "owner")
    changes.append(TeamChange(when, "role_changed", promoted, actor, "member", "admin"))
    demoted = members[0]
    when = office_time(rng, dataset.start_ms + span * rng.randrange(20, 50) // 100)
    demoted.roles = [(0, "admin"), (when, "member")]
    changes.append(TeamChange(when, "role_changed", demoted, actor, "admin", "member"))
    return profiles, changes
