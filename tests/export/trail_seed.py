"""A seeded task for the task-trail and report tests: approvals (approved and denied), failures,
many tool calls by two agents, interleaved with events of other tasks; written as a real mirror.
"""

from __future__ import annotations

import random
from pathlib import Path

from auditlens.core.event_ids import EventIdGenerator
from tests.ui.mirror_factory import NOW_MS, BuiltMirror, event_dict, write_mirror

TASK = "tsk_seeded"
RUNNING = "tsk_running"
AGENT_A = "agt_alpha"
AGENT_B = "agt_beta"
USERS = (
    ("usr_alice", "alice@acme.test", "Alice", "member"),
    ("usr_bob", "bob@acme.test", "Bob", "admin"),
    ("usr_carol", "carol@acme.test", "Carol", "owner"),
)
#: Positions (0-based, in the task) of the failed tool calls among the first 30 calls.
FAILED_CALLS = (5, 12)


def seeded_events(calls: int = 30, start_ms: int = NOW_MS - 3_600_000) -> list[dict[str, object]]:
    """The seeded task's events (and noise from other tasks), in log order."""
    ids = EventIdGenerator(random.Random(7))
    out: list[dict[str, object]] = []
    t = start_ms

    def add(type_: str, task: str | None, **kw: object) -> None:
        nonlocal t
        t += 1000
        out.append(event_dict(t, type_, id_=ids.new(t), task_id=task, **kw))  # type: ignore[arg-type]

    def noise(n: int) -> None:
        add("auth.login", None, user_id="usr_bob", method="password")
        add("agent.action", f"tsk_other{n}", user_id="usr_bob", agent_id="agt_other",
            tool="file.read", params={"path": f"x{n}.txt"}, path=f"x{n}.txt")  # fmt: skip

    add("task.created", TASK, user_id="usr_alice", agent_id=AGENT_A, title="Fix the flaky test",
        source="web", agent_name="Alpha")  # fmt: skip
    noise(0)
    add("task.started", TASK, user_id="usr_alice", agent_id=AGENT_A, agent_name="Alpha")
    for n in range(calls):
        if n in FAILED_CALLS:
            add("agent.action", TASK, user_id="usr_alice", agent_id=AGENT_A, outcome="failure",
                tool="shell.run", params={"command": f"pytest -k t{n}"}, error="exit 1",
                duration_ms=1200)  # fmt: skip
        else:
            add("agent.action", TASK, user_id="usr_alice", agent_id=AGENT_A, tool="file.read",
                params={"path": f"src/m{n}.py"}, path=f"src/m{n}.py", duration_ms=20)  # fmt: skip
        if n % 10 == 3:
            noise(n)
    add("approval.requested", TASK, user_id="usr_alice", agent_id=AGENT_A, approval_id="apr_1",
        tool="file.write", params={"path": "deploy.yaml"}, path="deploy.yaml", policy="deploy",
        risk="high")  # fmt: skip
    add("approval.approved", TASK, user_id="usr_bob", agent_id=AGENT_A, approval_id="apr_1",
        approver_id="usr_bob", tool="file.write", reason="Looks right")  # fmt: skip
    add("agent.action", TASK, user_id="usr_alice", agent_id=AGENT_A, approval_id="apr_1",
        tool="file.write", params={"path": "deploy.yaml"}, path="deploy.yaml")  # fmt: skip
    for n in range(3):
        add("agent.action", TASK, user_id="usr_alice", agent_id=AGENT_B, tool="http.request",
            params={"url": f"https://api.test/{n}"}, url=f"https://api.test/{n}")  # fmt: skip
    add("approval.requested", TASK, user_id="usr_alice", agent_id=AGENT_B, approval_id="apr_2",
        tool="db.migrate", params={"db": "prod"}, policy="production", risk="high")  # fmt: skip
    add("approval.denied", TASK, user_id="usr_carol", agent_id=AGENT_B, approval_id="apr_2",
        approver_id="usr_carol", tool="db.migrate",
        reason="Touches production on a Friday")  # fmt: skip
    add("task.failed", TASK, user_id="usr_alice", agent_id=AGENT_B, outcome="failure",
        error="approval denied",
        duration_ms=t - start_ms)  # fmt: skip
    # A second task that has not ended yet.
    add("task.created", RUNNING, user_id="usr_bob", agent_id=AGENT_A, title="Still going")
    add("task.started", RUNNING, user_id="usr_bob", agent_id=AGENT_A)
    add("agent.action", RUNNING, user_id="usr_bob", agent_id=AGENT_A, tool="file.read",
        params={"path": "a"}, path="a")  # fmt: skip
    return out


def seeded_mirror(path: Path, calls: int = 30) -> BuiltMirror:
    """A real mirror (signed checkpoint over every entry) holding :func:`seeded_events`."""
    return write_mirror(path, seeded_events(calls), USERS)


def big_task(path: Path, steps: int) -> BuiltMirror:
    """A mirror holding one task ``tsk_big`` of ``steps`` events: calls, failures, denials."""
    ids = EventIdGenerator(random.Random(5))
    t = start = NOW_MS - 10 * 86_400_000
    events: list[dict[str, object]] = []

    def add(type_: str, **kw: object) -> None:
        nonlocal t
        t += 1500
        kw.setdefault("user_id", "usr_alice")
        events.append(
            event_dict(t, type_, id_=ids.new(t), task_id="tsk_big", agent_id=AGENT_A, **kw)
        )  # type: ignore[arg-type]

    add("task.created", title="A long migration")
    add("task.started")
    for n in range(steps - 3):
        if n % 500 == 250:
            add("approval.requested", approval_id=f"apr_{n}", tool="db.write")
        elif n % 500 == 251:
            add("approval.denied", approval_id=f"apr_{n - 1}", approver_id="usr_bob", reason="no")
        elif n % 97 == 0:
            add("agent.action", tool="shell.run", params={"n": n}, outcome="failure", error="x")
        else:
            add("agent.action", tool="file.read", params={"path": f"f{n}"}, path=f"f{n}")
    add("task.completed", duration_ms=t - start)
    return write_mirror(path, events)
