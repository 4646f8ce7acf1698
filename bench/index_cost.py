"""Benchmark: what one secondary index of ``entries`` costs the sync (build time, size, inserts).

On a copy of a viewer mirror (``bench/viewer.py`` builds and caches them in ``bench/out/``),
in one run: every secondary index is dropped and built again one by one, timed (a new mirror's
last step builds them all after the load); the file size with and without ``--index``; then
increments of 1,000 entries (copies of the last rows under new indexes, one transaction each,
as a sync's increment commits) with every index maintained, with and without ``--index``.

Run: ``.venv/bin/python bench/index_cost.py --events 1000000 [--index NAME]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from auditlens.mirror import schema  # noqa: E402

OUT = ROOT / "bench" / "out"
BATCHES = 10
BATCH = 1_000


def index_mb(conn: sqlite3.Connection) -> dict[str, float]:
    """Each index's size (the ``dbstat`` table), and the whole file's as ``""``."""
    sizes = {
        str(name): float(size) / 1e6
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
    }
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    sizes[""] = float(pages * conn.execute("PRAGMA page_size").fetchone()[0] / 1e6)
    return sizes


def increments(
    conn: sqlite3.Connection, source: int, start: int, later_ms: int
) -> tuple[float, float]:
    """Seconds (wall, CPU) to insert BATCHES transactions of BATCH entries at ``start``: copies
    of the entries from ``source`` on, ``later_ms`` later (appended to every time order)."""
    columns = [r[1] for r in conn.execute("PRAGMA table_info(entries)")]
    rest = ", ".join(c for c in columns if c not in ("idx", "id", "ts"))
    c, t = time.process_time(), time.perf_counter()
    for b in range(BATCHES):
        low = source + b * BATCH
        conn.execute("BEGIN")
        conn.execute(
            f"INSERT INTO entries(idx, id, ts, {rest}) SELECT idx + ?, id || '+' || ?, ts + ?, "
            f"{rest} FROM entries WHERE idx >= ? AND idx < ?",
            (start - source, start, later_ms, low, low + BATCH),
        )
        conn.execute("COMMIT")
    return time.perf_counter() - t, time.process_time() - c


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--index", default="ix_entries_type_verdict_ts")
    args = parser.parse_args()
    source = OUT / f"viewer-{args.events}.sqlite"
    work = OUT / f"index-cost-{args.events}.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(source, work)
    print(f"{source.name} copied; load {os.getloadavg()[0]:.2f}")
    conn = sqlite3.connect(work, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-65536")  # as the writer (auditlens.mirror.store)
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA threads=2")
    ddl = dict(zip(schema.index_names(), schema.index_ddl(), strict=True))
    for name in (*ddl, *schema.RETIRED_INDEXES):  # an older mirror's too
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    times: dict[str, float] = {}
    for name, sql in ddl.items():
        c, t = time.process_time(), time.perf_counter()
        conn.execute(sql)
        times[name] = time.perf_counter() - t
        print(f"  build {name:28s} {times[name]:6.1f} s wall, {time.process_time() - c:5.1f} s CPU")
    total = sum(times.values())
    sizes = index_mb(conn)
    indexes = sum(size for name, size in sizes.items() if name in ddl)
    entries = sizes["entries"]
    print(
        f"  all {len(ddl)} indexes {total:.1f} s, {args.index} {times[args.index]:.1f} s "
        f"({times[args.index] / total:.0%}); {args.index} {sizes[args.index]:,.0f} MB of "
        f"{indexes:,.0f} MB of indexes, entries {entries:,.0f} MB, file {sizes['']:,.0f} MB "
        f"(+{sizes[args.index] / (sizes[''] - sizes[args.index]):.1%} for it)"
    )
    conn.execute(f"DROP INDEX {args.index}")
    end = int(conn.execute("SELECT max(idx) FROM entries").fetchone()[0]) + 1
    copied = end - BATCHES * BATCH
    runs: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    for round_ in range(3):  # alternate, so the load of the machine falls on both
        for indexed in (False, True):
            if indexed:
                conn.execute(ddl[args.index])
            n = round_ * 2 + indexed + 1
            runs[indexed].append(increments(conn, copied, end * n, n * 86_400_000))
            if indexed:
                conn.execute(f"DROP INDEX {args.index}")
    for what, i in (("wall", 0), ("CPU", 1)):
        best = {k: min(r[i] for r in v) * 1000 / BATCHES for k, v in runs.items()}
        print(
            f"  increment of {BATCH:,} entries, every index maintained, best of 3 ({what}): "
            f"{best[False]:.1f} ms without, {best[True]:.1f} ms with {args.index} "
            f"(+{best[True] / best[False] - 1:.0%}); load {os.getloadavg()[0]:.2f}"
        )
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{work}{suffix}").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
