"""Benchmark of the hot paths of auditlens.core: canonical bytes, leaf hashes, Merkle roots.

Workload (fixed and printed): 200,000 realistic audit events of about 550 bytes, built
deterministically here (seeded RNG): ~60% agent.action (browser/file/code/shell tools with
params), ~25% task lifecycle, ~15% auth, each with ids, timestamps and request metadata.

Figures (medians; no assertions on time, this is not part of the test run):
1. ``canonicalize_event`` + ``merkle.leaf_hash`` over all 200,000 events, events/s (5 runs);
2. strict ``canonicalize`` (the reference path) over the first 50,000, events/s (3 runs);
3. ``merkle.root`` over 1,000,000 leaf hashes, seconds (3 runs).

Run: ``.venv/bin/python bench/core.py [--events N] [--strict-events N] [--leaves N]`` (``--help``
lists the options; the defaults are the workload above). Aim on the project's 2-core machine:
>= 250k events/s and a root in <= 1.5 s.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import sys
import time
from collections.abc import Callable

from auditlens.core import merkle
from auditlens.core.canonical import canonicalize, canonicalize_event
from auditlens.core.event_ids import EventIdGenerator
from auditlens.core.timestamps import format_timestamp
from auditlens.core.validation import validate_event

EVENTS = 200_000
STRICT_EVENTS = 50_000
LEAVES = 1_000_000
START_MS = 1_795_651_200_000  # 2026-11-26T00:00:00.000Z

HOSTS = ("docs.python.org", "github.com", "api.stripe.com", "en.wikipedia.org", "example.com")
PATHS = ("/src/app.py", "/src/auditlens/core/events.py", "/tests/test_api.py", "/README.md")
AGENTS = ("research_assistant", "code_reviewer", "data_analyst", "support_triage")
TITLES = (
    "Summarize the Q3 customer feedback survey",
    "Fix flaky integration tests in the payments service",
    "Draft release notes for version 4.2",
    "Research competitor pricing for the enterprise tier",
)
AGENT_UA = "auditlens-agent-runtime/2.4.1 (linux; x86_64; python 3.11.7)"
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"


def _agent_action(rng: random.Random) -> dict[str, object]:
    kind = rng.random()
    if kind < 0.45:
        url = f"https://{rng.choice(HOSTS)}/{rng.randrange(10**6):06d}/reference/page-{rng.randrange(999)}"
        fields: dict[str, object] = {
            "tool": "browser.navigate",
            "url": url,
            "params": {"url": url, "wait_until": "networkidle", "timeout_ms": 30000},
        }
    elif kind < 0.75:
        path = rng.choice(PATHS)
        fields = {
            "tool": rng.choice(("file.write", "file.read")),
            "path": path,
            "params": {"path": path, "bytes": rng.randrange(50, 90_000), "encoding": "utf-8"},
        }
    else:
        fields = {
            "tool": "code.execute",
            "language": "python",
            "params": {"code_sha256": hashlib.sha256(rng.randbytes(8)).hexdigest()[:32],
                       "timeout_s": 60, "sandbox": "gvisor"},
        }  # fmt: skip
    failed = rng.random() < 0.05
    return {
        "outcome": "failure" if failed else "success",
        **fields,
        "duration_ms": rng.randrange(5, 20_000),
        "step": rng.randrange(1, 200),
        "trace_id": rng.randbytes(16).hex(),
        **({"error": "timeout: no response within 30000 ms"} if failed else {}),
        "request": {
            "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.7",
            "user_agent": AGENT_UA,
        },
    }


def _task(rng: random.Random) -> tuple[str, dict[str, object]]:
    action = rng.choice(("created", "started", "completed", "failed", "cancelled"))
    body: dict[str, object] = {
        "outcome": "failure" if action == "failed" else "success",
        "title": rng.choice(TITLES),
        "priority": rng.choice(("low", "normal", "high")),
        "trace_id": rng.randbytes(16).hex(),
        "request": {"ip": f"192.0.2.{rng.randrange(256)}", "user_agent": BROWSER_UA},
    }
    if action in ("completed", "failed", "cancelled"):
        body["duration_ms"] = rng.randrange(1_000, 3_600_000)
    if action == "failed":
        body["error"] = "agent exceeded its step budget (200 steps) while waiting on approval"
    if action == "cancelled":
        body["cancelled_by"] = f"usr_{rng.randrange(16**12):012x}"
    return f"task.{action}", body


def _auth(rng: random.Random) -> tuple[str, dict[str, object]]:
    failed = rng.random() < 0.1
    method = rng.choice(("password", "sso"))
    body: dict[str, object] = {
        "outcome": "failure" if failed else "success",
        "method": method,
        "mfa": rng.choice(("totp", "webauthn", "none")),
        "session_ttl_s": 43_200,
        "session_id": rng.randbytes(16).hex(),
        "request": {"ip": f"198.51.100.{rng.randrange(256)}", "user_agent": BROWSER_UA},
    }
    if method == "sso":
        body["provider"] = rng.choice(("okta", "azure_ad", "google_workspace"))
    if failed:
        body["failure_reason"] = "invalid credentials"
    return rng.choice(("auth.login", "auth.login", "auth.logout")), body


def build_events(count: int, seed: int = 2026) -> list[dict[str, object]]:
    """The workload: deterministic for a given seed, timestamps increasing like a real log."""
    rng = random.Random(seed)
    ids = EventIdGenerator(random.Random(seed))
    events: list[dict[str, object]] = []
    ms = START_MS
    for _ in range(count):
        ms += rng.randrange(0, 40)
        pick = rng.random()
        if pick < 0.6:
            event_type, body = "agent.action", _agent_action(rng)
        elif pick < 0.85:
            event_type, body = _task(rng)
        else:
            event_type, body = _auth(rng)
        events.append(
            {
                "id": ids.new(ms),
                "timestamp": format_timestamp(ms),
                "type": event_type,
                "user_id": f"usr_{rng.randrange(16**12):012x}",
                "task_id": None if event_type.startswith("auth.") else ids.new(ms)[4:].lower(),
                "agent_id": f"agt_{rng.choice(AGENTS)}_{rng.randrange(100):02d}"
                if event_type == "agent.action"
                else None,
                "event": body,
            }
        )
    return events


def median_time(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _positive(text: str) -> int:
    value = int(text.replace("_", ""))
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: ``--help`` describes the workload and changes nothing by itself."""
    parser = argparse.ArgumentParser(
        prog="bench/core.py",
        description=(
            "Benchmark of auditlens.core's hot paths. Builds N realistic audit events "
            "(seeded, ~550-byte canonical JSON: ~60% agent.action, ~25% task, ~15% auth) and "
            "prints: canonicalize_event + leaf_hash events/s (median of 5), strict canonicalize "
            "events/s on the first --strict-events (median of 3), and merkle.root seconds over "
            "--leaves random leaf hashes (median of 3). No assertions: figures only."
        ),
        epilog="Aims on the 2-core reference machine: >= 250k events/s, a 1M-leaf root <= 1.5 s.",
    )
    parser.add_argument(
        "--events",
        type=_positive,
        default=EVENTS,
        help=f"events built, canonicalized and hashed (default {EVENTS:,})",
    )
    parser.add_argument(
        "--strict-events",
        type=_positive,
        default=STRICT_EVENTS,
        help=f"events run through the strict reference canonicalizer (default {STRICT_EVENTS:,})",
    )
    parser.add_argument(
        "--leaves",
        type=_positive,
        default=LEAVES,
        help=f"leaf hashes folded by merkle.root (default {LEAVES:,})",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    n_events, n_strict, n_leaves = args.events, min(args.strict_events, args.events), args.leaves
    print(f"python {sys.version.split()[0]}; building {n_events:,} events (seed 2026)...")
    events = build_events(n_events)
    for event in events[:1000]:
        validate_event(event)
    sizes = [len(canonicalize_event(e)) for e in events]
    mix: dict[str, int] = {}
    for e in events:
        category = str(e["type"]).split(".")[0]
        mix[category] = mix.get(category, 0) + 1
    print(
        f"workload: {n_events:,} events, canonical size mean {statistics.mean(sizes):.0f} B "
        f"(min {min(sizes)}, max {max(sizes)}), mix "
        + ", ".join(f"{k} {v / n_events:.0%}" for k, v in sorted(mix.items()))
    )
    sample = events[:n_strict]
    mismatches = sum(canonicalize(e) != canonicalize_event(e) for e in sample)
    print(f"fast path == strict on the first {n_strict:,}: {mismatches} mismatches")

    leaf_hash = merkle.leaf_hash

    def fast_and_hash() -> list[bytes]:
        return [leaf_hash(canonicalize_event(e)) for e in events]

    seconds = median_time(5, fast_and_hash)
    print(f"canonicalize_event + leaf_hash: {n_events / seconds:,.0f} events/s "
          f"(median of 5, {seconds:.3f} s per {n_events:,})")  # fmt: skip

    seconds = median_time(3, lambda: [canonicalize(e) for e in sample])
    print(f"strict canonicalize (reference): {n_strict / seconds:,.0f} events/s "
          f"(median of 3 over {n_strict:,})")  # fmt: skip

    rng = random.Random(7)
    leaves = [hashlib.sha256(rng.randbytes(16)).digest() for _ in range(n_leaves)]
    seconds = median_time(3, lambda: merkle.root(leaves))
    print(f"merkle.root over {n_leaves:,} leaf hashes: {seconds:.3f} s (median of 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
