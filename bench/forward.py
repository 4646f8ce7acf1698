"""Benchmark of SIEM forwarding: backfill rate to Splunk HEC, and ingest with forwarders running.

Workload (printed with the figures):

1. Backfill: the demo organization seeded with ``--events`` events (default 100,000), then a
   Splunk HEC forwarder added with ``start=beginning`` and run in this process (one worker
   thread, batches of ``--batch`` events, gzip level 1) against a local HEC receiver in its
   own process that checks the token, gunzips and parses every event (``orjson``) before it
   answers 200. Reported: events/s from the first read to the cursor reaching the end.
2. Ingest: ``--batches`` POST /v1/events of 1,000 demo events over one keep-alive connection to
   ``auditlens serve`` in its own process, once with no forwarder and once with three (Splunk
   HEC, Datadog and webhook, each on every event, in ``serve``'s forwarding child process,
   against a receiver process that gunzips but does not parse), each on a fresh SQLite
   database. Reported: both rates, their ratio, the server's CPU seconds (with its child),
   and the time the forwarders needed after the last acknowledged batch to reach the end.
3. Steady state: 1,000 events/s (100 every 0.1 s) for ``--steady-seconds`` (20) to ``serve``
   with one HEC forwarder at its defaults; the receiver records, per event, its arrival time
   minus the event's append time. Reported: p50, p99 and worst delivery lag.

Run: ``nice -n 10 .venv/bin/python bench/forward.py [--events 1000000] [--batches 60]``.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from auditlens.server import accounts
from auditlens.server.demo_data import generate
from auditlens.server.forwarding import control
from auditlens.server.forwarding.engine import ForwarderWorker
from auditlens.server.forwarding.vault import Vault
from auditlens.server.schema import forwarders
from auditlens.server.seed import seed_demo
from auditlens.server.settings import ServerSettings
from auditlens.server.state import open_server

TOKEN = "bench-token"
WHSEC = "whsec_" + base64.b64encode(b"b" * 32).decode()


def run_receiver(port: int, parse: bool) -> None:
    """A HEC / Datadog / webhook receiver; ``parse``: parse every event it acknowledges, else
    only gunzip and count (the SIEM is another machine: its CPU should not come out of the
    ingest measurement on a small box)."""
    received = [0]
    lags: list[float] = []  # receipt time minus the event's append time, seconds
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def setup(self) -> None:
            super().setup()  # like a production server: no Nagle delay on small answers
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/lags":
                with lock:
                    data = orjson.dumps(sorted(lags))
                    lags.clear()
                self._reply(200, data)
                return
            self._reply(200, str(received[0]).encode())

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            if self.path == "/services/collector/event":
                if self.headers.get("Authorization") != f"Splunk {TOKEN}":
                    self._reply(403, b'{"text":"Invalid token","code":4}')
                    return
                if not parse:
                    n = raw.count(b"\n") + 1
                else:
                    now = time.time()
                    times = [orjson.loads(line)["time"] for line in raw.split(b"\n")]
                    n = len(times)
                    with lock:
                        lags.extend(now - t for t in times)
            elif not parse:
                n = 0
            elif self.path == "/api/v2/logs":
                n = len(orjson.loads(raw))
            else:
                n = len(orjson.loads(raw)["events"])
            with lock:
                received[0] += n
            self._reply(200, b'{"text":"Success","code":0}')

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_receiver(parse: bool = True) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    argv = [sys.executable, __file__, "--receiver", str(port)]
    proc = subprocess.Popen(argv + ([] if parse else ["--light"]))
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(url)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("the receiver did not start")


def cursors(state: Any) -> list[int]:
    with state.db.read() as conn:
        return [int(c) for (c,) in conn.execute(sa.select(forwarders.c.cursor))]


def bench_backfill(data_dir: Path, events: int, batch: int, receiver: str) -> None:
    state = open_server(ServerSettings(data_dir=data_dir, sqlite_synchronous="NORMAL"))
    t = time.perf_counter()
    seeded = seed_demo(state, events=events, seed=1)
    print(f"seed: {events:,} demo events in {time.perf_counter() - t:.1f} s")
    fwd = control.add(
        state, seeded.org.id, name="bench", kind="splunk_hec",
        config={"url": receiver, "batch_size": batch, "max_wait_seconds": 0},
        secret=TOKEN, start="beginning", user_id=None, via="bench",
    )  # fmt: skip
    with state.db.read() as conn:
        (size,) = conn.execute(sa.text("SELECT tree_size FROM organizations")).one()
    worker = ForwarderWorker(state.db, Vault.open(data_dir), fwd.id)
    thread = threading.Thread(target=worker.run)
    start = time.perf_counter()
    thread.start()
    while cursors(state)[0] < size:
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    worker.stop()
    thread.join()
    state.close()
    got = int(httpx.get(receiver).text)
    print(
        f"backfill to Splunk HEC: {size:,} events in batches of {batch:,} (gzip, one worker): "
        f"{elapsed:.1f} s = {size / elapsed:,.0f} ev/s; the receiver parsed {got:,} events"
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its live children (Linux /proc)."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            total += cpu_seconds(int(child))
    except OSError:
        pass
    return total


def ingest_rate(data_dir: Path, batches: int, receiver: str | None) -> tuple[float, float]:
    """Ingest events/s, and seconds the forwarders needed after the last batch (0 if none)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from server import start_server  # bench/server.py

    state = open_server(ServerSettings(data_dir=data_dir))
    with state.db.write() as conn:
        org = accounts.create_organization(conn, state.sequencer, "Ingest Bench", "business")
        _, key = accounts.create_api_key(conn, org.id, "bench", "ingest", None)
    if receiver:
        for kind, config, secret in (
            ("splunk_hec", {"url": receiver}, TOKEN),
            ("datadog", {"url": receiver + "/api/v2/logs"}, "dd-key"),
            ("webhook", {"url": receiver + "/hook"}, WHSEC),
        ):
            control.add(
                state, org.id, name=kind, kind=kind, config=config, secret=secret,
                user_id=None, via="bench",
            )  # fmt: skip
    events = [sub for _, sub in generate(seed=7, events=1000).events()]
    body = orjson.dumps({"events": events})
    port = free_port()
    proc = start_server(data_dir, None, port)
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            start = time.perf_counter()
            for _ in range(batches):
                r = http.post("/v1/events", content=body, headers=headers)
                assert r.status_code == 201, r.text
            elapsed = time.perf_counter() - start
        drained = time.perf_counter()
        if receiver:
            with state.db.read() as conn:
                (size,) = conn.execute(sa.text("SELECT tree_size FROM organizations")).one()
            while min(cursors(state)) < size:
                time.sleep(0.05)
        lag = time.perf_counter() - drained if receiver else 0.0
        cpu = cpu_seconds(proc.pid)
        print(f"  (server CPU incl. its forwarding child: {cpu:.1f} s for {batches:,} batches)")
    finally:
        proc.terminate()
        proc.wait()
        state.close()
    return batches * 1000 / elapsed, lag


