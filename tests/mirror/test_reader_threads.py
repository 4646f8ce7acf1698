"""The reader's memo (plans, capped counts, prefixes, the directory) under several threads.

The viewer pages, counts and draws the histogram on worker threads while a sync may call
``refresh()``; each of them reads and writes the same memo. The answers must stay exactly those
of a lone thread, and a value computed before a refresh must not survive it.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.resolve import Memo
from tests.ui.mirror_factory import build_demo_mirror


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("threads") / "demo.sqlite"
    build_demo_mirror(path, 2_000)
    return path


FILTERS = [
    EventFilter(),
    EventFilter(types=frozenset({"agent"})),
    EventFilter(outcome="failure"),
    EventFilter(types=frozenset({"auth", "task.failed"}), outcome="failure"),
    EventFilter(agent_id="agt_*"),
    EventFilter(user_email="*"),
]
SORTS = ["ts", "type", "user", "agent", "outcome", "task"]


def answers(reader: MirrorReader, f: EventFilter, sort: str) -> tuple[object, ...]:
    page = [row.idx for row in reader.page(f, sort, True, None, 50)]  # type: ignore[arg-type]
    return page, reader.count(f), [u.id for u in reader.users()]


def test_many_threads_get_a_lone_threads_answers_while_the_memo_is_refreshed(
    demo: Path,
) -> None:
    lone = MirrorReader(demo)
    try:
        expected = {(i, s): answers(lone, f, s) for i, f in enumerate(FILTERS) for s in SORTS}
    finally:
        lone.close()
    shared = MirrorReader(demo)
    stop = threading.Event()

    def refresher() -> int:
        n = 0
        while not stop.is_set():
            shared.refresh()
            n += 1
        return n

    def worker(seed: int) -> list[tuple[int, str]]:
        wrong = []
        for round_ in range(6):
            for i, f in enumerate(FILTERS):
                s = SORTS[(seed + round_ + i) % len(SORTS)]
                if answers(shared, f, s) != expected[(i, s)]:
                    wrong.append((i, s))
        return wrong

    try:
        with ThreadPoolExecutor(max_workers=7) as pool:
            refreshes = pool.submit(refresher)
            workers = [pool.submit(worker, seed) for seed in range(6)]
            wrong = [w for job in workers for w in job.result()]
            stop.set()
            assert refreshes.result() > 0
    finally:
        stop.set()
        shared.close()
    assert wrong == []


def test_a_value_computed_before_a_refresh_is_not_kept_after_it() -> None:
    memo = Memo()
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "before the sync"

    thread = threading.Thread(target=lambda: memo.get_or("plan", slow))
    thread.start()
    assert started.wait(5)
    memo.clear()  # a sync finished while the old value was being computed
    release.set()
    thread.join(5)
    assert memo.get_or("plan", lambda: "after the sync") == "after the sync"


def test_the_memo_keeps_one_value_per_key() -> None:
    memo = Memo()
    calls = []

    def compute() -> int:
        calls.append(1)
        return 42

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert set(pool.map(lambda _: memo.get_or("k", compute), range(50))) == {42}
    assert len(memo) == 1
    assert memo.get_or("k", lambda: 0) == 42
