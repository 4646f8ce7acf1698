"""Query-layer benchmark of the viewer's prefix, IP and Denied filters, and of the mirror upgrade.

Workload (printed): the mirror bench/viewer.py builds (N demo events, default 1,000,000, cached
in bench/out/). For each filter below, the first page of 200 rows in every sort column and both
directions, each in a fresh reader (cold SQLite cache, as after launch) and then again (warm):
median and worst, per filter. The filters are what a person types: the start of an email
("ele"), of a task id (short and long), of an agent id, an exact IP and a subnet prefix, the
Denied outcome, and combinations with a type and a time range.

``--upgrade`` also times the in-place upgrade of a schema-1 copy of the mirror (the derived
columns dropped again) to the current schema: the one-time cost an existing user pays.

Run: ``nice -n 10 .venv/bin/python bench/viewer_filters.py [--events N] [--upgrade]``
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
sys.path.insert(0, str(ROOT))

from tests.ui.mirror_factory import NOW_MS, build_demo_mirror  # noqa: E402

from auditlens.mirror.filter import SORT_COLUMNS, EventFilter  # noqa: E402
from auditlens.mirror.reader import MirrorReader  # noqa: E402


def filters(path: Path) -> dict[str, EventFilter]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)

    def one(sql: str) -> str:
        return str(conn.execute(sql).fetchone()[0])

    email = one("SELECT email FROM users ORDER BY email LIMIT 1 OFFSET 3")
    middle = "idx >= (SELECT max(idx) / 2 FROM entries)"
    task = one(f"SELECT task_id FROM entries WHERE task_id IS NOT NULL AND {middle} LIMIT 1")
    agent = one(f"SELECT agent_id FROM entries WHERE agent_id IS NOT NULL AND {middle} LIMIT 1")
    ip = one(f"SELECT ip FROM entries WHERE ip IS NOT NULL AND {middle} LIMIT 1")
    conn.close()
    day = 86_400_000
    return {
        "user starts with 3 letters": EventFilter(user_email=email[:3] + "*"),
        "task id prefix (long)": EventFilter(task_id=task[:-4] + "*"),
        "task id prefix (short, ~1/32)": EventFilter(task_id=task[:10] + "*"),
        "agent id prefix": EventFilter(agent_id=agent[:8] + "*"),
        "ip exact": EventFilter(ip=ip),
        "ip prefix": EventFilter(ip=ip.rsplit(".", 1)[0] + ".*" if "." in ip else ip[:6] + "*"),
        "outcome=denied": EventFilter(outcome="denied"),
        "denied + auth": EventFilter(outcome="denied", types=frozenset({"auth"})),
        "denied + last 7 days": EventFilter(outcome="denied", since_ms=NOW_MS - 7 * day),
        "user prefix + failure": EventFilter(user_email=email[:3] + "*", outcome="failure"),
        "ip prefix + agent": EventFilter(ip=ip[:4] + "*", types=frozenset({"agent"})),
    }


def first_pages(path: Path) -> None:
    named = filters(path)
    print(f"first page of 200 rows, {len(SORT_COLUMNS)} sorts x 2 directions, fresh reader each")
    worst_all: list[float] = []
    for name, f in named.items():
        cold: list[float] = []
        warm: list[float] = []
        for sort in SORT_COLUMNS:
            for desc in (False, True):
                reader = MirrorReader(path)
                try:
                    t = time.perf_counter()
                    reader.page(f, sort, desc, None, 200)
                    cold.append((time.perf_counter() - t) * 1000)
                    t = time.perf_counter()
                    reader.page(f, sort, desc, None, 200)
                    warm.append((time.perf_counter() - t) * 1000)
                    count = reader.count(f) if sort == "ts" and desc else None
                finally:
                    reader.close()
                if count is not None:
                    matched = count
        worst_all.extend(warm)
        print(
            f"  {name:32s} {matched:>9,} rows  cold median {statistics.median(cold):6.1f} "
            f"worst {max(cold):6.1f} ms | warm median {statistics.median(warm):6.1f} "
            f"worst {max(warm):6.1f} ms"
        )
    print(f"  warm worst over all: {max(worst_all):.1f} ms")


def upgrade(path: Path) -> None:
    old = OUT / "upgrade-schema1.sqlite"
    shutil.copyfile(path, old)
    conn = sqlite3.connect(old, isolation_level=None)
    for name in ("ix_entries_verdict_ts", "ix_entries_ip_ts"):
        conn.execute(f"DROP INDEX IF EXISTS {name}")
    for column in ("verdict", "ip", "user_agent"):
        conn.execute(f"ALTER TABLE entries DROP COLUMN {column}")
    conn.execute("CREATE INDEX ix_entries_outcome_ts ON entries(outcome, ts, idx)")
    conn.execute("PRAGMA user_version=1")
    conn.execute("VACUUM")
    conn.close()
    t = time.perf_counter()
    MirrorReader(old).close()  # opening it upgrades it
    print(f"upgrade of a schema-1 mirror in place: {time.perf_counter() - t:.1f} s")
    old.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--upgrade", action="store_true")
    args = parser.parse_args()
    path = OUT / f"viewer-{args.events}.sqlite"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        build_demo_mirror(path, args.events)
    print(f"mirror: {path.name} ({path.stat().st_size / 1e6:,.0f} MB)")
    first_pages(path)
    if args.upgrade:
        upgrade(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
