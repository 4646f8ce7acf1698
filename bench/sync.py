"""Benchmark: sync + verify throughput from a loopback audit server (bench/sync.py).

Workload (fixed, printed): a demo server seeded with N events (default 200,000; --events 1000000
for the issue's figure) runs in a SEPARATE process (as a real deployment would; an in-process
server shares the GIL with the client and halves the rate), then:

1. initial sync of all N events into an empty mirror (bulk path: indexes built after load);
2. an increment of 1,000 events ingested through the API, then synced (indexes maintained);
3. the start-up re-check of the whole mirror.

Aims: initial sync >= 30,000 events/s, increment of 1,000 < 1 s.
Run: ``.venv/bin/python bench/sync.py [--events N]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER_SCRIPT = r"""
import json, sys, time
from pathlib import Path
from auditlens.server.embedded import start_demo_server
srv = start_demo_server(Path(sys.argv[1]), events=int(sys.argv[2]))
print(json.dumps({"url": srv.url, "email": srv.admin_email, "password": srv.admin_password,
                  "ingest_key": srv.ingest_key}), flush=True)
sys.stdin.read()
srv.stop()
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    args = parser.parse_args()

    from auditlens.client.api import AuditApiClient
    from auditlens.client.sync import SyncEngine
    from auditlens.client.trust import Pin
    from auditlens.mirror.recheck import recheck_mirror

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"workload: demo server with {args.events:,} events in a separate process")
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", SERVER_SCRIPT, str(work / "server"), str(args.events)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stdout is not None
            info = json.loads(proc.stdout.readline())
            print(f"server seeded and started in {time.perf_counter() - t0:.1f} s at {info['url']}")
            client = AuditApiClient(info["url"])
            session = client.login(info["email"], info["password"])
            org = session.organization
            pin = Pin(client.base_url, org.id, org.origin, org.vkey)
            mirror = work / "mirror.sqlite"
            engine = SyncEngine(client, mirror, pin)

            result = engine.run()
            print(
                f"initial sync: {result.new_entries:,} events in {result.seconds:.2f} s = "
                f"{result.events_per_second:,.0f} events/s (aim >= 30,000)"
            )

            with AuditApiClient(info["url"], info["ingest_key"]) as ingest:
                for start in range(0, 1000, 500):
                    ingest.ingest([_event(start + i) for i in range(500)])
            result = engine.run()
            print(
                f"increment: {result.new_entries:,} events in {result.seconds * 1000:.0f} ms "
                f"(aim < 1 s)"
            )

            t = time.perf_counter()
            check = recheck_mirror(mirror, org.vkey, org.origin)
            took = time.perf_counter() - t
            print(
                f"re-check: {check.checked:,} entries in {took:.2f} s = "
                f"{check.checked / took:,.0f} entries/s, ok={check.ok}"
            )
            print(f"mirror size: {mirror.stat().st_size / 1e6:.0f} MB")
            client.close()
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=60)
    return 0


def _event(n: int) -> dict[str, object]:
    return {
        "type": "agent.action",
        "user_id": None,
        "task_id": f"bench-task-{n % 17}",
        "agent_id": f"bench-agent-{n % 3}",
        "event": {
            "outcome": "success",
            "tool": "browser.navigate",
            "url": f"https://example.com/bench/{n}",
            "params": {"n": n},
        },
    }


if __name__ == "__main__":
    sys.exit(main())
