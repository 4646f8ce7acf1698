"""A flood of failed logins does not starve reads or exhaust memory (real server process).

200 concurrent clients, each from its own loopback address, send 3 logins each with random
unknown emails (600 argon2id checks if nothing bounded them, ~64 MiB each). Meanwhile an admin
reads the audit log. Bounds from the hardening review: read p99 <= 300 ms and server RSS
growth <= 300 MB.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.server.serve_process import serve

CLIENTS = 200
ROUNDS = 3
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_login_flood_keeps_reads_fast_and_memory_bounded(tmp_path: Path) -> None:
    with (
        serve(tmp_path, events=2000) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        headers = {"Authorization": f"Bearer {server.admin_token(http)}"}
        for _ in range(20):  # warm up the read path and the dummy hash of unknown emails
            assert http.get("/v1/audit-logs", params={"limit": 100}, headers=headers).is_success
        http.post("/v1/auth/login", json={"email": "warm@up.test", "password": "x" * 8})
        baseline = server.rss_kib()
        peak = [baseline]
        done = threading.Event()

        def sample_rss() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], server.rss_kib())
                time.sleep(0.02)

        sampler = threading.Thread(target=sample_rss)
        sampler.start()
        flood = subprocess.Popen(
            [sys.executable, "-m", "tests.server.login_flood", server.url, str(CLIENTS),
             str(ROUNDS)],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        latencies: list[float] = []
        try:
            while flood.poll() is None:
                start = time.perf_counter()
                r = http.get("/v1/audit-logs", params={"limit": 100}, headers=headers)
                latencies.append(time.perf_counter() - start)
                assert r.status_code == 200, r.text
                start = time.perf_counter()
                assert http.get("/v1/health").status_code == 200
                latencies.append(time.perf_counter() - start)
            out, _ = flood.communicate(timeout=120)
        finally:
            done.set()
            sampler.join()
            if flood.poll() is None:
                flood.kill()
                flood.wait()
        statuses = orjson.loads(out)
        latencies.sort()
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
        growth_mb = (peak[0] - baseline) * 1024 / 1e6
        print(
            f"\nflood {CLIENTS}x{ROUNDS}: {statuses}; {len(latencies)} reads, "
            f"median {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"max {latencies[-1] * 1000:.1f} ms; RSS {baseline / 1024:.0f} MiB -> "
            f"{peak[0] / 1024:.0f} MiB (+{growth_mb:.0f} MB)"
        )
        assert sum(statuses.values()) == CLIENTS * ROUNDS
        assert set(statuses) <= {"401", "429", "503"}, statuses
        assert len(latencies) >= 20
        assert p99 <= 0.300
        assert growth_mb <= 300
