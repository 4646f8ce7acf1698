"""Mixed load on the reference server: ingest while 20 readers page with filters (``--mixed``).

Workload (printed with the figures), per database, in one run:

1. A fresh database seeded with ``--events`` demo events (default 100,000) through the
   sequencer; then ``auditlens serve`` in its own process(es): SQLite with one process,
   PostgreSQL with ``--pg-workers`` API processes (default 2) behind one port.
2. *Ingest alone*: ``--ingesters`` client threads (default 4) each POST batches of 1,000
   realistic demo events (pre-serialized) with an ingest key, for ``--seconds`` seconds.
3. *Mixed*: the same ingest, while ``--readers`` readers (default 20; asyncio, in a separate
   client process so the client's own interpreter does not distort the server's figures) loop
   over 12 filters (none, type, category, user, task, agent, outcome, time window and
   combinations; each reader starts at a different one): the first page (limit 100, newest
   first) and then two more pages through ``next_cursor``, with an admin's read key.

Reported per phase: ingest events/s, and for the mixed phase the reads' count, rate, p50, p99
and worst latency (milliseconds, measured by the client around each request), plus the mixed
to alone ingest ratio. Every figure comes from the same run on the same machine.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

from auditlens.core.timestamps import format_timestamp
from auditlens.server import accounts
from auditlens.server.demo_data import generate
from auditlens.server.seed import seed_demo
from auditlens.server.settings import ServerSettings
from auditlens.server.state import open_server

DAY_MS = 86_400_000


@dataclass
class Prepared:
    ingest_key: str
    read_key: str
    filters: list[dict[str, str]]


def prepare(data_dir: Path, db: str | None, events: int) -> Prepared:
    """Seed the demo organization; return the keys and the readers' filters."""
    state = open_server(ServerSettings(data_dir=data_dir, database_url=db))
    try:
        start = time.perf_counter()
        seeded = seed_demo(state, events=events, seed=1)
        took = time.perf_counter() - start
        print(f"  seeded {events:,} demo events in {took:.1f} s ({events / took:,.0f} ev/s)")
        admin = seeded.person("admin")
        with state.db.write() as conn:
            user = accounts.find_user(conn, seeded.org.id, admin.email)
            assert user is not None
            _, read_key = accounts.create_api_key(conn, seeded.org.id, "readers", "read", user.id)
            row = conn.exec_driver_sql(
                "SELECT task_id, agent_id, ts FROM entries WHERE org_id = "
                + ("?" if state.db.is_sqlite else "%s")
                + " AND task_id IS NOT NULL AND agent_id IS NOT NULL ORDER BY idx DESC LIMIT 1",
                (seeded.org.id,),
            ).one()
    finally:
        state.close()
    window = {"since": format_timestamp(row.ts - DAY_MS), "until": format_timestamp(row.ts)}
    filters: list[dict[str, str]] = [
        {},
        {"type": "agent.action"},
        {"type": "auth"},
        {"type": "approval"},
        {"user_email": admin.email},
        {"task_id": row.task_id},
        {"agent_id": row.agent_id},
        {"outcome": "failure"},
        window,
        {"type": "agent", "outcome": "failure"},
        {"agent_id": row.agent_id, "type": "approval"},
        {"user_email": admin.email, **window},
    ]
    return Prepared(seeded.ingest_key, read_key, filters)


