"""The calendar-driven events: sign-in sessions, attacks, integrations, API keys, billing, team.

Their number depends on the days in the window, not on the requested count (the simulation
keeps at most a share of the count).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from auditlens.server.demo_data.primitives import Submission, decimal, submission, ulid
from auditlens.server.demo_data.profiles import Profile, TeamChange
from auditlens.server.demo_data.rhythm import (
    DAY_MS,
    HOUR_MS,
    MINUTE_MS,
    local_midnight,
    office_time,
    weekday_and_hour,
)
from auditlens.server.demo_data.vocabulary import ATTACK_AGENT, CLI_AGENT, ORG_DOMAIN

if TYPE_CHECKING:
    from auditlens.server.demo_data.dataset import DemoDataset


class Background:
    """Builds the calendar-driven events; their number depends on the days, not the count."""

    def __init__(
        self,
        dataset: DemoDataset,
        rng: random.Random,
        profiles: list[Profile],
        changes: list[TeamChange],
    ) -> None:
        self.d = dataset
        self.rng = rng
        self.profiles = profiles
        self.changes = changes
        self.span = dataset.now_ms - dataset.start_ms

    def at(self, low_percent: int, high_percent: int) -> int:
        """A working-hours instant between the given percentages of the window."""
        share = self.rng.randrange(low_percent, high_percent)
        return office_time(self.rng, self.d.start_ms + self.span * share // 100)

    def leader(self, t: int) -> Profile:
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
        day = local_midnight(self.d.start_ms)
        while day < self.d.now_ms:
            weekday = weekday_and_hour(day + 12 * HOUR_MS)[0]
            for p in self.profiles:
                if rng.randrange(100) >= (88 if weekday < 5 else 10):
                    continue
                start = day + 7 * HOUR_MS + 30 * MINUTE_MS + rng.randrange(3 * HOUR_MS)
                units.append(self.session(p, start))
                if rng.randrange(100) < 22:
                    units.append(self.session(p, day + 13 * HOUR_MS + rng.randrange(3 * HOUR_MS)))
            day += DAY_MS
        return units

    def session(self, p: Profile, t: int) -> list[tuple[int, Submission]]:
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
                out.append((t, submission("auth.sso", uid, ev)))
                t += rng.randrange(20_000, 120_000)
            ev = {"method": "sso", "provider": p.provider, "outcome": "success"}
            ev |= {"idp_session": "idps_" + ulid(rng, t)[-16:].lower()}
            out.append((t, submission("auth.sso", uid, ev | {"request": dict(request)})))
            t += rng.randrange(300, 1500)
            ev = {"method": "sso", "provider": p.provider, "mfa": True, "outcome": "success"}
        elif p.person.role == "admin" and rng.randrange(100) < 12:
            key = "key_" + ulid(rng, t - 30 * DAY_MS)
            ev = {"method": "api_key", "key_id": key, "key_prefix": "alk_" + key[-8:].lower()}
            ev["outcome"] = "success"
            request = {"ip": request["ip"], "user_agent": CLI_AGENT}
        else:
            for _ in range(rng.choice((1, 1, 2)) if rng.randrange(100) < 9 else 0):
                ev = {"method": "password", "email": p.person.email, "outcome": "failure"}
                ev |= {"failure_reason": "invalid_password", "request": dict(request)}
                out.append((t, submission("auth.login", uid, ev)))
                t += rng.randrange(6_000, 40_000)
            ev = {"method": "password", "mfa": True, "outcome": "success"}
        out.append((t, submission("auth.login", uid, ev | {"request": dict(request)})))
        if rng.randrange(100) < 58:
            length = rng.randrange(40 * MINUTE_MS, 9 * HOUR_MS)
            ev = {"session_ms": length, "outcome": "success", "request": dict(request)}
            out.append((t + length, submission("auth.logout", uid, ev)))
        return out

    def attacks(self) -> list[tuple[int, Submission]]:
        """Password-spraying bursts at night from one address, cut off by the rate limiter."""
        rng = self.rng
        out: list[tuple[int, Submission]] = []
        for _ in range(max(1, self.d.days // 45)):
            t = local_midnight(self.d.start_ms + self.span * rng.randrange(5, 95) // 100)
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
                ev["request"] = {"ip": ip, "user_agent": ATTACK_AGENT}
                uid = None if unknown else target.person.id
                out.append((t, submission("auth.login", uid, ev)))
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
            out.append((c.t, submission(kind, c.actor.person.id, ev)))
        # A contractor invited but never joined; a former colleague removed.
        t = self.at(10, 90)
        actor = self.leader(t)
        ev = {"member_id": "usr_" + ulid(rng, t), "member_email": "sam.ortiz@northwind-design.com"}
        ev |= {"role": "member", "expires_in_days": 7, "outcome": "success"}
        ev["request"] = actor.request(rng)
        out.append((t, submission("team.member_invited", actor.person.id, ev)))
        t = self.at(25, 75)
        actor = self.leader(t)
        former = "usr_" + ulid(rng, t - 400 * DAY_MS)
        ev = {"member_id": former, "member_email": f"jordan.blake@{ORG_DOMAIN}", "role": "member"}
        ev |= {"outcome": "success", "request": actor.request(rng)}
        out.append((t, submission("team.member_removed", actor.person.id, ev)))
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
        out.append((t, submission("billing.plan_changed", owner.person.id, ev)))
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
            ev = {"metric": metric, "threshold": threshold, "value": decimal(tenths, 1)}
            ev |= {"unit": "percent", "limit": limit, "period": "month", "outcome": "success"}
            out.append((t, submission("billing.usage_alert", None, ev)))
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
            iid = "int_" + ulid(rng, self.d.start_ms - rng.randrange(30, 300) * DAY_MS)
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
                out.append((until, submission("integration.disconnected", actor.person.id, ev)))
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
                    out.append((t, submission("integration.credential_refreshed", None, ev)))
                    t += rng.randrange(1_000, 60_000)
                    ev = base | {"reason": "credentials_revoked", "outcome": "success"}
                    out.append((t, submission("integration.disconnected", None, ev)))
                    t = office_time(rng, t + rng.randrange(HOUR_MS, DAY_MS))
                    if t >= until:
                        break
                    out.append(self.connect(t, base, scopes))
                else:
                    ev = base | {
                        "expires_in_s": 3600 * rng.choice((1, 8, 24)),
                        "outcome": "success",
                    }
                    out.append((t, submission("integration.credential_refreshed", None, ev)))
                t += rng.randrange(3 * DAY_MS, 10 * DAY_MS)
            units.append(out)
        return units

    def connect(
        self, t: int, base: dict[str, object], scopes: tuple[str, ...]
    ) -> tuple[int, Submission]:
        actor = self.leader(t)
        ev = base | {"scopes": list(scopes), "account": "acme-robotics", "outcome": "success"}
        ev["request"] = actor.request(self.rng)
        return t, submission("integration.connected", actor.person.id, ev)

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
            key_id = "key_" + ulid(rng, t)
            base: dict[str, object] = {"key_id": key_id, "key_name": name}
            base["key_prefix"] = "alk_" + key_id[-8:].lower()
            ev = base | {"scope": scope, "outcome": "success", "request": actor.request(rng)}
            out.append((t, submission("auth.api_key.created", actor.person.id, ev)))
            if deleted_pct is not None:
                t = self.at(deleted_pct, deleted_pct + 4)
                actor = self.leader(t)
                ev = base | {"outcome": "success", "request": actor.request(rng)}
                out.append((t, submission("auth.api_key.deleted", actor.person.id, ev)))
        return out
