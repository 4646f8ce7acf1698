"""Histogram bucket counts at 1M events: each filter's counts per bucket, warm, median of 5.

Workload: the cached viewer mirror of ``bench/viewer.py`` (1,000,000 demo events; pass another
path as the first argument), the whole span in 120 buckets (what the strip shows for "All
time"), then a one-day span in 96 buckets, for filters of each kind the sidebar and the query
bar build: fields, prefixes, an exclusion, and free-text searches (whose hits the full-text
index gives; their rows are read to group them). Filters with exclusions are timed twice in
the same run: subtracted (what the viewer does) and probed row by row (``MAX_SUBTRACTED = 0``),
and the ratio printed.
Prints milliseconds; asserts nothing.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from auditlens.mirror import exclusions
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import Buckets

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "bench" / "out" / "viewer-1000000.sqlite"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    reader = MirrorReader(path)
    first, last = reader.span(EventFilter()) or (0, 1)
    some = reader.page(EventFilter(), "ts", True, None, 5000)[-1]
    email = reader.email_of(some.user_id)
    busiest = max(
        reader.known_values("user_id"), key=lambda u: reader.count(EventFilter(user_id=u))
    )
    filters = {
        "all": EventFilter(),
        "agent category": EventFilter(types=frozenset({"agent"})),
        "failures": EventFilter(outcome="failure"),
        "denied": EventFilter(outcome="denied"),
        "one user": EventFilter(user_email=email),
        "one type + failure": EventFilter(types=frozenset({"agent.action"}), outcome="failure"),
        "auth + approval": EventFilter(types=frozenset({"auth", "approval"})),
        "one IP": EventFilter(ip=some.ip),
        "user prefix": EventFilter(user_email=(email or "a")[:2] + "*"),
        "one task": EventFilter(task_id=some.task_id),
        "one agent": EventFilter(agent_id=some.agent_id),
        "all but one user": EventFilter(exclude=frozenset({("user", email or "a")})),
        "all but busiest user": EventFilter(exclude=frozenset({("user", busiest)})),
        "failed, not agent.action": EventFilter(
            outcome="failure", exclude=frozenset({("type", "agent.action")})
        ),
        "not 2 users, not auth": EventFilter(
            exclude=frozenset({("user", busiest), ("user", email or "a"), ("type", "auth")})
        ),
        "search: a rare word": EventFilter(text='"ERR_NAME_NOT_RESOLVED"'),
        "search: a common word": EventFilter(text="browser"),
        "search + failures": EventFilter(text="browser", outcome="failure"),
    }
    spans = {
        "whole span / 120": (first, (last - first) // 120 + 1, 120),
        "one day / 96": (last - 86_400_000, 900_000, 96),
    }
    print(f"mirror: {path} ({reader.status().entries:,} events)")
    for span_name, (start, width, n) in spans.items():
        for name, f in filters.items():
            times, buckets = timed(reader, f, start, width, n)
            warm = statistics.median(times[1:])
            line = (
                f"{span_name:18} {name:25} cold {times[0]:7.1f} ms  warm {warm:7.1f} ms  "
                f"({sum(buckets.total):,} events)"
            )
            if f.exclude:
                saved = exclusions.MAX_SUBTRACTED
                exclusions.MAX_SUBTRACTED = 0
                probed, same = timed(reader, f, start, width, n)
                exclusions.MAX_SUBTRACTED = saved
                assert same == buckets, "the two ways must count the same"
                line += f"  probed {statistics.median(probed[1:]):7.1f} ms"
                line += f" ({statistics.median(probed[1:]) / warm:.1f}x)"
            print(line)
    reader.close()


def timed(
    reader: MirrorReader, f: EventFilter, start: int, width: int, n: int
) -> tuple[list[float], Buckets]:
    """Six runs' milliseconds (the first cold) and the buckets."""
    times = []
    for _ in range(6):
        t0 = time.perf_counter()
        buckets = reader.bucket_counts(f, start, width, n)
        times.append((time.perf_counter() - t0) * 1000)
    return times, buckets


if __name__ == "__main__":
    main()
