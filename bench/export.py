"""Benchmark: verified exports of a 1,000,000-event mirror, and their offline verification.

Fixed workload (printed): a mirror of N realistic events (~330-byte canonical JSON each, every
category) built with the mirror's own writer; then, each in a FRESH process so peak RSS is the
step's own:

1. export all events to CSV with evidence (sidecar),   2. ``auditlens verify`` of it,
3. export all events to JSON with evidence,             4. ``auditlens verify`` of it,
5. export a filtered subset (agent events, ~29%) to JSON, 6. verify it.

Aims (issue 5): <= 20 s per 1M-event export, <= 30 s per verify, peak RSS <= 300 MB.
Run: ``.venv/bin/python bench/export.py [N]`` (default 1,000,000; the mirror is cached in
``$TMPDIR/auditlens-bench-export-N.sqlite``). Add ``--profile`` to print where the time goes.
"""

from __future__ import annotations

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


def build_mirror(path: Path, n: int) -> dict[str, str]:
    import orjson
    from tests.export.logs import make_event

    from auditlens.core import merkle
    from auditlens.core.canonical import canonicalize_event
    from auditlens.core.events import EventIdGenerator
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
            crange.extend(leaves)
            batch.add(rows)
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


def child(argv: list[str]) -> None:
    """One measured step: ``export MIRROR FORMAT OUT [agent]`` or ``verify FILE VKEY``."""
    profile = "--profile" in argv
    argv = [a for a in argv if a != "--profile"]
    started = time.perf_counter()
    info: dict[str, object] = {}

    def work() -> None:
        if argv[0] == "export":
            from auditlens.export.mirror_source import MirrorSnapshot
            from auditlens.export.writer import ExportOptions, export
            from auditlens.mirror.query import EventFilter

            f = EventFilter(types=frozenset({"agent"})) if len(argv) > 4 else None
            with MirrorSnapshot(argv[1], f) as snap:
                info["selected_s"] = round(time.perf_counter() - started, 2)
                result = export(snap, ExportOptions(argv[2], Path(argv[3]), {}))  # type: ignore[arg-type]
            info["count"] = result.count
            info["bytes"] = result.bytes
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
    info["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(info))


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    profile = ["--profile"] if "--profile" in sys.argv else []
    n = int(args[0]) if args else 1_000_000
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
    vkey = keyfile.read_text()
    print(f"mirror size: {mirror.stat().st_size / 1e6:.0f} MB")
    out = tmp / "auditlens-bench-out"
    out.mkdir(exist_ok=True)
    steps = [
        ("export CSV (all)", ["export", str(mirror), "csv", str(out / "all.csv")]),
        ("verify CSV", ["verify", str(out / "all.csv"), vkey]),
        ("export JSON (all)", ["export", str(mirror), "json", str(out / "all.json")]),
        ("verify JSON", ["verify", str(out / "all.json"), vkey]),
        ("export JSON (agent)", ["export", str(mirror), "json", str(out / "agent.json"), "agent"]),
        ("verify JSON (agent)", ["verify", str(out / "agent.json"), vkey]),
    ]
    print(f"{'step':<22} {'seconds':>8} {'peak RSS MB':>12}  details")
    for name, argv in steps:
        r = _step([*argv, *profile] if profile else argv)
        details = {k: v for k, v in r.items() if k not in ("seconds", "peak_rss_mb")}
        print(f"{name:<22} {r['seconds']:>8.1f} {r['peak_rss_mb']:>12.0f}  {details}")
    for p in sorted(out.iterdir()):
        print(f"  {p.name}: {p.stat().st_size / 1e6:.1f} MB")
        p.unlink()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in ("export", "verify"):
        child(sys.argv[1:])
    else:
        os.environ.setdefault("PYTHONHASHSEED", "0")
        main()
