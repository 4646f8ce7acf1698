"""One task's whole lifecycle: created, started, tool calls, maybe an approval, then its end."""

from __future__ import annotations

import copy
import random
from typing import TYPE_CHECKING

from auditlens.server.demo_data.directory import specialty_of
from auditlens.server.demo_data.primitives import (
    Submission,
    between,
    decimal,
    pick,
    runtime_request,
    submission,
    ulid,
)
from auditlens.server.demo_data.profiles import Profile
from auditlens.server.demo_data.recipes import RECIPES, Gate, Phases
from auditlens.server.demo_data.rhythm import MINUTE_MS
from auditlens.server.demo_data.tools import SLUG, Call, Ctx
from auditlens.server.demo_data.vocabulary import (
    CANCEL_REASONS,
    COMPETITORS,
    CUSTOMERS,
    DEPENDENCIES,
    MODELS,
    MONTHS,
    PRODUCTS,
    REASONS,
    RUNTIME_AGENT,
    SCHEDULED_TITLES,
    SITES,
    SLACK_WEBHOOK,
    SYMPTOMS,
    TASK_ERRORS,
    TIMEOUTS,
    TITLES,
    TOPICS,
    VENDORS,
)

if TYPE_CHECKING:
    from auditlens.server.demo_data.dataset import DemoDataset


class TaskMaker:
    """Builds one task's whole lifecycle as ``(timestamp_ms, submission)`` pairs in time order."""

    def __init__(self, dataset: DemoDataset, rng: random.Random, profiles: list[Profile]) -> None:
        self.d = dataset
        self.rng = rng
        self.profiles = profiles
        self.agent_specialty = [specialty_of(i) for i in range(len(dataset.agents))]
        self.owner_weight = {"owner": 1, "admin": 2, "member": 4}

    def owner(self, t: int) -> Profile | None:
        pool = [p for p in self.profiles if p.joined_ms <= t]
        weights = [self.owner_weight[p.role_at(t)] for p in pool]
        return self.rng.choices(pool, weights)[0] if pool else None

    def approver(self, t: int, exclude: Profile | None) -> Profile | None:
        pool = [
            p
            for p in self.profiles
            if p is not exclude and p.joined_ms <= t and p.role_at(t) in ("owner", "admin")
        ]
        return self.rng.choice(pool) if pool else None

    def build(self, t: int) -> list[tuple[int, Submission]]:
        """Return the lifecycle of a task created at ``t``, oldest event first."""
        run = _TaskRun(self, t)
        run.create()
        run.start()
        recipe = run.recipe
        alive = run.run_phases(recipe.phases)
        if alive and self.rng.randrange(100) < recipe.gate_percent:
            alive = run.ask_approval(recipe.gates[self.rng.randrange(len(recipe.gates))])
        if alive:
            alive = run.run_phases(recipe.wrap_up)
        if alive and run.owner is not None and self.rng.randrange(1000) < 35:
            run.cancelled_by = (
                run.owner if self.rng.randrange(100) < 80 else self.approver(run.t, None)
            )
            run.cancel_reason = pick(self.rng, CANCEL_REASONS)
        run.finish()
        return run.out


