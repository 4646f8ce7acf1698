"""Benchmark of the reference audit server: HTTP ingest rate and first-page latency per filter.

Workload (printed with the figures):

1. Ingest: a fresh organization; ``--batches`` POST /v1/events requests of 1,000 realistic demo
   events each (pre-serialized, so the client costs little), sent over one keep-alive
   connection by each of ``--clients`` threads, to a server running in its own process
   (``auditlens.server.commands serve``). Each batch is validated, numbered, hashed, stored and
   gets a newly signed checkpoint. Reported: events/s over the whole run.
2. Queries: the demo organization seeded with ``--events`` events (default 1,000,000; the seed
   rate is reported too), then the first page (limit 100, newest first) of each filter,
   ``--repeat`` times over HTTP; reported: median and worst milliseconds (the worst includes
   the first, cold request).

3. ``--mixed``: ingest while 20 readers page with filters, SQLite (one process) and, with
   ``--db``, PostgreSQL with ``--pg-workers`` API processes side by side (bench/server_mixed.py).

Run: ``.venv/bin/python bench/server.py [--events 1000000] [--db URL]``;
``.venv/bin/python bench/server.py --mixed --db postgresql+psycopg://USER@HOST/DB``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

from auditlens.server import accounts
from auditlens.server.demo_data import generate
from auditlens.server.seed import seed_demo
from auditlens.server.settings import ServerSettings
from auditlens.server.state import open_server

SYNC = "FULL"


def start_server(data_dir: Path, db: str | None, port: int) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "auditlens.server.commands", "serve", "--data-dir", str(data_dir)]
    argv += ["--sqlite-synchronous", SYNC]
    argv += ["--port", str(port), "--log-level", "warning", "--retention-interval", "0"]
    if db:
        argv += ["--db", db]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health").status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def bench_ingest(data_dir: Path, db: str | None, batches: int, clients: int, port: int) -> None:
    state = open_server(ServerSettings(data_dir=data_dir, database_url=db))
    with state.db.write() as conn:
        org = accounts.create_organization(conn, state.sequencer, "Ingest Bench", "business")
        _, key = accounts.create_api_key(conn, org.id, "bench", "ingest", None)
    state.close()
    events = [sub for _, sub in generate(seed=7, events=1000).events()]
    body = orjson.dumps({"events": events})
    proc = start_server(data_dir, db, port)
    try:
        per_client = batches // clients
        errors: list[str] = []

        def client() -> None:
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                for _ in range(per_client):
                    r = http.post("/v1/events", content=body, headers=headers)
                    if r.status_code != 201:
                        errors.append(r.text)
                        return

        threads = [threading.Thread(target=client) for _ in range(clients)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait()
    if errors:
        raise SystemExit(f"ingest failed: {errors[0]}")
    total = per_client * clients * 1000
    print(
        f"ingest: {total:,} events in {per_client * clients} batches of 1,000 by {clients} "
        f"client(s), 1 signed checkpoint per batch: {elapsed:.2f} s = {total / elapsed:,.0f} ev/s "
        f"({elapsed / (per_client * clients) * 1000:.1f} ms per batch)"
    )


def bench_queries(data_dir: Path, db: str | None, events: int, repeat: int, port: int) -> None:
    state = open_server(ServerSettings(data_dir=data_dir, database_url=db))
    start = time.perf_counter()
    result = seed_demo(state, events=events, seed=1)
    elapsed = time.perf_counter() - start
    print(f"seed: {events:,} demo events in {elapsed:.1f} s = {events / elapsed:,.0f} ev/s")
    admin = result.person("admin")
    with state.db.read() as conn:
        sample = conn.exec_driver_sql(
            "SELECT task_id, agent_id, ts FROM entries WHERE org_id = ? AND task_id IS NOT NULL "
            "AND agent_id IS NOT NULL ORDER BY idx LIMIT 1 OFFSET ?"
            if state.db.is_sqlite
            else "SELECT task_id, agent_id, ts FROM entries WHERE org_id = %s AND task_id IS NOT "
            "NULL AND agent_id IS NOT NULL ORDER BY idx LIMIT 1 OFFSET %s",
            (result.org.id, events // 3),
        ).one()
    state.close()
    from auditlens.core.timestamps import format_timestamp

    day = 86_400_000
    filters: dict[str, dict[str, str]] = {
        "no filter": {},
        "no filter, oldest first": {"order": "asc"},
        "type=agent.action": {"type": "agent.action"},
        "type=agent (category)": {"type": "agent"},
        "type=approval (category)": {"type": "approval"},
        "type=auth (category)": {"type": "auth"},
        "type=billing.plan_changed (rare)": {"type": "billing.plan_changed"},
        "type=audit (category, rare)": {"type": "audit"},
        "user_email": {"user_email": admin.email},
        "task_id": {"task_id": sample.task_id},
        "agent_id": {"agent_id": sample.agent_id},
        "outcome=failure": {"outcome": "failure"},
        "since..until (one day, 30 days ago)": {
            "since": format_timestamp(sample.ts),
            "until": format_timestamp(sample.ts + day),
        },
        "type=agent & outcome=failure": {"type": "agent", "outcome": "failure"},
        "agent_id & type=approval": {"agent_id": sample.agent_id, "type": "approval"},
    }
    proc = start_server(data_dir, db, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            token = http.post(
                "/v1/auth/login", json={"email": admin.email, "password": admin.password}
            ).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            print(f"first page (limit 100, newest first unless said), {repeat} requests each:")
            worst_all = 0.0
            for name, params in filters.items():
                times = []
                for _ in range(repeat):
                    t = time.perf_counter()
                    r = http.get("/v1/audit-logs", params={"limit": 100, **params}, headers=headers)
                    times.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200, r.text
                n = len(r.json()["items"])
                worst_all = max(worst_all, *times)
                print(
                    f"  {name:<38} median {statistics.median(times):6.2f} ms  "
                    f"worst {max(times):6.2f} ms  ({n} items)"
                )
            print(f"  worst of all filters: {worst_all:.1f} ms")
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events to seed")
    parser.add_argument("--batches", type=int, default=60, help="ingest batches of 1,000")
    parser.add_argument("--clients", type=int, default=1, help="concurrent ingest clients")
    parser.add_argument("--repeat", type=int, default=20, help="requests per filter")
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary directory)")
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--sqlite-synchronous", choices=["FULL", "NORMAL"], default="FULL")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-queries", action="store_true")
    mixed = parser.add_argument_group("mixed load (--mixed; see bench/server_mixed.py)")
    mixed.add_argument("--mixed", action="store_true", help="ingest while readers page")
    mixed.add_argument("--readers", type=int, default=20)
    mixed.add_argument("--ingesters", type=int, default=4)
    mixed.add_argument("--seconds", type=float, default=20.0, help="length of each phase")
    mixed.add_argument("--pg-workers", type=int, default=2, help="PostgreSQL API processes")
    mixed.add_argument(
        "--think", type=float, default=0.0, help="seconds each reader pauses between reads"
    )
    mixed.add_argument("--only", choices=["sqlite", "postgresql"], help="run one database only")
    args = parser.parse_args()
    if args.mixed:
        from server_mixed import run_mixed

        if args.events == 1_000_000:
            args.events = 100_000  # the mixed load's default log
        run_mixed(args)
        return
    global SYNC  # noqa: PLW0603 - one setting for the whole benchmark run
    SYNC = args.sqlite_synchronous
    db_name = args.db or f"SQLite (WAL, synchronous={SYNC})"
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, db: {db_name}")
    with tempfile.TemporaryDirectory(prefix="auditlens-bench-") as tmp:
        if not args.skip_ingest:
            bench_ingest(Path(tmp) / "ingest", args.db, args.batches, args.clients, args.port)
        if not args.skip_queries:
            db = args.db
            bench_queries(Path(tmp) / "queries", db, args.events, args.repeat, args.port)


if __name__ == "__main__":
    main()
