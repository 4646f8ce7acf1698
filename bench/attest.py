"""Benchmark: what recording an export costs the server (the completeness attestation).

Workload (printed): one organization whose log holds N entries (default 1,000,000) with the
realistic mix of tests/export/logs.py (every category, tasks of ten events, five users), written
straight into the server's tables (``entries`` with their bodies and leaf hashes, as the
sequencer stores them). Then, on a warm database, the time of
:func:`auditlens.server.attestation.attest` for:

1. the whole log (no filter): the 1M-event export, the worst case;
2. ``type=agent`` (~29 % of the log);
3. one ``task_id`` (ten events mid-log);
4. ``since``/``until`` over the middle half, with ``outcome=failure`` (a verdict: the failed
   candidates' bodies are read to leave refusals out).

Aim: recording an export of 1M events adds at most 2 s (the append itself is one event).
On a shared machine the wall time includes waiting for a core; the CPU time of this process
(which, for SQLite, includes the database's own work) is printed beside it.
Run: ``nice .venv/bin/python bench/attest.py [--events N] [--db URL]`` (default: SQLite in a
temporary directory; ``--db postgresql+psycopg://...`` for PostgreSQL, on an EMPTY database).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def seed(state: object, org_id: str, n: int) -> None:
    import sqlalchemy as sa
    from tests.export.logs import T0, make_event

    from auditlens.core.canonical import canonicalize_event
    from auditlens.core.event_ids import EventIdGenerator
    from auditlens.core.events import category_of
    from auditlens.server.schema import entries, organizations

    rng = random.Random(7)
    ids = EventIdGenerator(random.Random(7))
    db = state.db  # type: ignore[attr-defined]
    for start in range(0, n, 20_000):
        rows = []
        for i in range(start, min(n, start + 20_000)):
            e = make_event(i, rng, ids)
            raw = canonicalize_event(e)
            rows.append(
                {
                    "org_id": org_id,
                    "idx": i,
                    "id": e["id"],
                    "ts": T0 + i * 37,
                    "type": e["type"],
                    "category": category_of(str(e["type"])),
                    "user_id": e["user_id"],
                    "task_id": e["task_id"],
                    "agent_id": e["agent_id"],
                    "outcome": e["event"]["outcome"],  # type: ignore[index]
                    "leaf_hash": hashlib.sha256(b"\x00" + raw).digest(),
                    "body": raw,
                }
            )
        with db.write() as conn:
            conn.execute(sa.insert(entries), rows)
    with db.write() as conn:
        conn.execute(
            sa.update(organizations).where(organizations.c.id == org_id).values(tree_size=n)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary directory)")
    args = parser.parse_args()

    from tests.export.logs import T0

    from auditlens.core.timestamps import format_timestamp
    from auditlens.server import accounts
    from auditlens.server.attestation import attest
    from auditlens.server.settings import ServerSettings
    from auditlens.server.state import open_server

    n = args.events
    with tempfile.TemporaryDirectory(prefix="auditlens-bench-attest-") as tmp:
        state = open_server(ServerSettings(data_dir=Path(tmp), database_url=args.db))
        with state.db.write() as conn:
            org = accounts.create_organization(conn, state.sequencer, "Bench", "business")
        t0 = time.perf_counter()
        seed(state, org.id, n)
        print(f"seeded {n:,} entries in {time.perf_counter() - t0:.1f} s ({args.db or 'sqlite'})")
        filters = {
            "whole log": {},
            "type=agent": {"type": ["agent"]},
            "one task": {"task_id": f"tsk_{n // 20}"},
            "middle half, failures": {
                "since": format_timestamp(T0 + n // 4 * 37),
                "until": format_timestamp(T0 + 3 * n // 4 * 37),
                "outcome": "failure",
            },
        }
        for name, flt in filters.items():
            best = cpu = float("inf")
            for _ in range(3):
                with state.db.read() as conn:
                    t0, c0 = time.perf_counter(), time.process_time()
                    got = attest(conn, org.id, flt, n)
                    best = min(best, time.perf_counter() - t0)
                    cpu = min(cpu, time.process_time() - c0)
            print(
                f"attest {name:24} {got.count:>9,} events  {best:6.2f} s wall, "
                f"{cpu:5.2f} s CPU of this process (best of 3)"
            )
        state.db.dispose()


if __name__ == "__main__":
    main()
