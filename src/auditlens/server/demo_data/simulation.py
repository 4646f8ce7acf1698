"""The stream: the background merged by time with tasks started on the rhythm's schedule.

See the package docstring for the guarantees (exact count, bounded memory, every timestamp in
the window).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

from auditlens.server.demo_data.background import Background
from auditlens.server.demo_data.primitives import Submission
from auditlens.server.demo_data.profiles import make_profiles
from auditlens.server.demo_data.rhythm import Rhythm
from auditlens.server.demo_data.tasks import TaskMaker, squeeze

if TYPE_CHECKING:
    from auditlens.server.demo_data.dataset import DemoDataset

_BACKGROUND_SHARE_PERCENT = 30  # background never takes more than this share of the count


class Simulation:
    """Merges the background with tasks started on the rhythm's schedule (see module docstring)."""

    def __init__(self, dataset: DemoDataset) -> None:
        self.d = dataset
        seed = dataset.seed
        profiles, changes = make_profiles(dataset, random.Random(f"auditlens-demo/{seed}/profiles"))
        bg_rng = random.Random(f"auditlens-demo/{seed}/background")
        org, sessions = Background(dataset, bg_rng, profiles, changes).units()
        self.background = _fit(org, sessions, dataset, bg_rng)
        self.tasks = TaskMaker(dataset, random.Random(f"auditlens-demo/{seed}/tasks"), profiles)
        self.task_rng = self.tasks.rng
        self.rhythm = Rhythm(dataset.start_ms, dataset.now_ms)

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
                    lifecycle = squeeze(lifecycle, spawn_at, d.now_ms)
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
