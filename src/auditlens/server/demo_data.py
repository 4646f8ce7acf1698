"""Deterministic, realistic demo data: the first log a newcomer sees in the viewer.

This module only *invents* events; it never stores, signs or sends them. The server's seed command
feeds :meth:`DemoDataset.events` through its sequencer, which assigns each event its ``id`` and
log index and takes the timestamp we propose. A submission follows architecture.md §3 exactly (the
common ``event`` fields keep their names; extra fields are added where they make an event
convincing).

What it must guarantee, and how:

- **Deterministic.** Everything comes from :class:`random.Random` instances seeded from
  ``(seed, purpose)`` strings (string seeds are hashed with SHA-512, so they do not depend on
  ``PYTHONHASHSEED``); nothing reads the clock or the global ``random``. :func:`generate` reads the
  clock only when ``now_ms`` is None, and stores the result, so one dataset always yields the
  same stream.
- **Exactly ``count`` events, streamed.** Two sources are merged by time. The *background* (sign-in
  sessions, a login attack burst, integrations, API keys, billing, team changes) follows the
  calendar, not the requested size: it holds at most a few events per person and day, so it is
  built up front (capped to 30% of the count; small datasets keep the organisation events first).
  *Tasks* fill the rest: a task's whole lifecycle (a few dozen events) is built when it starts
  and its events wait in a heap until their time comes, so memory is bounded by the tasks in
  flight, never by the count. Task ``k`` starts where the daily/weekly rhythm's cumulative
  density reaches ``events so far / task budget`` (plus jitter), which spreads the tasks over the
  whole window whatever the count. The last task is cut to the exact budget (it is still running
  "now"), and a task that would run past ``now_ms`` is compressed in time to end at ``now_ms``
  (its durations recomputed), so every timestamp lies in ``[start_ms, now_ms]``.
- **Realistic rhythm.** The organisation works in a fixed UTC-5 offset (no DST, by design: the
  data must not depend on a time-zone database): busy weekday office hours, quiet nights and
  weekends.
- **No floats.** Decimals travel as strings (``"cost_usd": "1.27"``, ``"value": "81.5"``); every
  integer is far inside ±(2^53−1).

Conventions a reader of the log should know (the viewer's summary relies on none of them):

- ``user_id`` is the person who acted (the approver on ``approval.approved/denied``, the canceller
  on ``task.cancelled``) or the task's owner on agent-driven task events; null for system actions
  (scheduled tasks, credential refreshes, usage alerts) and failed logins for unknown emails.
- ``event.request`` (``ip``, ``user_agent``) is the HTTP request that caused the event, because the
  detail pane is where an investigator looks for "from where": the person's browser or CLI for
  sign-ins, settings, API keys, approvals, cancellations and tasks created in the web app;
  Slack's webhook for tasks created from Slack; the agent runtime (``agentd``, one internal
  address per task) for what an agent reports (``task.started``, ``agent.action``,
  ``approval.requested``, ``task.completed``/``failed``). Only what the platform does by itself
  has none: scheduled tasks, credential refreshes, usage alerts, revocation disconnects.
- ``outcome`` says whether the recorded operation itself succeeded: a failed login, a failed tool
  call, a failed task or credential refresh are ``failure``; a *denied* approval is a decision
  that was recorded successfully, so it is ``success`` (its ``reason`` says why).
- ``auth.sso`` records the identity provider's assertion (the SSO hand-shake); the session it
  opens is the following ``auth.login`` with ``method: "sso"``. A failed assertion has no login.
"""

from __future__ import annotations

import bisect
import copy
import heapq
import random
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["DATA_VERSION", "DemoDataset", "Person", "generate"]

DATA_VERSION = 2
"""Bumped whenever the same arguments would give other events: cached demos are keyed by it
(``auditlens.ui.demo_cache``), so a new generator never shows an old cache's data."""

Submission = dict[str, object]
"""An event without ``id`` and ``timestamp`` (the server assigns both)."""

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

ORG_NAME = "Acme Robotics"
ORG_SLUG = "acme"
ORG_DOMAIN = "acme-robotics.com"
ORG_PLAN = "enterprise"

_LOCAL_OFFSET_MS = -5 * HOUR_MS  # the organisation's office hours, fixed UTC-5
_BACKGROUND_SHARE_PERCENT = 30  # background never takes more than this share of the count
_MAX_ULID_TIME = (1 << 48) - 1

# Activity by local hour (0-23) and by weekday (Monday = 0): relative integer weights.
_HOUR_WEIGHT: tuple[int, ...] = (6, 4, 3, 3, 3, 5, 10, 25, 60, 95, 100, 100, 75, 90, 100, 100)
_HOUR_WEIGHT += (95, 70, 45, 30, 22, 18, 12, 8)
_WEEKDAY_WEIGHT = (100, 100, 100, 100, 95, 22, 18)

# ---------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class Person:
    """One member of the demo organisation; the server creates a user for each."""

    id: str
    email: str
    name: str
    role: str  # owner | admin | member
    password: str  # demo password, deterministic from the seed (printed by `serve --demo`)


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
        return _Simulation(self).run()

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
    people = _make_people(rng, start_ms)
    agents, agent_names = _make_agents(rng, start_ms)
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


# ---------------------------------------------------------------------------------------------
# Identifiers

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _ulid(rng: random.Random, ts_ms: int) -> str:
    """Return a 26-character Crockford base32 ULID for ``ts_ms`` (time-ordered like real ids)."""
    value = (ts_ms << 80) | rng.getrandbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _decimal(value: int, places: int) -> str:
    """Format ``value / 10**places`` exactly as a decimal string (no floats anywhere)."""
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**places)
    return f"{sign}{whole}.{frac:0{places}d}"


# ---------------------------------------------------------------------------------------------
# The directory: people and agents

_FIRST_NAMES = (
    "Maya", "Daniel", "Priya", "Lukas", "Sofia", "Kenji", "Amara", "Mateo", "Elena", "Omar",
    "Grace", "Noah", "Aisha", "Felix", "Hannah", "Ravi", "Chloe", "Tomás", "Ingrid", "Samuel",
    "Leila", "Victor", "Zoe", "Arjun",
)  # fmt: skip
_LAST_NAMES = (
    "Chen", "Okafor", "Nair", "Becker", "Rossi", "Tanaka", "Mensah", "García", "Petrova",
    "Haddad", "Kim", "Williams", "Khan", "Schneider", "Novak", "Iyer", "Dubois", "Silva",
    "Lindqvist", "Adeyemi", "Moreau", "Costa", "Fischer", "Park",
)  # fmt: skip
_PASSWORD_WORDS = (
    "amber", "falcon", "harbor", "cobalt", "meadow", "quartz", "ember", "summit", "willow",
    "orbit", "canyon", "lumen", "cedar", "tundra", "signal", "beacon",
)  # fmt: skip
_ASCII = str.maketrans("áéíóúñçãõäöüåø", "aeiouncaoaouao")

_AGENT_CODENAMES = (
    "Atlas", "Beacon", "Cobalt", "Drift", "Ember", "Fable", "Garnet", "Harbor", "Indigo",
    "Juniper", "Kestrel", "Lumen", "Meridian", "Nimbus", "Onyx", "Pioneer", "Quill", "Relay",
    "Sable", "Tango", "Umber", "Vesper", "Willow", "Xenon", "Yarrow", "Zephyr", "Aurora",
    "Basalt", "Cedar", "Delta", "Echo", "Flint", "Gale", "Halcyon", "Iris", "Jasper", "Kite",
    "Lark", "Maple", "Nova",
)  # fmt: skip


