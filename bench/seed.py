"""Benchmark of demo seeding: the bulk path against the sequencer path, same log, same run.

Workload (printed with the figures): the demo generator's seed 1 with ``--events`` events per
size (default 100,000 and 1,000,000), one signed checkpoint every 10,000 events, appended to
the demo organization of a fresh database each time (SQLite in a temporary data directory with
the server's defaults, WAL and ``synchronous=FULL``, or ``--db`` for PostgreSQL: each run uses
a fresh database created next to the one named), by
``auditlens.server.seed.append_demo_events``:

- ``sequencer``: the path seeding took before the bulk path, every event validated;
- ``bulk``: the default path (no per-event validation) with a second process preparing the
  events (the default takes it only while a core is idle; here always);
- ``bulk 1 proc``: the same, preparing in this process (the default on a busy machine).

Creating the organization and its 12 people (argon2id, the server's production cost) is the
same for both, so it is timed once on its own and not included. Printed per path: wall seconds,
events/s, and the CPU seconds of this process plus the preparing process (the work done,
whatever else the machine runs). The bulk path's log is checked to equal the sequencer path's
(every checkpoint's signed note, with the same signing key and id seed); the script stops when
it does not.

``--repeat N`` runs the three paths N times, round after round (so a change in the machine's
load falls on all three alike), and prints each path's best wall and CPU seconds, the ratios of
the bests, and the medians: on a shared machine one round's figures vary by half.

Run: ``nice -n 10 .venv/bin/python bench/seed.py [--events 100000 1000000] [--db URL]
[--repeat N]``.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import NamedTuple

import sqlalchemy as sa

from auditlens.core.event_ids import EventIdGenerator
from auditlens.server import seed
from auditlens.server.demo_data import generate
from auditlens.server.seed import PARALLEL_FROM, append_demo_events, create_demo_organization
from auditlens.server.settings import KEY_FILE, VKEY_FILE, ServerSettings
from auditlens.server.state import open_server

NOW_MS = 1_772_366_400_000  # fixed, so both paths seed the same events


@contextmanager
def fresh_database(base: str | None) -> Iterator[str | None]:
    """None (SQLite in the data directory) or a new PostgreSQL database, dropped afterwards."""
    if base is None:
        yield None
        return
    name = f"auditlens_seed_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


class Run(NamedTuple):
    wall: float
    cpu: float
    notes: list[str]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seed_once(root: Path, db: str | None, events: int, path: str) -> Run:
    """Seed ``events`` events along ``path``; the seconds it took and the log's checkpoints."""
    data_dir = root / path.replace(" ", "-") / str(events)
    bulk = path != "sequencer"
    seed.PARALLEL_FROM = 10**12 if path == "bulk 1 proc" else PARALLEL_FROM
    seed._idle_core = lambda: True  # "bulk" always uses the second process
    data_dir.mkdir(parents=True)
    for name in (KEY_FILE, VKEY_FILE):  # one signing key for every run: comparable notes
        shutil.copy2(root / name, data_dir / name)
    with fresh_database(db) as url:
        state = open_server(ServerSettings(data_dir=data_dir, database_url=url))
        state.sequencer.ids = EventIdGenerator(random.Random(1))
        try:
            dataset = generate(seed=1, events=events, now_ms=NOW_MS)
            org, _ = create_demo_organization(state, dataset)
            started, cpu = time.perf_counter(), time.process_time() + children_cpu()
            append_demo_events(state, org.id, dataset, bulk=bulk, validate=not bulk)
            elapsed = time.perf_counter() - started
            cpu = time.process_time() + children_cpu() - cpu
            with state.db.read() as conn:
                notes = conn.execute(
                    sa.text("SELECT note FROM checkpoints WHERE org_id = :o ORDER BY size"),
                    {"o": org.id},
                ).scalars()
                return Run(elapsed, cpu, list(notes))
        finally:
            state.close()
            shutil.rmtree(data_dir)  # the next round starts afresh; a 1M log is ~1 GB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--db", help="a PostgreSQL URL (default: SQLite in a temporary folder)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of the three paths per size (best is shown)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="auditlens-seed-bench-") as tmp:
        root = Path(tmp)
        keys = open_server(ServerSettings(data_dir=root / "keys"))  # creates the signing key
        keys.close()
        for name in (KEY_FILE, VKEY_FILE):
            shutil.copy2(root / "keys" / name, root / name)
        backend = "PostgreSQL" if args.db else "SQLite (WAL, synchronous=FULL)"
        print(
            f"workload: demo seed 1, a checkpoint every 10,000 events, {backend}, "
            f"{os.cpu_count()} CPUs"
        )
        started = time.perf_counter()
        with fresh_database(args.db) as url:
            state = open_server(ServerSettings(data_dir=root / "people", database_url=url))
            create_demo_organization(state, generate(seed=1, events=0, now_ms=NOW_MS))
            state.close()
        print(
            f"not included: the organization and 12 people: {time.perf_counter() - started:.1f} s"
        )
        for events in args.events:
            report(events, [measure(root, args.db, events) for _ in range(args.repeat)])


PATHS = ("sequencer", "bulk", "bulk 1 proc")


def measure(root: Path, db: str | None, events: int) -> dict[str, Run]:
    """One run of every path, back to back; raises when a bulk log differs from the sequencer's."""
    runs: dict[str, Run] = {}
    for path in PATHS:
        runs[path] = seed_once(root, db, events, path)
        if runs[path].notes != runs["sequencer"].notes:
            raise SystemExit(f"{events:,} events, {path}: LOGS DIFFER from the sequencer's")
    return runs


def report(events: int, rounds: list[dict[str, Run]]) -> None:
    """Each path's best (and, over several rounds, median) wall and CPU seconds; the ratios."""
    best = {
        p: Run(min(r[p].wall for r in rounds), min(r[p].cpu for r in rounds), []) for p in PATHS
    }
    mid = {
        p: Run(median(r[p].wall for r in rounds), median(r[p].cpu for r in rounds), [])
        for p in PATHS
    }
    slow = best["sequencer"]
    for path in PATHS:
        run = best[path]
        line = (
            f"{events:>9,} events, {path:>11}: {run.wall:6.1f} s wall "
            f"({events / run.wall:>7,.0f} ev/s), {run.cpu:6.1f} s CPU"
        )
        if path != "sequencer":
            line += (
                f"; {slow.wall / run.wall:.2f}x faster, {slow.cpu / run.cpu:.2f}x less CPU; "
                "same signed checkpoints"
            )
        if len(rounds) > 1:
            line += (
                f" (median of {len(rounds)}: {mid[path].wall:.1f} s wall, {mid[path].cpu:.1f} s CPU"
            )
            if path != "sequencer":
                line += f", {mid['sequencer'].wall / mid[path].wall:.2f}x"
            line += ")"
        print(line, flush=True)


if __name__ == "__main__":
    main()
