"""Benchmark: verified exports of a 1,000,000-event mirror, and their offline verification.

Fixed workload (printed): a mirror of N realistic events (~330-byte canonical JSON each, every
category) built with the mirror's own writer, with the stored roots of its 256-entry tiles as a
sync writes them; then, each in a FRESH process so peak RSS is the step's own:

1. export all events to CSV with evidence (sidecar),   2. ``auditlens verify`` of it,
3. export all events to JSON with evidence,             4. ``auditlens verify`` of it,
5. export a filtered subset (agent events, ~29%) to JSON, 6. verify it,
7. export one task's events (a ``task_id`` filter, a handful of events mid-log) to JSON,
   re-verifying only the tiles holding them (the default), then 8. the same with the full
   re-hash of every entry (``verify="full"``, what every export did before),
9. export 10 selected rows spread over the whole log (10 tiles) to JSON, tiles then 10. full,
11. verify the task export.

``selected_s`` in the details is the time to open the snapshot and collect the selected indexes
(what the export dialog waits for before it shows the count); ``cpu_s`` is the step's CPU time
(user + system, interpreter start-up included), which other load on a shared machine disturbs
far less than the wall-clock seconds. The last lines compare CSV with JSON.

Aims: <= 20 s per 1M-event export, <= 30 s per verify, peak RSS <= 300 MB.
Run: ``.venv/bin/python bench/export.py [--events N] [--only STEP ...] [--profile]``
(``--help`` for the options; the mirror is cached in ``$TMPDIR/auditlens-bench-export-N.sqlite``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


TILE_HEIGHT = 8  # tile roots are the level-8 nodes (256 entries)
SPREAD_ROWS = 10


def task_of(n: int) -> str:
    """A task in the middle of the log (its events sit among entries ``n/2 .. n/2 + 9``)."""
    return f"tsk_{n // 20}"


def build_mirror(path: Path, n: int) -> dict[str, str]:
    import orjson
    from tests.export.logs import make_event

    from auditlens.core import merkle
    from auditlens.core.canonical import canonicalize_event
    from auditlens.core.event_ids import EventIdGenerator
    from auditlens.core.note import Checkpoint, generate_keys, sign_checkpoint
    from auditlens.mirror.writer import MirrorWriter, UserRow, extract_row

    rng = random.Random(7)
    ids = EventIdGenerator(random.Random(7))
    skey, vkey = generate_keys("auditlens.bench")
    origin = "auditlens.bench/acme"
    crange = merkle.CompactRange()
    with MirrorWriter(path) as writer:
        batch = writer.begin(n, bulk=True)
        for start in range(0, n, 10_000):
            rows = []
            leaves = []
            for i in range(start, min(n, start + 10_000)):
                event = make_event(i, rng, ids)
                raw = canonicalize_event(event)
                leaves.append(merkle.leaf_hash(raw))
                rows.append(extract_row(i, raw, orjson.loads(raw)))
            done = crange.extend(leaves)
            batch.add(rows)
            batch.add_tile_hashes([(n, h) for level, n, h in done if level == TILE_HEIGHT])
        root = crange.root()
        note = sign_checkpoint(Checkpoint(origin, n, root), skey)
        batch.commit(
            checkpoint_note=note,
            checkpoint_size=n,
            checkpoint_root=root,
            frontier=crange.hashes,
            users=[
                UserRow(f"usr_{k}", f"user{k}@acme.example", f"U{k}", "member") for k in range(5)
            ],
            meta={"origin": origin, "vkey": vkey},
        )
    return {"vkey": vkey}


def ensure_tile_hashes(path: Path) -> int:
    """Add the tile roots to a cached mirror built before this bench stored them.

    A sync stores them as it verifies; an older cached bench mirror lacks them, and an export
    would then re-hash every entry. Returns how many were added (0 when already complete).
    """
    import sqlite3
    from hashlib import sha256

    from auditlens.core import merkle

    conn = sqlite3.connect(path)
    try:
        size = int(conn.execute("SELECT MAX(size) FROM checkpoints").fetchone()[0])
        have = int(conn.execute("SELECT COUNT(*) FROM tile_hashes").fetchone()[0])
        if have >= size // 256:
            return 0
        items = []
        cursor = conn.execute(
            "SELECT CAST(raw AS BLOB) FROM entries WHERE idx < ? ORDER BY idx", (size // 256 * 256,)
        )
        n = 0
        while rows := cursor.fetchmany(256):
            leaves = [sha256(b"\x00" + bytes(r[0])).digest() for r in rows]
            items.append((n, merkle.root(leaves)))
            n += 1
        with conn:
            conn.executemany("INSERT OR REPLACE INTO tile_hashes(n, hash) VALUES (?, ?)", items)
        return len(items)
    finally:
        conn.close()


def _step(argv: list[str]) -> dict[str, float]:
    """Run one step in a fresh interpreter; return its seconds and peak RSS (MB)."""
    result = subprocess.run(
        [sys.executable, __file__, *argv], capture_output=True, text=True, check=False
    )
    if result.returncode not in (0,):
        raise SystemExit(
            f"step {argv} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    line = result.stdout.strip().splitlines()[-1]
    return json.loads(line)


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM (ru_maxrss would include the parent's, kept over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _selection(spec: str) -> object:
    """``all``, ``agent`` (category), ``task:<id>`` or ``rows:<i>,<j>,...``."""
    from auditlens.mirror.filter import EventFilter

    if spec == "all":
        return None
    if spec == "agent":
        return EventFilter(types=frozenset({"agent"}))
    if spec.startswith("task:"):
        return EventFilter(task_id=spec[5:])
    if spec.startswith("rows:"):
        return [int(x) for x in spec[5:].split(",")]
    raise SystemExit(f"unknown selection {spec!r}")


def child(argv: list[str]) -> None:
    """One measured step: ``export MIRROR FORMAT OUT SELECTION MODE`` or ``verify FILE VKEY``."""
    profile = "--profile" in argv
    argv = [a for a in argv if a != "--profile"]
    started = time.perf_counter()
    info: dict[str, object] = {}

    def work() -> None:
        if argv[0] == "export":
            from auditlens.export.writer import ExportOptions, export
            from auditlens.mirror.snapshot import MirrorSnapshot

            _, mirror, fmt, out, selection, mode = argv
            with MirrorSnapshot(mirror, _selection(selection)) as snap:  # type: ignore[arg-type]
                info["selected_s"] = round(time.perf_counter() - started, 2)
                options = ExportOptions(fmt, Path(out), {}, verify=mode)  # type: ignore[arg-type]
                result = export(snap, options)
            info["count"] = result.count
            info["bytes"] = result.bytes
            info["rehashed"] = result.rehashed
            info["stored_tiles"] = result.stored_tiles
            side = result.evidence_path
            info["evidence_bytes"] = side.stat().st_size if side else None
        else:
            from auditlens.export.verify import verify_file

            report = verify_file(argv[1], [argv[2]]).report
            info["status"] = report.status
            info["count"] = report.events

    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(work)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(18)
    else:
        work()
    info["seconds"] = round(time.perf_counter() - started, 2)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    info["cpu_s"] = round(
        usage.ru_utime + usage.ru_stime, 2
    )  # steadier than wall time on a busy machine
    info["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(info))


def steps_for(n: int, mirror: Path, out: Path, vkey: str) -> list[tuple[str, str, list[str]]]:
    """``(group, name, child argv)`` of every step, in the order they run."""
    spread = ",".join(str((i * (n // SPREAD_ROWS) + 17) % n) for i in range(SPREAD_ROWS))
    task = f"task:{task_of(n)}"

    def exp(fmt: str, name: str, selection: str, mode: str = "tiles") -> list[str]:
        return ["export", str(mirror), fmt, str(out / name), selection, mode]

    def ver(name: str) -> list[str]:
        return ["verify", str(out / name), vkey]

    return [
        ("csv", "export CSV (all)", exp("csv", "all.csv", "all")),
        ("csv", "verify CSV", ver("all.csv")),
        ("json", "export JSON (all)", exp("json", "all.json", "all")),
        ("json", "verify JSON", ver("all.json")),
        ("agent", "export JSON (agent)", exp("json", "agent.json", "agent")),
        ("agent", "verify JSON (agent)", ver("agent.json")),
        ("task", "export JSON (task)", exp("json", "task.json", task)),
        ("task", "  same, full re-hash", exp("json", "task-full.json", task, "full")),
        ("rows", "export JSON (10 rows)", exp("json", "rows.json", f"rows:{spread}")),
        ("rows", "  same, full re-hash", exp("json", "rows-full.json", f"rows:{spread}", "full")),
        ("task", "verify JSON (task)", ver("task.json")),
    ]


GROUPS = ("csv", "json", "agent", "task", "rows")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line: ``--help`` describes the workload and runs nothing."""
    parser = argparse.ArgumentParser(
        prog="bench/export.py",
        description=(
            "Benchmark of verified exports and offline verification. Builds (or reuses, cached "
            "in $TMPDIR/auditlens-bench-export-N.sqlite) a mirror of N realistic events with "
            "its stored tile roots, then runs each step in a fresh process and prints seconds "
            "and peak RSS: export all events to CSV and to JSON with evidence and verify each; "
            "export the agent category (~29%%) to JSON and verify it; export one task's events "
            f"(a task_id filter, mid-log) and {SPREAD_ROWS} rows spread over the log to JSON, "
            "each re-verifying only the tiles holding them and again with the full re-hash of "
            "every entry; verify the task export."
        ).replace("%%", "%"),
        epilog="Aims: <= 20 s per 1M-event export, <= 30 s per verify, peak RSS <= 300 MB.",
    )
    parser.add_argument("size", nargs="?", type=int, help="same as --events (kept for old scripts)")
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events in the mirror (default 1,000,000)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=GROUPS,
        help="run only these step groups (default: all): csv, json and agent are the "
        "whole-log exports and their verifies; task and rows the small exports",
    )
    parser.add_argument(
        "--profile", action="store_true", help="print cProfile's top entries of each step"
    )
    args = parser.parse_args(argv)
    if args.size is not None:
        args.events = args.size
    if args.events < 1:
        parser.error(f"--events must be >= 1, got {args.events}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    n = args.events
    profile = ["--profile"] if args.profile else []
    tmp = Path(tempfile.gettempdir())
    mirror = tmp / f"auditlens-bench-export-{n}.sqlite"
    keyfile = mirror.with_suffix(".vkey")
    print(f"workload: {n:,} events in a mirror at {mirror}")
    if not (mirror.exists() and keyfile.exists()):
        for p in (mirror, keyfile):
            p.unlink(missing_ok=True)
        t = time.perf_counter()
        keys = build_mirror(mirror, n)
        keyfile.write_text(keys["vkey"])
        print(f"built the mirror in {time.perf_counter() - t:.1f} s")
    else:
        t = time.perf_counter()
        added = ensure_tile_hashes(mirror)
        if added:
            took = time.perf_counter() - t
            print(f"added {added:,} tile roots to the cached mirror in {took:.1f} s")
    vkey = keyfile.read_text()
    print(f"mirror size: {mirror.stat().st_size / 1e6:.0f} MB")
    out = tmp / "auditlens-bench-out"
    out.mkdir(exist_ok=True)
    print(f"{'step':<22} {'seconds':>8} {'peak RSS MB':>12}  details")
    took: dict[str, dict[str, float]] = {}
    for group, name, argv_ in steps_for(n, mirror, out, vkey):
        if args.only and group not in args.only:
            continue
        r = _step([*argv_, *profile])
        took[name] = r
        details = {k: v for k, v in r.items() if k not in ("seconds", "peak_rss_mb")}
        print(f"{name:<22} {r['seconds']:>8.1f} {r['peak_rss_mb']:>12.0f}  {details}", flush=True)
    for what in ("export", "verify"):
        csv_, json_ = (
            took.get(f"{what} CSV (all)", took.get(f"{what} CSV")),
            took.get(f"{what} JSON (all)", took.get(f"{what} JSON")),
        )
        if csv_ and json_:
            print(
                f"CSV / JSON {what}: {csv_['seconds'] / json_['seconds']:.2f}x wall, "
                f"{csv_['cpu_s'] / json_['cpu_s']:.2f}x CPU"
            )
    for p in sorted(out.iterdir()):
        print(f"  {p.name}: {p.stat().st_size / 1e6:.1f} MB")
        p.unlink()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("export", "verify"):
        child(sys.argv[1:])
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
