"""Small signed logs built in memory with auditlens.core, for export and verification tests.

The events are realistic (every category, request IPs, tools, failures) and include the text a
CSV must survive: formula starts (``=``, ``+``, ``-``, ``@``), quotes, commas, newlines and
non-ASCII. ``MemorySnapshot`` is the writer's ``LogSnapshot`` over such a log.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from auditlens.core import merkle
from auditlens.core.canonical import canonicalize_event
from auditlens.core.event_ids import EventIdGenerator
from auditlens.core.note import Checkpoint, generate_keys, sign_checkpoint
from auditlens.core.timestamps import format_timestamp

ORIGIN = "auditlens.test/acme"
SERVER = "auditlens.test"
T0 = 1_790_000_000_000

_TRICKY = [
    '=HYPERLINK("http://evil.example","click")',
    "+1 555 0100",
    "-rf /",
    "@SUM(A1:A9)",
    'quote " and, comma',
    "line\nbreak",
    "Zoë café ✓",
]


def make_event(i: int, rng: random.Random, ids: EventIdGenerator) -> dict[str, object]:
    """Return one realistic stored event (id, timestamp, ...) number ``i``."""
    ts = T0 + i * 37
    user = f"usr_{rng.randrange(5)}"
    task = f"tsk_{i // 10}"
    kind = i % 7
    body: dict[str, object]
    if kind == 0:
        etype, body = "auth.login", {"outcome": "success", "method": "password"}
        body["request"] = {"ip": f"10.0.{i % 256}.{rng.randrange(256)}", "user_agent": "curl/8"}
    elif kind == 1:
        etype = "agent.action"
        body = {"outcome": "success", "tool": "browser.navigate", "url": f"https://ex.com/{i}"}
    elif kind == 2:
        etype = "agent.action"
        body = {
            "outcome": "failure",
            "tool": "code.execute",
            "language": "python",
            "error": _TRICKY[(i // 7) % len(_TRICKY)],
            "params": {"code": _TRICKY[(i // 7 + 1) % len(_TRICKY)]},
        }
    elif kind == 3:
        etype, body = (
            "task.created",
            {"outcome": "success", "title": _TRICKY[(i // 7) % len(_TRICKY)]},
        )
    elif kind == 4:
        etype, body = "approval.denied", {"outcome": "failure", "reason": "touches production"}
    elif kind == 5:
        etype = "team.member_invited"
        body = {"outcome": "success", "member_email": f"m{i}@example.com", "role": "member"}
    else:
        etype = "billing.plan_changed"
        body = {"outcome": "success", "from_plan": "business", "to_plan": "enterprise"}
    return {
        "id": ids.new(ts),
        "timestamp": format_timestamp(ts),
        "type": etype,
        "user_id": user if kind != 6 else None,
        "task_id": task if kind in (1, 2, 3) else None,
        "agent_id": "agt_1" if kind in (1, 2) else None,
        "event": body,
    }


@dataclass
class MemoryLog:
    """A signed log of ``size`` events: raw canonical bytes, keys and the checkpoint note."""

    size: int
    seed: int = 1
    origin: str = ORIGIN

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        ids = EventIdGenerator(random.Random(self.seed))
        self.events = [make_event(i, rng, ids) for i in range(self.size)]
        self.raws = [canonicalize_event(e) for e in self.events]
        self.skey, self.vkey = generate_keys(SERVER)
        self.leaves = [merkle.leaf_hash(r) for r in self.raws]
        self.root = merkle.root(self.leaves)
        self.note = sign_checkpoint(Checkpoint(self.origin, self.size, self.root), self.skey)

    def snapshot(self, selected: Sequence[int] | None = None, chunk: int = 50) -> MemorySnapshot:
        chosen = list(range(self.size)) if selected is None else sorted(selected)
        return MemorySnapshot(self, chosen, chunk)

    @cached_property
    def users(self) -> dict[str, str]:
        return {f"usr_{n}": f"user{n}@acme.example" for n in range(5)}


@dataclass
class MemorySnapshot:
    """The export writer's LogSnapshot over a MemoryLog (optionally tampered)."""

    log: MemoryLog
    chosen: list[int]
    chunk: int = 50
    raws: list[bytes] = field(default_factory=list)
    note: str | None = None
    skip: range = range(0)

    def __post_init__(self) -> None:
        self.raws = list(self.log.raws)

    @property
    def origin(self) -> str:
        return self.log.origin

    @property
    def vkey(self) -> str:
        return self.log.vkey

    @property
    def checkpoint_note(self) -> str:
        return self.note if self.note is not None else self.log.note

    def prefix(self) -> tuple[int, Sequence[bytes]]:
        return 0, []

    def selected_count(self) -> int:
        return len(self.chosen)

    def selected(self) -> Iterator[int]:
        return iter(self.chosen)

    def entries(self, start: int, stop: int) -> Iterator[tuple[int, list[bytes]]]:
        pos = start
        while pos < stop:
            end = min(stop, pos + self.chunk)
            rows = [(i, self.raws[i]) for i in range(pos, end) if i not in self.skip]
            # a hole (skip) splits the chunk, as a database with missing rows would
            run: list[bytes] = []
            first = -1
            for i, raw in rows:
                if run and i != first + len(run):
                    yield first, run
                    run = []
                if not run:
                    first = i
                run.append(raw)
            if run:
                yield first, run
            pos = end

    def users(self) -> Mapping[str, str]:
        return self.log.users