def bench_steady(data_dir: Path, rate: int, seconds: int, receiver: str) -> None:
    """Ingest ``rate`` events/s for ``seconds`` with one HEC forwarder; print the delivery lag."""
    sys.path.insert(0, str(Path(__file__).parent))
    from server import start_server  # bench/server.py

    state = open_server(ServerSettings(data_dir=data_dir))
    with state.db.write() as conn:
        org = accounts.create_organization(conn, state.sequencer, "Steady Bench", "business")
        _, key = accounts.create_api_key(conn, org.id, "bench", "ingest", None)
    control.add(
        state, org.id, name="hec", kind="splunk_hec", config={"url": receiver}, secret=TOKEN,
        user_id=None, via="bench",
    )  # fmt: skip
    state.close()
    per_tick = rate // 10
    events = [sub for _, sub in generate(seed=7, events=per_tick).events()]
    body = orjson.dumps({"events": events})
    port = free_port()
    proc = start_server(data_dir, None, port)
    time.sleep(2)  # the forwarding child starts and delivers the forwarder's own audit event
    httpx.get(receiver + "/lags")  # forget it and earlier runs
    try:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            start = time.monotonic()
            for tick in range(seconds * 10):
                time.sleep(max(0.0, start + tick / 10 - time.monotonic()))
                r = http.post("/v1/events", content=body, headers=headers)
                assert r.status_code == 201, r.text
        time.sleep(3)  # let the last batches arrive
    finally:
        proc.terminate()
        proc.wait()
    lags = orjson.loads(httpx.get(receiver + "/lags").content)
    n = len(lags)
    print(
        f"steady state: {rate:,} ev/s ingested for {seconds} s in batches of {per_tick} every "
        f"0.1 s, one HEC forwarder (max_wait_seconds 1, the default): {n:,} events delivered; "
        f"delivery lag p50 {lags[n // 2]:.2f} s, p99 {lags[int(n * 0.99)]:.2f} s, "
        f"max {lags[-1]:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events to backfill")
    parser.add_argument("--batch", type=int, default=1000, help="HEC batch size (events)")
    parser.add_argument("--batches", type=int, default=60, help="ingest batches of 1,000")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-steady", action="store_true")
    parser.add_argument("--steady-seconds", type=int, default=20)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--light", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        run_receiver(args.receiver, parse=not args.light)
        return
    receiver, url = start_receiver()
    light, light_url = start_receiver(parse=False)
    try:
        with tempfile.TemporaryDirectory(prefix="auditlens-fwd-bench-") as tmp:
            if not args.skip_backfill:
                bench_backfill(Path(tmp) / "backfill", args.events, args.batch, url)
            if not args.skip_ingest:
                alone, _ = ingest_rate(Path(tmp) / "alone", args.batches, None)
                with_three, lag = ingest_rate(Path(tmp) / "three", args.batches, light_url)
                print(
                    f"ingest, {args.batches} batches of 1,000 over one connection (SQLite, "
                    f"synchronous=FULL): no forwarder {alone:,.0f} ev/s; three forwarders "
                    f"(HEC, Datadog, webhook) {with_three:,.0f} ev/s = {with_three / alone:.2f}x; "
                    f"the forwarders reached the end {lag:.2f} s after the last batch"
                )
            if not args.skip_steady:
                bench_steady(Path(tmp) / "steady", 1000, args.steady_seconds, url)
    finally:
        for proc in (receiver, light):
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