class _TaskRun:
    """One task while its lifecycle is written: its subject, its clock, its counters, its events.

    Every random draw happens in the same order as the lifecycle reads (the stream is pinned
    byte for byte), so a method's draws must not move to another place.
    """

    def __init__(self, maker: TaskMaker, t: int) -> None:
        rng = self.rng = maker.rng
        self.maker = maker
        d = maker.d
        self.agent_index = rng.randrange(len(d.agents))
        self.agent = d.agents[self.agent_index]
        self.specialty = maker.agent_specialty[self.agent_index]
        self.recipe = RECIPES[self.specialty]
        self.ctx = Ctx(rng)
        self.scheduled = rng.randrange(100) < 10
        self.owner = None if self.scheduled else maker.owner(t)
        if self.owner is None:
            self.scheduled = True
        self.uid = self.owner.person.id if self.owner else None
        self.task_id = "tsk_" + ulid(rng, t)
        self.runtime = runtime_request(self.task_id)
        self.t = t
        self.started_at = t
        self.out: list[tuple[int, Submission]] = []
        self.steps = 0
        self.tokens = 0
        self.failed_error = ""
        self.cancelled_by: Profile | None = None
        self.cancel_reason = ""

    def emit(self, kind: str, event: dict[str, object], user_id: str | None = None) -> None:
        who = self.uid if user_id is None else user_id
        self.out.append((self.t, submission(kind, who, event, self.task_id, self.agent)))

    def create(self) -> None:
        rng, ctx = self.rng, self.ctx
        created: dict[str, object]
        if self.scheduled:
            title, cron = SCHEDULED_TITLES[self.specialty]
            ctx.title = title.format(service=ctx.service)
            created = {"title": ctx.title, "source": "schedule", "schedule": cron}
        else:
            assert self.owner is not None
            ctx.title = self.title()
            source = "slack" if rng.randrange(100) < 15 else "web"
            created = {"title": ctx.title, "source": source}
            if source == "web":
                created["request"] = self.owner.request(rng)
            else:
                created["request"] = dict(SLACK_WEBHOOK)
        ctx.branch = "agent/" + SLUG.sub("-", ctx.title.lower()).strip("-")[:40]
        priority = pick(rng, ("normal", "normal", "normal", "high", "low"))
        created |= {"priority": priority, "agent_name": self.maker.d.agent_names[self.agent_index]}
        created["outcome"] = "success"
        self.emit("task.created", created)

    def title(self) -> str:
        """A person's title for the task, filled in from the task's subject."""
        rng, ctx = self.rng, self.ctx
        return pick(rng, TITLES[self.specialty]).format(
            service=ctx.service, dep=pick(rng, DEPENDENCIES), module=ctx.module,
            depver=f"2.{rng.randrange(0, 12)}.{rng.randrange(0, 10)}", pr=ctx.pr, repo=ctx.repo,
            fw=f"4.{rng.randrange(2, 9)}.{rng.randrange(0, 20)}", q=rng.randrange(1, 5),
            product=pick(rng, PRODUCTS), customer=pick(rng, CUSTOMERS),
            symptom=pick(rng, SYMPTOMS), month=pick(rng, MONTHS), site=pick(rng, SITES),
            competitor=pick(rng, COMPETITORS), topic=pick(rng, TOPICS),
            vendor=pick(rng, VENDORS), ver=f"3.{rng.randrange(10, 30)}.0",
        )  # fmt: skip

    def start(self) -> None:
        self.t += between(self.rng, 800, 45_000)
        self.started_at = self.t
        model = MODELS[self.agent_index % len(MODELS)]
        name = self.maker.d.agent_names[self.agent_index]
        ev: dict[str, object] = {"agent_name": name, "model": model}
        ev |= {"runtime": RUNTIME_AGENT, "title": self.ctx.title}
        ev["outcome"] = "success"
        ev["request"] = dict(self.runtime)
        self.emit("task.started", ev)

    def action(self, call: Call, approval_id: str = "") -> str:
        """Record one tool call; return its error, or "" when it succeeded."""
        rng = self.rng
        self.steps += 1
        error = "" if rng.randrange(1000) >= 75 else pick(rng, call.errors)
        duration = TIMEOUTS.get(error, call.duration_ms)
        self.t += between(rng, 1_500, 30_000) + duration  # the model thinks, then calls
        used_in = rng.randrange(600, 14_000)
        used_out = rng.randrange(30, 900)
        self.tokens += used_in + used_out
        ev: dict[str, object] = {"tool": call.tool, "params": call.params, **call.extra}
        ev |= {"duration_ms": duration, "step": self.steps}
        ev["tokens"] = {"input": used_in, "output": used_out}
        if approval_id:
            ev["approval_id"] = approval_id
        if error:
            ev |= {"error": error, "outcome": "failure"}
        else:
            ev |= {"result": call.result, "outcome": "success"}
        ev["request"] = dict(self.runtime)
        self.emit("agent.action", ev)
        return error

    def run_phases(self, phases: Phases) -> bool:
        """Make each phase's calls; False when a failure ended the task."""
        rng = self.rng
        for make, low, high in phases:
            for _ in range(rng.randrange(low, high + 1)):
                call = make(rng, self.ctx)
                error = self.action(call)
                if not error:
                    continue
                roll = rng.randrange(100)
                if roll < 9:
                    self.failed_error = error
                    return False
                if roll < 70:  # retry the same call once it failed
                    again = call.duration_ms * rng.randrange(50, 150) // 100 + 1
                    self.action(call._replace(params=dict(call.params), duration_ms=again))
        return True

    def ask_approval(self, gate: Gate) -> bool:
        """Ask a person before the gated call; False when their denial ended the task."""
        rng = self.rng
        call = gate.make(rng, self.ctx)
        approval_id = "apr_" + ulid(rng, self.started_at)
        self.t += between(rng, 500, 4_000)
        ev: dict[str, object] = {
            "approval_id": approval_id,
            "tool": call.tool,
            "params": copy.deepcopy(call.params),
        }
        ev |= call.extra  # the url or path the call would touch, for the reviewer
        ev |= {"policy": gate.policy, "risk": gate.risk, "outcome": "success"}
        ev["request"] = dict(self.runtime)
        self.emit("approval.requested", ev)
        self.t += between(rng, 40_000, 50 * MINUTE_MS)
        approver = self.maker.approver(self.t, self.owner)
        if approver is None:
            return True
        approved = rng.randrange(100) < 78
        reason = pick(rng, REASONS[gate.policy][0 if approved else 1])
        ev = {"approval_id": approval_id, "approver_id": approver.person.id, "tool": call.tool}
        ev |= {"reason": reason, "outcome": "success", "request": approver.request(rng)}
        kind = "approval.approved" if approved else "approval.denied"
        self.emit(kind, ev, approver.person.id)
        if approved:
            self.action(call, approval_id)
            return True
        roll = rng.randrange(100)
        if roll < 25 and self.owner is not None:
            self.cancelled_by = self.owner
            self.cancel_reason = "Approval denied: " + reason
            return False
        if roll < 45:
            self.failed_error = f"approval {approval_id} denied: {reason}"
            return False
        return True

    def finish(self) -> None:
        rng = self.rng
        self.t += between(rng, 300, 4_000)
        end: dict[str, object] = {"title": self.ctx.title, "duration_ms": self.t - self.started_at}
        end["steps"] = self.steps
        if self.cancelled_by is not None:
            who = self.cancelled_by.person.id
            end |= {"cancelled_by": who, "reason": self.cancel_reason}
            end |= {"outcome": "success", "request": self.cancelled_by.request(rng)}
            self.emit("task.cancelled", end, who)
        elif self.failed_error or rng.randrange(1000) < 20:
            end |= {"error": self.failed_error or pick(rng, TASK_ERRORS), "outcome": "failure"}
            end["request"] = dict(self.runtime)
            self.emit("task.failed", end)
        else:
            cents = self.tokens * rng.randrange(2, 12) // 10_000
            end |= {"tokens_used": self.tokens, "cost_usd": decimal(cents, 2)}
            end["outcome"] = "success"
            end["request"] = dict(self.runtime)
            self.emit("task.completed", end)


def squeeze(
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