def _make_people(rng: random.Random, start_ms: int) -> tuple[Person, ...]:
    """Twelve people: 1-2 owners, 3-4 admins, the rest members; emails at the org's domain."""
    firsts = rng.sample(_FIRST_NAMES, 12)
    lasts = rng.sample(_LAST_NAMES, 12)
    owners = rng.choice((1, 2))
    admins = rng.choice((3, 4))
    people = []
    for i, (first, last) in enumerate(zip(firsts, lasts, strict=True)):
        role = "owner" if i < owners else "admin" if i < owners + admins else "member"
        local = f"{first}.{last}".lower().translate(_ASCII)
        created = start_ms - rng.randrange(30, 700) * DAY_MS - rng.randrange(DAY_MS)
        words = rng.sample(_PASSWORD_WORDS, 2)
        password = f"{words[0]}-{words[1]}-{rng.randrange(1000, 10000)}"
        people.append(
            Person(
                id="usr_" + _ulid(rng, created),
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


def _make_agents(rng: random.Random, start_ms: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Forty agents, each named for its specialty (``Kestrel Code Mechanic``)."""
    codenames = list(_AGENT_CODENAMES)
    rng.shuffle(codenames)
    ids: list[str] = []
    names: list[str] = []
    for specialty in _SPECIALTIES:
        for _ in range(specialty.weight):
            created = start_ms - rng.randrange(1, 300) * DAY_MS - rng.randrange(DAY_MS)
            ids.append("agt_" + _ulid(rng, created))
            names.append(f"{codenames[len(names)]} {specialty.label}")
    return tuple(ids), tuple(names)


def _specialty_of(agent_index: int) -> str:
    """The specialty of the agent at ``agent_index`` (agents are made in specialty order)."""
    for specialty in _SPECIALTIES:
        if agent_index < specialty.weight:
            return specialty.key
        agent_index -= specialty.weight
    raise IndexError(agent_index)


# ---------------------------------------------------------------------------------------------
# Calendar: the organisation's working rhythm


class _Rhythm:
    """The cumulative activity density over ``[start_ms, now_ms]``, in hour buckets.

    ``time_at(w)`` inverts it: the instant by which a share ``w / total`` of the window's
    activity has happened. Integer arithmetic throughout, so it is exact and portable.
    """

    def __init__(self, start_ms: int, now_ms: int) -> None:
        self.starts: list[int] = []
        self.rates: list[int] = []  # weight per millisecond of each bucket
        self.cumulative: list[int] = []  # weight before each bucket
        total = 0
        t = start_ms
        while t < now_ms:
            end = min(now_ms, (t // HOUR_MS + 1) * HOUR_MS)
            rate = _activity(t)
            self.starts.append(t)
            self.rates.append(rate)
            self.cumulative.append(total)
            total += rate * (end - t)
            t = end
        self.total = total
        self.start_ms = start_ms
        self.now_ms = now_ms

    def time_at(self, weight: int) -> int:
        """Return the instant by which ``weight`` of the window's activity has happened."""
        if weight <= 0 or not self.starts:
            return self.start_ms
        if weight >= self.total:
            return self.now_ms
        i = bisect.bisect_right(self.cumulative, weight) - 1
        return self.starts[i] + (weight - self.cumulative[i]) // self.rates[i]


def _local(t: int) -> tuple[int, int]:
    """Return (weekday with Monday = 0, hour) of ``t`` in the organisation's office time."""
    local = t + _LOCAL_OFFSET_MS
    return (local // DAY_MS + 3) % 7, local % DAY_MS // HOUR_MS  # 1970-01-01 was a Thursday


def _activity(t: int) -> int:
    weekday, hour = _local(t)
    return _HOUR_WEIGHT[hour] * _WEEKDAY_WEIGHT[weekday]


def _local_midnight(t: int) -> int:
    """The UTC instant of the office-time midnight starting the day that contains ``t``."""
    local = t + _LOCAL_OFFSET_MS
    return local - local % DAY_MS - _LOCAL_OFFSET_MS


def _office_time(rng: random.Random, t: int) -> int:
    """Move ``t`` to a random working-hours instant (10:00-17:00, Mon-Fri) on or after its day."""
    day = _local_midnight(t)
    while _local(day + 12 * HOUR_MS)[0] >= 5:
        day += DAY_MS
    return day + 10 * HOUR_MS + rng.randrange(7 * HOUR_MS)


# ---------------------------------------------------------------------------------------------
# People as the event stream sees them: where they sign in from, when they joined, their roles

_OFFICE_IPS = ("203.0.113.10", "203.0.113.11", "2001:db8:4f2a:10::1")
_USER_AGENTS = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/125.0.0.0 Safari/537.36 Edg/125.0.2535.92",
    "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
)
_MOBILE_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
_CLI_AGENT = "acme-agents-cli/2.4.1 python-httpx/0.27.0"
_RUNTIME_AGENT = "agentd/3.8.2"
_RUNTIME_NODES = tuple(f"10.42.8.{21 + n}" for n in range(12))  # the agent runtime's hosts
_SLACK_WEBHOOK = {
    "ip": "203.0.113.61",
    "user_agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
}
_ATTACK_AGENT = "python-requests/2.31.0"


@dataclass
class _Profile:
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


class _TeamChange(NamedTuple):
    t: int
    kind: str  # invited | role_changed
    profile: _Profile
    actor: _Profile
    from_role: str
    to_role: str


def _make_profiles(
    dataset: DemoDataset, rng: random.Random
) -> tuple[list[_Profile], list[_TeamChange]]:
    """Give every person sign-in habits, and decide who joined or changed role in the window."""
    span = dataset.now_ms - dataset.start_ms
    profiles = []
    for n, person in enumerate(dataset.people):
        home = f"198.51.100.{20 + 7 * n}"
        ips = (rng.choice(_OFFICE_IPS), home) + ((f"192.0.2.{40 + n}",) if n % 3 == 0 else ())
        agents = tuple(rng.sample(_USER_AGENTS, rng.choice((1, 2))))
        if n % 4 == 1:
            agents += (_MOBILE_AGENT,)
        sso = rng.randrange(100) < 70
        provider = "okta" if sso and rng.randrange(100) < 80 else "google"
        profiles.append(_Profile(person, ips, agents, sso, provider, 0, [(0, person.role)]))

    changes: list[_TeamChange] = []
    leaders = [p for p in profiles if p.person.role in ("owner", "admin")]
    members = [p for p in profiles if p.person.role == "member"]
    # Two members joined during the window: invited by a leader, active a day or two later.
    for p in members[-2:]:
        invited = _office_time(rng, dataset.start_ms + span * rng.randrange(15, 70) // 100)
        p.joined_ms = invited + rng.randrange(4 * HOUR_MS, 2 * DAY_MS)
        actor = rng.choice(leaders)
        changes.append(_TeamChange(invited, "invited", p, actor, "", "member"))
    # The last admin was promoted from member; one member was an admin until mid-window.
    admins = [p for p in profiles if p.person.role == "admin"]
    promoted = admins[-1]
    when = _office_time(rng, dataset.start_ms + span * rng.randrange(30, 60) // 100)
    promoted.roles = [(0, "member"), (when, "admin")]
    actor = next(p for p in profiles if p.person.role == "owner")
    changes.append(_TeamChange(when, "role_changed", promoted, actor, "member", "admin"))
    demoted = members[0]
    when = _office_time(rng, dataset.start_ms + span * rng.randrange(20, 50) // 100)
    demoted.roles = [(0, "admin"), (when, "member")]
    changes.append(_TeamChange(when, "role_changed", demoted, actor, "admin", "member"))
    return profiles, changes


# ---------------------------------------------------------------------------------------------
# Event construction helpers


def _submission(
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


def _runtime_request(task_id: str) -> dict[str, object]:
    """The agent runtime host that runs ``task_id`` (from the id, so no random draw moves)."""
    node = _RUNTIME_NODES[_CROCKFORD.index(task_id[-1]) % len(_RUNTIME_NODES)]
    return {"ip": node, "user_agent": _RUNTIME_AGENT}


def _pick(rng: random.Random, items: tuple[str, ...]) -> str:
    return items[int(rng.random() * len(items))]


def _between(rng: random.Random, low: int, high: int) -> int:
    """A random int in [low, high), skewed towards ``low`` like most real latencies."""
    r = rng.random()
    return low + int((high - low) * r * r)


# ---------------------------------------------------------------------------------------------
# Background: sessions, attacks, integrations, API keys, billing, team


class _Background:
    """Builds the calendar-driven events; their number depends on the days, not the count."""

    def __init__(
        self,
        dataset: DemoDataset,
        rng: random.Random,
        profiles: list[_Profile],
        changes: list[_TeamChange],
    ) -> None:
        self.d = dataset
        self.rng = rng
        self.profiles = profiles
        self.changes = changes
        self.span = dataset.now_ms - dataset.start_ms

    def at(self, low_percent: int, high_percent: int) -> int:
        """A working-hours instant between the given percentages of the window."""
        share = self.rng.randrange(low_percent, high_percent)
        return _office_time(self.rng, self.d.start_ms + self.span * share // 100)

    def leader(self, t: int) -> _Profile:
        """An owner or admin at ``t`` (who may change settings)."""
        pool = [p for p in self.profiles if p.role_at(t) in ("owner", "admin") and p.joined_ms <= t]
        return self.rng.choice(pool)

    def units(
        self,
    ) -> tuple[list[list[tuple[int, Submission]]], list[list[tuple[int, Submission]]]]:
        """Return (organisation units, session units); a unit is a list of related events."""
        org = [self.team(), self.billing(), *self.integrations(), self.api_keys(), self.attacks()]
        return [u for u in org if u], self.sessions()

    # -- sessions ----------------------------------------------------------------------------

    def sessions(self) -> list[list[tuple[int, Submission]]]:
        rng = self.rng
        units = []
        day = _local_midnight(self.d.start_ms)
        while day < self.d.now_ms:
            weekday = _local(day + 12 * HOUR_MS)[0]
            for p in self.profiles:
                if rng.randrange(100) >= (88 if weekday < 5 else 10):
                    continue
                start = day + 7 * HOUR_MS + 30 * MINUTE_MS + rng.randrange(3 * HOUR_MS)
                units.append(self.session(p, start))
                if rng.randrange(100) < 22:
                    units.append(self.session(p, day + 13 * HOUR_MS + rng.randrange(3 * HOUR_MS)))
            day += DAY_MS
        return units

    def session(self, p: _Profile, t: int) -> list[tuple[int, Submission]]:
        rng = self.rng
        uid = p.person.id
        out: list[tuple[int, Submission]] = []
        if t < p.joined_ms:
            return out
        request = p.request(rng)
        ev: dict[str, object]
        if p.sso:
            if rng.randrange(100) < 4:
                reason = rng.choice(("mfa_timeout", "assertion_expired", "mfa_rejected"))
                ev = {"method": "sso", "provider": p.provider, "outcome": "failure"}
                ev |= {"failure_reason": reason, "request": dict(request)}
                out.append((t, _submission("auth.sso", uid, ev)))
                t += rng.randrange(20_000, 120_000)
            ev = {"method": "sso", "provider": p.provider, "outcome": "success"}
            ev |= {"idp_session": "idps_" + _ulid(rng, t)[-16:].lower()}
            out.append((t, _submission("auth.sso", uid, ev | {"request": dict(request)})))
            t += rng.randrange(300, 1500)
            ev = {"method": "sso", "provider": p.provider, "mfa": True, "outcome": "success"}
        elif p.person.role == "admin" and rng.randrange(100) < 12:
            key = "key_" + _ulid(rng, t - 30 * DAY_MS)
            ev = {"method": "api_key", "key_id": key, "key_prefix": "alk_" + key[-8:].lower()}
            ev["outcome"] = "success"
            request = {"ip": request["ip"], "user_agent": _CLI_AGENT}
        else:
            for _ in range(rng.choice((1, 1, 2)) if rng.randrange(100) < 9 else 0):
                ev = {"method": "password", "email": p.person.email, "outcome": "failure"}
                ev |= {"failure_reason": "invalid_password", "request": dict(request)}
                out.append((t, _submission("auth.login", uid, ev)))
                t += rng.randrange(6_000, 40_000)
            ev = {"method": "password", "mfa": True, "outcome": "success"}
        out.append((t, _submission("auth.login", uid, ev | {"request": dict(request)})))
        if rng.randrange(100) < 58:
            length = rng.randrange(40 * MINUTE_MS, 9 * HOUR_MS)
            ev = {"session_ms": length, "outcome": "success", "request": dict(request)}
            out.append((t + length, _submission("auth.logout", uid, ev)))
        return out

    def attacks(self) -> list[tuple[int, Submission]]:
        """Password-spraying bursts at night from one address, cut off by the rate limiter."""
        rng = self.rng
        out: list[tuple[int, Submission]] = []
        for _ in range(max(1, self.d.days // 45)):
            t = _local_midnight(self.d.start_ms + self.span * rng.randrange(5, 95) // 100)
            t += rng.randrange(1 * HOUR_MS, 5 * HOUR_MS)
            target = rng.choice(self.profiles)
            ip = f"198.51.100.{rng.randrange(200, 250)}"
            for n in range(rng.randrange(6, 14)):
                unknown = n % 3 == 2
                email = f"admin@{ORG_DOMAIN}" if unknown else target.person.email
                reason = (
                    "rate_limited" if n >= 5 else "unknown_email" if unknown else "invalid_password"
                )
                ev: dict[str, object] = {"method": "password", "email": email}
                ev |= {"outcome": "failure", "failure_reason": reason}
                ev["request"] = {"ip": ip, "user_agent": _ATTACK_AGENT}
                uid = None if unknown else target.person.id
                out.append((t, _submission("auth.login", uid, ev)))
                t += rng.randrange(1_500, 9_000)
        return out

    # -- team ------------------------------------------------------------------------------------

    def team(self) -> list[tuple[int, Submission]]:
        rng = self.rng
        out: list[tuple[int, Submission]] = []
        for c in self.changes:
            person = c.profile.person
            ev: dict[str, object] = {"member_id": person.id, "member_email": person.email}
            if c.kind == "invited":
                ev |= {"role": c.to_role, "expires_in_days": 7}
                kind = "team.member_invited"
            else:
                ev |= {"from_role": c.from_role, "to_role": c.to_role}
                kind = "team.role_changed"
            ev |= {"outcome": "success", "request": c.actor.request(rng)}
            out.append((c.t, _submission(kind, c.actor.person.id, ev)))
        # A contractor invited but never joined; a former colleague removed.
        t = self.at(10, 90)
        actor = self.leader(t)
        ev = {"member_id": "usr_" + _ulid(rng, t), "member_email": "sam.ortiz@northwind-design.com"}
        ev |= {"role": "member", "expires_in_days": 7, "outcome": "success"}
        ev["request"] = actor.request(rng)
        out.append((t, _submission("team.member_invited", actor.person.id, ev)))
        t = self.at(25, 75)
        actor = self.leader(t)
        former = "usr_" + _ulid(rng, t - 400 * DAY_MS)
        ev = {"member_id": former, "member_email": f"jordan.blake@{ORG_DOMAIN}", "role": "member"}
        ev |= {"outcome": "success", "request": actor.request(rng)}
        out.append((t, _submission("team.member_removed", actor.person.id, ev)))
        return out

    # -- billing ---------------------------------------------------------------------------------

    def billing(self) -> list[tuple[int, Submission]]:
        rng = self.rng
        out: list[tuple[int, Submission]] = []
        t = self.at(8, 30)
        owner = next(p for p in self.profiles if p.person.role == "owner")
        ev: dict[str, object] = {"from_plan": "business", "to_plan": "enterprise"}
        ev |= {"direction": "upgrade", "seats": 25, "billing_cycle": "annual"}
        ev |= {"outcome": "success", "request": owner.request(rng)}
        out.append((t, _submission("billing.plan_changed", owner.person.id, ev)))
        metrics = (
            ("agent_runtime_hours", 4_000),
            ("llm_tokens", 900_000_000),
            ("api_requests", 2_500_000),
            ("storage_gb", 500),
        )
        for _ in range(max(1, self.d.days // 12)):
            t = self.d.start_ms + rng.randrange(self.span)
            metric, limit = rng.choice(metrics)
            threshold = rng.choice((80, 80, 90, 100))
            tenths = threshold * 10 + rng.randrange(0, 40)
            ev = {"metric": metric, "threshold": threshold, "value": _decimal(tenths, 1)}
            ev |= {"unit": "percent", "limit": limit, "period": "month", "outcome": "success"}
            out.append((t, _submission("billing.usage_alert", None, ev)))
        return out

    # -- integrations --------------------------------------------------------------------------

    def integrations(self) -> list[list[tuple[int, Submission]]]:
        rng = self.rng
        kinds = (
            ("github", ("repo", "read:org"), True),
            ("slack", ("chat:write", "channels:read"), True),
            ("google_drive", ("drive.file",), True),
            ("jira", ("read:jira-work", "write:jira-work"), True),
            ("zendesk", ("tickets:read", "tickets:write"), False),
            ("notion", ("read_content",), False),
        )
        units = []
        for name, scopes, existing in kinds:
            out: list[tuple[int, Submission]] = []
            iid = "int_" + _ulid(rng, self.d.start_ms - rng.randrange(30, 300) * DAY_MS)
            base: dict[str, object] = {"integration": name, "integration_id": iid}
            if existing:
                connected_at = self.d.start_ms
            else:
                connected_at = self.at(5, 40)
                out.append(self.connect(connected_at, base, scopes))
            until = self.d.now_ms
            if name == "notion":
                until = self.at(60, 95)
                actor = self.leader(until)
                ev = base | {"reason": "no longer used", "outcome": "success"}
                ev["request"] = actor.request(rng)
                out.append((until, _submission("integration.disconnected", actor.person.id, ev)))
            t = connected_at + rng.randrange(2 * DAY_MS, 9 * DAY_MS)
            while t < until:
                if rng.randrange(100) < 9:
                    error = rng.choice(
                        (
                            "invalid_grant: refresh token revoked",
                            "HTTP 401 from provider token endpoint",
                        )
                    )
                    ev = base | {"outcome": "failure", "error": error}
                    out.append((t, _submission("integration.credential_refreshed", None, ev)))
                    t += rng.randrange(1_000, 60_000)
                    ev = base | {"reason": "credentials_revoked", "outcome": "success"}
                    out.append((t, _submission("integration.disconnected", None, ev)))
                    t = _office_time(rng, t + rng.randrange(HOUR_MS, DAY_MS))
                    if t >= until:
                        break
                    out.append(self.connect(t, base, scopes))
                else:
                    ev = base | {
                        "expires_in_s": 3600 * rng.choice((1, 8, 24)),
                        "outcome": "success",
                    }
                    out.append((t, _submission("integration.credential_refreshed", None, ev)))
                t += rng.randrange(3 * DAY_MS, 10 * DAY_MS)
            units.append(out)
        return units

    def connect(
        self, t: int, base: dict[str, object], scopes: tuple[str, ...]
    ) -> tuple[int, Submission]:
        actor = self.leader(t)
        ev = base | {"scopes": list(scopes), "account": "acme-robotics", "outcome": "success"}
        ev["request"] = actor.request(self.rng)
        return t, _submission("integration.connected", actor.person.id, ev)

    # -- API keys ------------------------------------------------------------------------------

    def api_keys(self) -> list[tuple[int, Submission]]:
        rng = self.rng
        out: list[tuple[int, Submission]] = []
        plan = (
            ("ci-ingest", "ingest", 3, 55),
            ("warehouse-export", "read", 10, None),
            ("zendesk-sync", "ingest", 20, None),
            ("staging-ingest", "ingest", 30, 70),
            ("ci-ingest-2025", "ingest", 56, None),
        )
        for name, scope, created_pct, deleted_pct in plan:
            t = self.at(created_pct, created_pct + 4)
            actor = self.leader(t)
            key_id = "key_" + _ulid(rng, t)
            base: dict[str, object] = {"key_id": key_id, "key_name": name}
            base["key_prefix"] = "alk_" + key_id[-8:].lower()
            ev = base | {"scope": scope, "outcome": "success", "request": actor.request(rng)}
            out.append((t, _submission("auth.api_key.created", actor.person.id, ev)))
            if deleted_pct is not None:
                t = self.at(deleted_pct, deleted_pct + 4)
                actor = self.leader(t)
                ev = base | {"outcome": "success", "request": actor.request(rng)}
                out.append((t, _submission("auth.api_key.deleted", actor.person.id, ev)))
        return out


# ---------------------------------------------------------------------------------------------
# Tasks: the vocabulary agents work with

_SERVICES = (
    "billing", "payments", "fleet-telemetry", "firmware-updates", "identity", "notifications",
    "inventory", "robot-scheduler", "customer-portal", "warehouse-maps",
)  # fmt: skip
_MODULES = ("webhooks", "handlers", "models", "client", "retry", "config", "serializers", "tasks")
_DEPENDENCIES = ("requests", "sqlalchemy", "pydantic", "fastapi", "boto3", "celery", "protobuf")
_PRODUCTS = ("Fleet Manager", "Acme Dock", "Acme Picker", "the customer portal", "the mobile app")
_CUSTOMERS = (
    "Contoso Logistics", "Fabrikam Foods", "Tailspin Freight", "Wingtip Retail",
    "Northwind Traders",
)  # fmt: skip
_SYMPTOMS = (
    "robots stuck at the charging dock", "map sync failures", "login loops in the portal",
    "late shipment notifications", "battery reports showing 0%",
)  # fmt: skip
_TOPICS = (
    "multi-robot path planning", "LiDAR-based SLAM", "battery degradation models",
    "sim-to-real transfer", "safety-rated speed monitoring",
)  # fmt: skip
_VENDORS = ("Twilio", "Stripe", "Zendesk", "HubSpot", "Mapbox", "Samsara")
_COMPETITORS = ("Globex Automation", "Initech Mobility", "Umbrella Logistics", "Hooli Robotics")
_SITES = ("Reno DC", "Rotterdam hub", "Dallas fulfillment center", "Osaka warehouse")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August")
_CHANNELS = ("#eng-billing", "#ops-alerts", "#support-escalations", "#data-team", "#releases")

_TITLES: dict[str, tuple[str, ...]] = {
    "code": (
        "Refactor {service} webhook handler",
        "Fix flaky test in {service} integration suite",
        "Upgrade {dep} to {depver} in {service}",
        "Add retry with exponential backoff to the {service} client",
        "Review pull request #{pr} in {repo}",
        "Write unit tests for the {service} {module} module",
        "Remove dead feature flags from {service}",
    ),
    "ops": (
        "Rotate TLS certificates for {service}",
        "Investigate elevated 5xx errors on {service}",
        "Scale {service} workers ahead of peak season",
        "Roll out firmware {fw} to the canary fleet",
        "Clean up stale preview environments",
        "Restart stuck jobs in the {service} queue",
    ),
    "support": (
        "Summarize Q{q} support tickets",
        "Triage new bug reports for {product}",
        "Draft replies for overdue {product} tickets",
        "Tag escalations from {customer}",
        "Find duplicate tickets about {symptom}",
    ),
    "data": (
        "Build the weekly fleet uptime report",
        "Analyze churn by signup cohort for {month}",
        "Reconcile {month} invoices with Stripe payouts",
        "Forecast battery replacements for Q{q}",
        "Find robots with abnormal motor temperature at the {site}",
    ),
    "research": (
        "Compile competitor pricing from {competitor}",
        "Summarize recent papers on {topic}",
        "Research {vendor} API rate limits and quotas",
        "Brief on EU machinery regulation for mobile robots",
        "Collect customer reviews of {competitor} AMRs",
    ),
    "docs": (
        "Draft release notes for v{ver}",
        "Update the onboarding guide for {product}",
        "Write the postmortem for the {service} outage",
        "Translate the {product} quick-start guide to German",
        "Refresh the API reference for {service} endpoints",
    ),
}
_SCHEDULED_TITLES: dict[str, tuple[str, str]] = {
    "code": ("Nightly dependency audit for {service}", "0 2 * * *"),
    "support": ("Daily support digest", "0 7 * * 1-5"),
    "ops": ("Weekly SOC 2 evidence collection", "0 5 * * 1"),
    "data": ("Hourly fleet telemetry anomaly scan", "0 * * * *"),
    "research": ("Weekly competitor news roundup", "0 6 * * 1"),
    "docs": ("Weekly changelog digest", "0 16 * * 5"),
}
_MODELS = ("claude-sonnet-4", "gpt-4.1", "gemini-2.5-pro", "claude-opus-4")


class _Call(NamedTuple):
    """One tool call an agent makes: what the log records about it."""

    tool: str
    params: dict[str, object]
    extra: Mapping[str, object]  # url / path / language at the top of ``event``
    result: Mapping[str, object]
    duration_ms: int
    errors: tuple[str, ...]


class _Ctx:
    """The subject of one task: the service, repository and names its tool calls refer to."""

    __slots__ = ("branch", "lang", "module", "pr", "repo", "service", "title")

    def __init__(self, rng: random.Random) -> None:
        self.service = _pick(rng, _SERVICES)
        self.module = _pick(rng, _MODULES)
        self.repo = f"acme-robotics/{self.service}"
        self.pr = rng.randrange(800, 4200)
        self.lang = "python" if rng.randrange(100) < 70 else _pick(rng, ("go", "typescript"))
        self.title = ""
        self.branch = ""

    def source_path(self, rng: random.Random, test: bool = False) -> str:
        if self.lang == "go":
            name = f"{self.module}_test.go" if test else f"{self.module}.go"
            return f"services/{self.service}/internal/{self.module}/{name}"
        if self.lang == "typescript":
            name = f"{self.module}.test.ts" if test else f"{self.module}.ts"
            return f"apps/{self.service}/src/{name}"
        package = self.service.replace("-", "_")
        if test:
            return f"services/{self.service}/tests/test_{self.module}.py"
        return f"services/{self.service}/src/{package}/{_pick(rng, _MODULES)}.py"


_SLUG = re.compile(r"[^a-z0-9]+")
_HTTP_ERRORS = (
    "HTTP 503 Service Unavailable",
    "ReadTimeout: no response within 30 s",
    "HTTP 401 Unauthorized: token expired",
    "HTTP 429 Too Many Requests",
)


def _file_read(rng: random.Random, ctx: _Ctx, path: str = "") -> _Call:
    path = path or ctx.source_path(rng, test=rng.randrange(100) < 25)
    size = _between(rng, 600, 48_000)
    result = {"bytes": size, "lines": size // 38 + 1}
    errors = (f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'",)
    return _Call("file.read", {"path": path}, {"path": path}, result, _between(rng, 3, 90), errors)


def _file_write(rng: random.Random, ctx: _Ctx, path: str = "") -> _Call:
    path = path or ctx.source_path(rng, test=rng.randrange(100) < 30)
    size = _between(rng, 400, 30_000)
    params: dict[str, object] = {"path": path, "bytes": size, "mode": "overwrite"}
    errors = (
        f"PermissionError: [Errno 13] Permission denied: '{path}'",
        "OSError: disk quota exceeded",
    )
    return _Call(
        "file.write", params, {"path": path}, {"bytes_written": size}, _between(rng, 4, 120), errors
    )


_SNIPPETS: dict[str, tuple[str, ...]] = {
    "python": (
        "import pytest\nraise SystemExit(pytest.main(['-q', 'tests/test_{module}.py']))",
        "from {package}.{module} import handle\nprint(handle(load_fixture('stripe_event.json')))",
        "import pandas as pd\ndf = pd.read_parquet('{file}')\nprint(df.describe())",
        "from collections import Counter\n"
        "print(Counter(t['tags'][0] for t in tickets).most_common(10))",
    ),
    "go": ("go test ./internal/{module}/... -run Test -count=1",),
    "typescript": ("npx vitest run src/{module}.test.ts",),
}
_CODE_ERRORS = (
    "exit code 1: 2 failed, 48 passed in 6.31s",
    "TimeoutError: execution exceeded 120 s",
    "ModuleNotFoundError: No module named 'stripe_webhooks'",
    "MemoryError: sandbox limit of 2 GiB exceeded",
)


def _code_execute(rng: random.Random, ctx: _Ctx, language: str = "") -> _Call:
    language = language or ctx.lang
    snippet = _pick(rng, _SNIPPETS[language]).format(
        module=ctx.module,
        package=ctx.service.replace("-", "_"),
        file=f"{ctx.service}_daily.parquet",
    )
    params: dict[str, object] = {"language": language, "code": snippet, "timeout_s": 120}
    result = {"exit_code": 0, "stdout_bytes": _between(rng, 40, 20_000)}
    return _Call(
        "code.execute",
        params,
        {"language": language},
        result,
        _between(rng, 350, 60_000),
        _CODE_ERRORS,
    )


_SHELL_ERRORS = (
    "exit status 1",
    "exit status 128: fatal: could not read Username for 'https://github.com'",
    "command timed out after 300 s",
)


def _shell_run(rng: random.Random, ctx: _Ctx, command: str = "") -> _Call:
    if not command:
        command = _pick(
            rng,
            (
                f"git checkout -b {ctx.branch}",
                f"ruff check services/{ctx.service}",
                f"pytest -q services/{ctx.service}/tests -x",
                f"git commit -am '{ctx.title}'",
                f"git push origin {ctx.branch}",
            ),
        )
    params: dict[str, object] = {
        "command": command,
        "cwd": f"/workspace/{ctx.service}",
        "timeout_s": 300,
    }
    result = {"exit_code": 0}
    return _Call("shell.run", params, {}, result, _between(rng, 120, 40_000), _SHELL_ERRORS)


def _ops_shell(rng: random.Random, ctx: _Ctx) -> _Call:
    svc = ctx.service
    command = _pick(
        rng,
        (
            f"kubectl -n production get pods -l app={svc}",
            f"kubectl -n production logs deploy/{svc} --since=1h --tail=500",
            "kubectl -n production top pods --sort-by=cpu",
            f"openssl x509 -in certs/{svc}.pem -noout -enddate",
            f"kubectl -n production describe hpa {svc}-worker",
        ),
    )
    return _shell_run(rng, ctx, command)


def _http_request(rng: random.Random, ctx: _Ctx, method: str = "GET", url: str = "") -> _Call:
    url = url or _pick(
        rng,
        (
            f"https://grafana.acme-robotics.internal/api/dashboards/uid/{ctx.service}-overview",
            f"https://prometheus.acme-robotics.internal/api/v1/query?query=rate(http_requests_total%7Bservice%3D%22{ctx.service}%22%7D%5B5m%5D)",
            f"https://api.github.com/repos/{ctx.repo}/actions/runs?branch=main&per_page=20",
            f"https://acme-robotics.atlassian.net/rest/api/3/search?jql=project%3DOPS%20AND%20component%3D{ctx.service}",
        ),
    )
    params: dict[str, object] = {"method": method, "url": url, "timeout_s": 30}
    if method != "GET":
        params["body_bytes"] = _between(rng, 200, 9_000)
    result = {"status": 201 if method == "POST" else 200, "bytes": _between(rng, 300, 180_000)}
    return _Call(
        "http.request", params, {"url": url}, result, _between(rng, 60, 8_000), _HTTP_ERRORS
    )


def _support_api(rng: random.Random, ctx: _Ctx) -> _Call:
    status = _pick(rng, ("open", "pending", "new"))
    url = (
        "https://acme-robotics.zendesk.com/api/v2/search.json"
        f"?query=type%3Aticket%20status%3A{status}&page={rng.randrange(1, 9)}"
    )
    return _http_request(rng, ctx, "GET", url)


_PAGES = (
    "https://en.wikipedia.org/wiki/Simultaneous_localization_and_mapping",
    "https://arxiv.org/abs/2405.{n:05d}",
    "https://www.{competitor}.example/pricing",
    "https://docs.{vendor}.com/api/rate-limits",
    "https://eur-lex.europa.eu/eli/reg/2023/1230/oj",
    "https://news.ycombinator.com/item?id=4{n:07d}",
    "https://github.com/{repo}/pull/{pr}",
    "https://pypi.org/project/{dep}/",
)
_BROWSER_ERRORS = (
    "TimeoutError: navigation exceeded 30000 ms",
    "net::ERR_NAME_NOT_RESOLVED",
    "HTTP 403 Forbidden (bot protection challenge)",
)
_PAGE_TITLES = ("Pricing", "Rate limits", "Pull request", "Abstract", "Regulation (EU) 2023/1230")


def _page_url(rng: random.Random, ctx: _Ctx) -> str:
    return _pick(rng, _PAGES).format(
        n=rng.randrange(1, 99999),
        competitor=_pick(rng, _COMPETITORS).split()[0].lower(),
        vendor=_pick(rng, _VENDORS).lower(),
        repo=ctx.repo,
        pr=ctx.pr,
        dep=_pick(rng, _DEPENDENCIES),
    )


def _browser_navigate(rng: random.Random, ctx: _Ctx) -> _Call:
    url = _page_url(rng, ctx)
    params: dict[str, object] = {"url": url, "wait_until": _pick(rng, ("load", "networkidle"))}
    result = {"status": 200, "title": _pick(rng, _PAGE_TITLES)}
    return _Call(
        "browser.navigate", params, {"url": url}, result, _between(rng, 350, 9_000), _BROWSER_ERRORS
    )


def _browser_extract(rng: random.Random, ctx: _Ctx) -> _Call:
    url = _page_url(rng, ctx)
    params: dict[str, object] = {"url": url, "selector": _pick(rng, ("main", "article", "table"))}
    params["format"] = "markdown"
    result = {"chars": _between(rng, 800, 60_000)}
    return _Call(
        "browser.extract", params, {"url": url}, result, _between(rng, 150, 3_000), _BROWSER_ERRORS
    )


def _search_web(rng: random.Random, ctx: _Ctx) -> _Call:
    query = ctx.title.lower()
    params: dict[str, object] = {"query": query, "max_results": 10}
    errors = ("HTTP 429: search quota exceeded",)
    return _Call("search.web", params, {}, {"results": 10}, _between(rng, 300, 2_500), errors)


_QUERIES = (
    "SELECT site, date_trunc('day', ts) AS day, avg(uptime_pct) FROM fleet_uptime"
    " WHERE ts > now() - interval '7 days' GROUP BY 1, 2",
    "SELECT robot_id, max(motor_temp_c) FROM telemetry WHERE ts > now() - interval '24 hours'"
    " GROUP BY robot_id HAVING max(motor_temp_c) > 70",
    "SELECT invoice_id, amount_cents, status FROM invoices"
    " WHERE period = date_trunc('month', now() - interval '1 month')",
    "SELECT cohort_month, count(*) FILTER (WHERE churned) FROM accounts"
    " GROUP BY cohort_month ORDER BY 1",
)
_SQL_ERRORS = (
    "canceling statement due to statement timeout",
    'relation "fleet_events_2024" does not exist',
    "could not connect to server: Connection refused",
)


def _sql_query(rng: random.Random, ctx: _Ctx) -> _Call:
    params: dict[str, object] = {"database": "analytics-replica", "query": _pick(rng, _QUERIES)}
    params["row_limit"] = 10_000
    result = {"rows": _between(rng, 0, 10_000)}
    return _Call("sql.query", params, {}, result, _between(rng, 40, 25_000), _SQL_ERRORS)


def _slack_post(rng: random.Random, ctx: _Ctx, channel: str = "") -> _Call:
    channel = channel or _pick(rng, _CHANNELS)
    params: dict[str, object] = {
        "channel": channel,
        "text": f"Update on '{ctx.title}': done, details in thread.",
    }
    url = f"https://acme-robotics.slack.com/archives/{channel.lstrip('#')}"
    return _Call(
        "slack.post_message",
        params,
        {"url": url},
        {
            "ok": True,
            "ts": f"{rng.randrange(1_700_000_000, 1_800_000_000)}.{rng.randrange(10**6):06d}",
        },
        _between(rng, 120, 1_500),
        ("channel_not_found",),
    )


def _jira_create(rng: random.Random, ctx: _Ctx) -> _Call:
    key = f"OPS-{rng.randrange(1000, 9999)}"
    url = f"https://acme-robotics.atlassian.net/browse/{key}"
    params: dict[str, object] = {
        "project": "OPS",
        "issue_type": "Bug",
        "summary": f"{ctx.service}: {_pick(rng, _SYMPTOMS)}",
    }
    return _Call(
        "jira.create_issue",
        params,
        {"url": url},
        {"key": key},
        _between(rng, 300, 2_500),
        _HTTP_ERRORS,
    )


def _github_pr(rng: random.Random, ctx: _Ctx) -> _Call:
    url = f"https://github.com/{ctx.repo}/pull/{ctx.pr}"
    params: dict[str, object] = {
        "repo": ctx.repo,
        "base": "main",
        "head": ctx.branch,
        "title": ctx.title,
    }
    errors = (f"HTTP 422: A pull request already exists for {ctx.branch}",)
    return _Call(
        "github.create_pull_request",
        params,
        {"url": url},
        {"number": ctx.pr},
        _between(rng, 500, 3_000),
        errors,
    )


# Gated calls: the platform asks a person before an agent may make them.


class _Gate(NamedTuple):
    policy: str
    risk: str
    make: Callable[[random.Random, _Ctx], _Call]


def _gh_merge(rng: random.Random, ctx: _Ctx) -> _Call:
    url = f"https://github.com/{ctx.repo}/pull/{ctx.pr}"
    params: dict[str, object] = {"repo": ctx.repo, "number": ctx.pr, "merge_method": "squash"}
    return _Call(
        "github.merge_pull_request",
        params,
        {"url": url},
        {"merged": True},
        _between(rng, 400, 2_500),
        ("HTTP 405: required status checks have not passed",),
    )


def _prod_change(rng: random.Random, ctx: _Ctx) -> _Call:
    svc = ctx.service
    command = _pick(
        rng,
        (
            f"kubectl -n production rollout restart deploy/{svc}",
            f"kubectl -n production scale deploy/{svc}-worker --replicas={rng.randrange(6, 24)}",
            f"helm upgrade {svc} charts/{svc} -n production --atomic",
            f"fleetctl rollout firmware 4.{rng.randrange(2, 9)}.{rng.randrange(20)} --group canary",
        ),
    )
    return _shell_run(rng, ctx, command)


def _email_send(rng: random.Random, ctx: _Ctx) -> _Call:
    customer = _pick(rng, _CUSTOMERS)
    domain = customer.split()[0].lower() + ".example"
    params: dict[str, object] = {
        "to": f"ops@{domain}",
        "subject": f"Re: {ctx.title}",
        "body_bytes": _between(rng, 600, 6_000),
    }
    return _Call(
        "email.send",
        params,
        {},
        {"message_id": f"<{rng.getrandbits(64):016x}@mail.{ORG_DOMAIN}>"},
        _between(rng, 200, 2_000),
        ("SMTP 550: mailbox unavailable",),
    )


def _sql_write(rng: random.Random, ctx: _Ctx) -> _Call:
    statement = _pick(
        rng,
        (
            "UPDATE invoices SET status = 'reconciled'"
            " WHERE period = '2025-05' AND payout_id IS NOT NULL",
            "DELETE FROM telemetry_staging WHERE ingested_at < now() - interval '30 days'",
        ),
    )
    params: dict[str, object] = {
        "database": "billing-primary",
        "query": statement,
        "row_limit": 50_000,
    }
    return _Call(
        "sql.query",
        params,
        {},
        {"rows": _between(rng, 1, 5_000)},
        _between(rng, 80, 9_000),
        _SQL_ERRORS,
    )


def _announce(rng: random.Random, ctx: _Ctx) -> _Call:
    return _slack_post(rng, ctx, "#announcements")


def _zendesk_bulk(rng: random.Random, ctx: _Ctx) -> _Call:
    ids = ",".join(str(rng.randrange(100_000, 400_000)) for _ in range(3))
    url = f"https://acme-robotics.zendesk.com/api/v2/tickets/update_many.json?ids={ids}"
    return _http_request(rng, ctx, "PUT", url)


def _drive_share(rng: random.Random, ctx: _Ctx) -> _Call:
    path = f"Shared drives/Research/{ctx.title}.gdoc"
    params: dict[str, object] = {
        "path": path,
        "share_with": f"partners@{_pick(rng, _COMPETITORS).split()[0].lower()}.example",
        "role": "reader",
    }
    return _Call(
        "google_drive.share",
        params,
        {"path": path},
        {"permission_id": f"{rng.getrandbits(40):010x}"},
        _between(rng, 200, 1_500),
        _HTTP_ERRORS,
    )


class _Recipe(NamedTuple):
    """How an agent of one specialty works: phases of tool calls, then at most one gated call."""

    phases: tuple[tuple[Callable[[random.Random, _Ctx], _Call], int, int], ...]
    gates: tuple[_Gate, ...]
    gate_percent: int  # how often a task of this kind needs an approval
    wrap_up: tuple[tuple[Callable[[random.Random, _Ctx], _Call], int, int], ...] = ()


def _report_write(rng: random.Random, ctx: _Ctx) -> _Call:
    name = _SLUG.sub("-", ctx.title.lower()).strip("-")[:48]
    return _file_write(rng, ctx, f"reports/{name}.md")


def _notebook_run(rng: random.Random, ctx: _Ctx) -> _Call:
    return _code_execute(rng, ctx, "python")


_RECIPES: dict[str, _Recipe] = {
    "code": _Recipe(
        phases=(
            (_shell_run, 1, 2),
            (_file_read, 2, 7),
            (_file_write, 1, 4),
            (_code_execute, 1, 3),
            (_shell_run, 1, 3),
            (_github_pr, 0, 1),
        ),
        gates=(_Gate("code-merge", "medium", _gh_merge),),
        gate_percent=30,
    ),
    "ops": _Recipe(
        phases=((_ops_shell, 2, 5), (_http_request, 1, 4), (_file_read, 0, 2)),
        gates=(_Gate("production-changes", "high", _prod_change),),
        gate_percent=55,
        wrap_up=((_ops_shell, 1, 2), (_slack_post, 0, 1)),
    ),
    "support": _Recipe(
        phases=(
            (_support_api, 1, 4),
            (_notebook_run, 1, 2),
            (_jira_create, 0, 2),
            (_report_write, 1, 1),
        ),
        gates=(
            _Gate("external-communication", "medium", _email_send),
            _Gate("bulk-updates", "medium", _zendesk_bulk),
        ),
        gate_percent=35,
        wrap_up=((_slack_post, 0, 1),),
    ),
    "data": _Recipe(
        phases=((_sql_query, 2, 5), (_notebook_run, 1, 3), (_report_write, 1, 2)),
        gates=(_Gate("data-writes", "high", _sql_write),),
        gate_percent=15,
    ),
    "research": _Recipe(
        phases=(
            (_search_web, 1, 3),
            (_browser_navigate, 2, 6),
            (_browser_extract, 1, 4),
            (_report_write, 1, 1),
        ),
        gates=(
            _Gate("external-sharing", "medium", _drive_share),
            _Gate("external-communication", "medium", _email_send),
        ),
        gate_percent=15,
    ),
    "docs": _Recipe(
        phases=(
            (_file_read, 2, 5),
            (_browser_navigate, 0, 2),
            (_http_request, 0, 1),
            (_file_write, 1, 3),
        ),
        gates=(_Gate("announcements", "low", _announce),),
        gate_percent=20,
    ),
}

# Why a person approved or denied a gated call, by approval policy: (approve, deny).
_REASONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "code-merge": (
        ("Reviewed the diff, CI is green.", "LGTM, merge it.", "Approved; tag me on the release."),
        (
            "Needs a second review from the service owner first.",
            "The migration has no rollback plan.",
            "Code freeze until Tuesday's release train.",
        ),
    ),
    "production-changes": (
        (
            "Inside the change window, go ahead.",
            "Approved. Ping #ops-alerts if error rates move.",
            "OK, the rollback plan is in the ticket.",
        ),
        (
            "Outside the change window: wait for Tuesday's release train.",
            "Use the staging cluster first.",
            "Duplicate of a change already in progress.",
        ),
    ),
    "external-communication": (
        ("Draft reads well, send it.", "OK for this customer; support lead signed off."),
        (
            "Customer emails need a human review first; send me the draft instead.",
            "Recipient is outside our contract contacts.",
        ),
    ),
    "bulk-updates": (
        ("Tags look right, apply them.",),
        ("Too many tickets at once; do ten and let me check.",),
    ),
    "data-writes": (
        ("Verified the WHERE clause against the replica.",),
        (
            "This touches billing data without a backup; take a snapshot first.",
            "Run it on the replica and show me the row count first.",
        ),
    ),
    "external-sharing": (
        ("Fine, it contains public information only.",),
        ("Shares internal notes outside Acme; export a cleaned copy instead.",),
    ),
    "announcements": (
        ("Good to post.", "Approved, thanks for the summary."),
        ("Hold until the incident review is finished.",),
    ),
}
_CANCEL_REASONS = (
    "No longer needed",
    "Superseded by a newer task",
    "Wrong repository",
    "Taking it over manually",
)
# Errors that mean the call ran into its time limit: the recorded duration is that limit.
_TIMEOUTS = {
    "command timed out after 300 s": 300_000,
    "TimeoutError: execution exceeded 120 s": 120_000,
    "ReadTimeout: no response within 30 s": 30_000,
    "TimeoutError: navigation exceeded 30000 ms": 30_000,
    "canceling statement due to statement timeout": 60_000,
}
_TASK_ERRORS = (
    "agent exceeded the step budget (60 steps)",
    "context window exhausted while summarizing tool output",
    "upstream tool kept failing; giving up after 3 retries",
)


# ---------------------------------------------------------------------------------------------
# Tasks: one lifecycle


class _TaskMaker:
    """Builds one task's whole lifecycle as ``(timestamp_ms, submission)`` pairs in time order."""

    def __init__(self, dataset: DemoDataset, rng: random.Random, profiles: list[_Profile]) -> None:
        self.d = dataset
        self.rng = rng
        self.profiles = profiles
        self.agent_specialty = [_specialty_of(i) for i in range(len(dataset.agents))]
        self.owner_weight = {"owner": 1, "admin": 2, "member": 4}

    def owner(self, t: int) -> _Profile | None:
        pool = [p for p in self.profiles if p.joined_ms <= t]
        weights = [self.owner_weight[p.role_at(t)] for p in pool]
        return self.rng.choices(pool, weights)[0] if pool else None

    def approver(self, t: int, exclude: _Profile | None) -> _Profile | None:
        pool = [
            p
            for p in self.profiles
            if p is not exclude and p.joined_ms <= t and p.role_at(t) in ("owner", "admin")
        ]
        return self.rng.choice(pool) if pool else None

    def build(self, t: int) -> list[tuple[int, Submission]]:
        rng = self.rng
        d = self.d
        agent_index = rng.randrange(len(d.agents))
        agent = d.agents[agent_index]
        specialty = self.agent_specialty[agent_index]
        recipe = _RECIPES[specialty]
        ctx = _Ctx(rng)
        scheduled = rng.randrange(100) < 10
        owner = None if scheduled else self.owner(t)
        if owner is None:
            scheduled = True
        uid = owner.person.id if owner else None
        task_id = "tsk_" + _ulid(rng, t)
        out: list[tuple[int, Submission]] = []

        created: dict[str, object]
        if scheduled:
            title, cron = _SCHEDULED_TITLES[specialty]
            ctx.title = title.format(service=ctx.service)
            created = {"title": ctx.title, "source": "schedule", "schedule": cron}
        else:
            assert owner is not None
            ctx.title = _pick(rng, _TITLES[specialty]).format(
                service=ctx.service, dep=_pick(rng, _DEPENDENCIES), module=ctx.module,
                depver=f"2.{rng.randrange(0, 12)}.{rng.randrange(0, 10)}", pr=ctx.pr, repo=ctx.repo,
                fw=f"4.{rng.randrange(2, 9)}.{rng.randrange(0, 20)}", q=rng.randrange(1, 5),
                product=_pick(rng, _PRODUCTS), customer=_pick(rng, _CUSTOMERS),
                symptom=_pick(rng, _SYMPTOMS), month=_pick(rng, _MONTHS), site=_pick(rng, _SITES),
                competitor=_pick(rng, _COMPETITORS), topic=_pick(rng, _TOPICS),
                vendor=_pick(rng, _VENDORS), ver=f"3.{rng.randrange(10, 30)}.0",
            )  # fmt: skip
            source = "slack" if rng.randrange(100) < 15 else "web"
            created = {"title": ctx.title, "source": source}
            if source == "web":
                created["request"] = owner.request(rng)
            else:
                created["request"] = dict(_SLACK_WEBHOOK)
        ctx.branch = "agent/" + _SLUG.sub("-", ctx.title.lower()).strip("-")[:40]
        priority = _pick(rng, ("normal", "normal", "normal", "high", "low"))
        created |= {"priority": priority, "agent_name": d.agent_names[agent_index]}
        created["outcome"] = "success"
        out.append((t, _submission("task.created", uid, created, task_id, agent)))

        t += _between(rng, 800, 45_000)
        started_at = t
        model = _MODELS[agent_index % len(_MODELS)]
        ev: dict[str, object] = {"agent_name": d.agent_names[agent_index], "model": model}
        ev |= {"runtime": _RUNTIME_AGENT, "title": ctx.title}
        ev["outcome"] = "success"
        runtime = _runtime_request(task_id)
        ev["request"] = dict(runtime)
        out.append((t, _submission("task.started", uid, ev, task_id, agent)))

        steps = 0
        tokens = 0
        failed_error = ""
        cancelled_by: _Profile | None = None
        cancel_reason = ""

        def action(call: _Call, approval_id: str = "") -> str:
            """Record one tool call; return its error, or "" when it succeeded."""
            nonlocal t, steps, tokens
            steps += 1
            error = "" if rng.randrange(1000) >= 75 else _pick(rng, call.errors)
            duration = _TIMEOUTS.get(error, call.duration_ms)
            t += _between(rng, 1_500, 30_000) + duration  # the model thinks, then calls
            used_in = rng.randrange(600, 14_000)
            used_out = rng.randrange(30, 900)
            tokens += used_in + used_out
            ev: dict[str, object] = {"tool": call.tool, "params": call.params, **call.extra}
            ev |= {"duration_ms": duration, "step": steps}
            ev["tokens"] = {"input": used_in, "output": used_out}
            if approval_id:
                ev["approval_id"] = approval_id
            if error:
                ev |= {"error": error, "outcome": "failure"}
            else:
                ev |= {"result": call.result, "outcome": "success"}
            ev["request"] = dict(runtime)
            out.append((t, _submission("agent.action", uid, ev, task_id, agent)))
            return error

        def run_phases(
            phases: tuple[tuple[Callable[[random.Random, _Ctx], _Call], int, int], ...],
        ) -> bool:
            nonlocal failed_error
            for make, low, high in phases:
                for _ in range(rng.randrange(low, high + 1)):
                    call = make(rng, ctx)
                    error = action(call)
                    if not error:
                        continue
                    roll = rng.randrange(100)
                    if roll < 9:
                        failed_error = error
                        return False
                    if roll < 70:  # retry the same call once it failed
                        again = call.duration_ms * rng.randrange(50, 150) // 100 + 1
                        action(call._replace(params=dict(call.params), duration_ms=again))
            return True

        alive = run_phases(recipe.phases)
        if alive and rng.randrange(100) < recipe.gate_percent:
            gate = recipe.gates[rng.randrange(len(recipe.gates))]
            call = gate.make(rng, ctx)
            approval_id = "apr_" + _ulid(rng, started_at)
            t += _between(rng, 500, 4_000)
            ev = {
                "approval_id": approval_id,
                "tool": call.tool,
                "params": copy.deepcopy(call.params),
            }
            ev |= call.extra  # the url or path the call would touch, for the reviewer
            ev |= {"policy": gate.policy, "risk": gate.risk, "outcome": "success"}
            ev["request"] = dict(runtime)
            out.append((t, _submission("approval.requested", uid, ev, task_id, agent)))
            t += _between(rng, 40_000, 50 * MINUTE_MS)
            approver = self.approver(t, owner)
            if approver is not None:
                approved = rng.randrange(100) < 78
                reason = _pick(rng, _REASONS[gate.policy][0 if approved else 1])
                ev = {
                    "approval_id": approval_id,
                    "approver_id": approver.person.id,
                    "tool": call.tool,
                }
                ev |= {"reason": reason, "outcome": "success", "request": approver.request(rng)}
                kind = "approval.approved" if approved else "approval.denied"
                out.append((t, _submission(kind, approver.person.id, ev, task_id, agent)))
                if approved:
                    action(call, approval_id)
                else:
                    roll = rng.randrange(100)
                    if roll < 25 and owner is not None:
                        cancelled_by = owner
                        cancel_reason = "Approval denied: " + reason
                        alive = False
                    elif roll < 45:
                        failed_error = f"approval {approval_id} denied: {reason}"
                        alive = False
        if alive:
            alive = run_phases(recipe.wrap_up)
        if alive and owner is not None and rng.randrange(1000) < 35:
            cancelled_by = owner if rng.randrange(100) < 80 else self.approver(t, None)
            cancel_reason = _pick(rng, _CANCEL_REASONS)

        t += _between(rng, 300, 4_000)
        end: dict[str, object] = {"title": ctx.title, "duration_ms": t - started_at}
        end["steps"] = steps
        if cancelled_by is not None:
            end |= {"cancelled_by": cancelled_by.person.id, "reason": cancel_reason}
            end |= {"outcome": "success", "request": cancelled_by.request(rng)}
            out.append(
                (t, _submission("task.cancelled", cancelled_by.person.id, end, task_id, agent))
            )
        elif failed_error or rng.randrange(1000) < 20:
            end |= {"error": failed_error or _pick(rng, _TASK_ERRORS), "outcome": "failure"}
            end["request"] = dict(runtime)
            out.append((t, _submission("task.failed", uid, end, task_id, agent)))
        else:
            cents = tokens * rng.randrange(2, 12) // 10_000
            end |= {"tokens_used": tokens, "cost_usd": _decimal(cents, 2), "outcome": "success"}
            end["request"] = dict(runtime)
            out.append((t, _submission("task.completed", uid, end, task_id, agent)))
        return out


def _squeeze(
    events: list[tuple[int, Submission]], start: int, end: int
) -> list[tuple[int, Submission]]:
    """Compress a task that would run past ``end`` into ``[start, end]``, keeping durations true.

    Only the last tasks before ``now`` need this; their tool calls simply ran faster.
    """
    last = events[-1][0]
    span = max(1, last - start)
    room = max(0, end - start)
    squeezed = []
    prev = start
    started = start
    for t, sub in events:
        new_t = start + (t - start) * room // span
        ev = sub["event"]
        assert isinstance(ev, dict)
        kind = sub["type"]
        if kind == "task.started":
            started = new_t
        elif kind == "agent.action":
            ev["duration_ms"] = min(int(ev["duration_ms"]), new_t - prev)
        elif kind in ("task.completed", "task.failed", "task.cancelled"):
            ev["duration_ms"] = new_t - started
        squeezed.append((new_t, sub))
        prev = new_t
    return squeezed


# ---------------------------------------------------------------------------------------------
# The stream


class _Simulation:
    """Merges the background with tasks started on the rhythm's schedule (see module docstring)."""

    def __init__(self, dataset: DemoDataset) -> None:
        self.d = dataset
        seed = dataset.seed
        profiles, changes = _make_profiles(
            dataset, random.Random(f"auditlens-demo/{seed}/profiles")
        )
        bg_rng = random.Random(f"auditlens-demo/{seed}/background")
        org, sessions = _Background(dataset, bg_rng, profiles, changes).units()
        self.background = _fit(org, sessions, dataset, bg_rng)
        self.tasks = _TaskMaker(dataset, random.Random(f"auditlens-demo/{seed}/tasks"), profiles)
        self.task_rng = self.tasks.rng
        self.rhythm = _Rhythm(dataset.start_ms, dataset.now_ms)

    def run(self) -> Iterator[tuple[int, Submission]]:
        d = self.d
        background = self.background
        budget = d.count - len(background)
        rhythm = self.rhythm
        rng = self.task_rng
        heap: list[tuple[int, int, Submission]] = []
        seq = 0
        committed = 0
        last_spawn = d.start_ms
        jitter = max(1, rhythm.total // max(1, budget)) * 12

        def next_spawn() -> int | None:
            if committed >= budget:
                return None
            weight = rhythm.total * committed // budget + rng.randrange(-jitter, jitter)
            return max(last_spawn, rhythm.time_at(weight))

        spawn_at = next_spawn()
        bi = 0
        never = d.now_ms + 1
        for _ in range(d.count):
            while True:
                candidate = min(
                    heap[0][0] if heap else never,
                    background[bi][0] if bi < len(background) else never,
                )
                if spawn_at is None or spawn_at > candidate:
                    break
                lifecycle = self.tasks.build(spawn_at)
                if lifecycle[-1][0] > d.now_ms:
                    lifecycle = _squeeze(lifecycle, spawn_at, d.now_ms)
                lifecycle = lifecycle[: budget - committed]
                for t, sub in lifecycle:
                    heapq.heappush(heap, (t, seq, sub))
                    seq += 1
                committed += len(lifecycle)
                last_spawn = spawn_at
                spawn_at = next_spawn()
            if heap and (bi >= len(background) or heap[0][0] < background[bi][0]):
                t, _, sub = heapq.heappop(heap)
                yield t, sub
            else:
                t, sub = background[bi]
                bi += 1
                yield t, sub


def _fit(
    org: list[list[tuple[int, Submission]]],
    sessions: list[list[tuple[int, Submission]]],
    dataset: DemoDataset,
    rng: random.Random,
) -> list[tuple[int, Submission]]:
    """Keep the background within its share of the count and the window; sort it by time.

    Organisation events are kept first (they show every kind of event even in a small
    dataset), then whole sign-in sessions chosen at random until the share is used.
    """
    cap = dataset.count * _BACKGROUND_SHARE_PERCENT // 100
    kept: list[tuple[int, Submission]] = []

    def inside(unit: list[tuple[int, Submission]]) -> list[tuple[int, Submission]]:
        return [(t, s) for t, s in unit if dataset.start_ms <= t <= dataset.now_ms]

    for group in (org, sessions):
        order = list(range(len(group)))
        if sum(len(u) for u in group) + len(kept) > cap:
            rng.shuffle(order)
        for i in order:
            unit = inside(group[i])
            if len(kept) + len(unit) <= cap:
                kept.extend(unit)
    kept.sort(key=lambda item: item[0])
    return kept