def start_server(
    data_dir: Path, db: str | None, port: int, workers: int
) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "auditlens.server.commands", "serve", "--data-dir", str(data_dir),
            "--port", str(port), "--log-level", "warning", "--retention-interval", "0",
            "--forwarding", "off", "--workers", str(workers)]  # fmt: skip
    if db:
        argv += ["--db", db]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health").status_code == 200:
                time.sleep(1.0 if workers > 1 else 0)  # let every worker finish starting
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def ingest_for(url: str, key: str, body: bytes, clients: int, seconds: float) -> float:
    """POST ``body`` from ``clients`` threads for ``seconds``; return events per second."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    per_batch = len(orjson.loads(body)["events"])
    done = [0] * clients
    errors: list[str] = []
    end = time.perf_counter() + seconds

    def client(i: int) -> None:
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.perf_counter() < end:
                r = http.post("/v1/events", content=body, headers=headers)
                if r.status_code != 201:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                    return
                done[i] += per_batch

    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"ingest failed: {errors[0]}")
    return sum(done) / elapsed


async def _reader(  # noqa: PLR0917
    http: httpx.AsyncClient,
    n: int,
    filters: list[dict[str, str]],
    end: float,
    out: list[tuple[int, float]],
    think: float,
) -> None:
    i = n
    while time.perf_counter() < end:
        query: dict[str, Any] = {"limit": 100, **filters[i % len(filters)]}
        params = query
        for _ in range(3):
            t = time.perf_counter()
            r = await http.get("/v1/audit-logs", params=params)
            out.append((i % len(filters), (time.perf_counter() - t) * 1000))
            if r.status_code != 200:
                raise SystemExit(f"read failed: {r.status_code} {r.text[:200]}")
            if think:
                await asyncio.sleep(think)
            cursor = orjson.loads(r.content)["next_cursor"]
            if cursor is None:
                break
            params = {**query, "cursor": cursor}
        i += 1


async def _readers(  # noqa: PLR0917
    url: str, key: str, filters: list[dict[str, str]], n: int, secs: float, think: float = 0.0
) -> Any:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    headers = {"Authorization": f"Bearer {key}"}
    out: list[tuple[int, float]] = []  # (filter, ms) per read
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=120) as h:
        end = time.perf_counter() + secs
        await asyncio.gather(*(_reader(h, i, filters, end, out, think) for i in range(n)))
    return out


def reader_process(
    spec: tuple[str, str, list[dict[str, str]], int, float, float], queue: Any
) -> None:
    """The readers, in a client process of their own; put their latencies on ``queue``."""
    try:
        queue.put(asyncio.run(_readers(*spec)))
    except BaseException as exc:
        queue.put(repr(exc))


def api_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of the server process and its children so far (Linux; else 0)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _load() -> str:
    """The machine's 1-minute load average: other work skews every figure on a shared host."""
    return f" [load {os.getloadavg()[0]:.1f}]" if hasattr(os, "getloadavg") else ""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_backend(name: str, db: str | None, workers: int, args: Any, port: int) -> dict[str, float]:
    print(f"{name}: {workers} API process(es)")
    with tempfile.TemporaryDirectory(prefix="auditlens-mixed-") as tmp:
        prepared = prepare(Path(tmp), db, args.events)
        body = orjson.dumps({"events": [s for _, s in generate(seed=7, events=1000).events()]})
        proc = start_server(Path(tmp), db, port, workers)
        url = f"http://127.0.0.1:{port}"
        try:
            cpu = api_cpu_seconds(proc.pid)
            alone = ingest_for(url, prepared.ingest_key, body, args.ingesters, args.seconds)
            cpu_alone = api_cpu_seconds(proc.pid) - cpu
            print(
                f"  ingest alone ({args.ingesters} clients): {alone:,.0f} ev/s; API processes "
                f"used {cpu_alone / args.seconds:.2f} cores = "
                f"{cpu_alone / (alone * args.seconds) * 1e6:.0f} ms CPU per 1,000 events{_load()}"
            )
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            readers = ctx.Process(
                target=reader_process,
                args=(
                    (
                        url,
                        prepared.read_key,
                        prepared.filters,
                        args.readers,
                        args.seconds,
                        args.think,
                    ),
                    queue,
                ),
            )
            readers.start()
            time.sleep(0.5)  # the readers' process imports before it reads
            cpu = api_cpu_seconds(proc.pid)
            mixed = ingest_for(url, prepared.ingest_key, body, args.ingesters, args.seconds)
            cpu_mixed = api_cpu_seconds(proc.pid) - cpu
            reads = queue.get(timeout=args.seconds + 120)
            readers.join()
            if isinstance(reads, str):
                raise SystemExit(f"the readers failed: {reads}")
        finally:
            proc.terminate()
            proc.wait()
    latencies = [ms for _, ms in reads]
    p50, p99 = statistics.median(latencies), _pct(latencies, 0.99)
    print(
        f"  mixed: ingest {mixed:,.0f} ev/s ({mixed / alone:.2f}x alone) with {args.readers} "
        f"readers{f' pausing {args.think:g} s between reads' if args.think else ''}: "
        f"{len(latencies):,} reads ({len(latencies) / args.seconds:,.0f}/s), "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, worst {max(latencies):.1f} ms; API processes "
        f"used {cpu_mixed / args.seconds:.2f} cores{_load()}"
    )
    print("    per filter (reads, p50 / p99 ms):")
    for f, flt in enumerate(prepared.filters):
        mine = [ms for g, ms in reads if g == f]
        if mine:
            name = ", ".join(sorted(flt)) or "no filter"
            print(
                f"      {name:<34} {len(mine):5,}  {statistics.median(mine):7.1f} / "
                f"{_pct(mine, 0.99):7.1f}"
            )
    return {"alone": alone, "mixed": mixed, "p50": p50, "p99": p99}


def run_mixed(args: Any) -> None:
    print(
        f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}; workload: "
        f"{args.events:,} seeded events, {args.ingesters} ingest clients x batches of 1,000, "
        f"{args.readers} readers (12 filters, 3 pages of 100 each; "
        f"{f'{args.think:g} s between reads' if args.think else 'closed loop, no pause'}), "
        f"{args.seconds:.0f} s per phase"
    )
    results = {}
    if args.only != "postgresql":
        results["SQLite"] = run_backend("SQLite (WAL, FULL)", None, 1, args, args.port)
    if args.db and args.only != "sqlite":
        pg = run_backend("PostgreSQL", args.db, args.pg_workers, args, args.port + 1)
        results[f"PostgreSQL x{args.pg_workers}"] = pg
    print(f"{'':<16}{'alone ev/s':>12}{'mixed ev/s':>12}{'read p50':>10}{'read p99':>10}")
    for name, r in results.items():
        print(
            f"{name:<16}{r['alone']:>12,.0f}{r['mixed']:>12,.0f}"
            f"{r['p50']:>8.1f}ms{r['p99']:>8.1f}ms"
        )
    if len(results) == 2:
        sqlite, pg = results.values()
        print(
            f"PostgreSQL / SQLite, mixed ingest: {pg['mixed'] / sqlite['mixed']:.2f}x; "
            f"read p99: {pg['p99'] / sqlite['p99']:.2f}x"
        )
