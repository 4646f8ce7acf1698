"""Histogram buckets of a free-text search (the strip above the table while a search is on).

A search's hits come from the full-text index (:mod:`auditlens.mirror.search`); like the count,
the buckets count the index's hits, which a page then re-checks against each row's bytes. Two
ways, both from the index first:

- **a plain search with many hits** (words, a time range, an outcome; nothing else; at least
  :data:`PLAIN_MIN_HITS` hits): no table row is read.
  The hits' indexes come from the full-text index alone, the failures and denials among them
  from the covering verdict index, and each index falls in its bucket by the buckets' first
  indexes (a timestamp never decreases with the index). Joining every hit to its row instead
  cost ~0.9 s for a word with 73,000 hits in a 1M mirror: the rows are large and ``verdict``
  sits after the raw bytes.
- **any other search** (fewer hits, or other conditions): the search's own plan (the index
  drives, each hit's row tested against the rest), grouped by bucket and verdict in one query
  per stream.
"""

from __future__ import annotations

import sqlite3
from bisect import bisect_right
from collections.abc import Iterable

from auditlens.mirror import search
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.plan import USER_JOIN, Plan
from auditlens.mirror.records import Buckets
from auditlens.mirror.resolve import Resolver

__all__ = ["PLAIN_MIN_HITS", "plain_search_buckets", "planned_text_buckets"]

PLAIN_MIN_HITS = 5_000
"""Below this many hits a plain search reads its hits' rows (~12 µs each at 1M, measured)
rather than walk the verdict index over the whole span (~60 ms for 61,000 failures)."""


def plain_search_buckets(
    conn: sqlite3.Connection,
    resolver: Resolver,
    f: EventFilter,
    *,
    start_ms: int,
    width_ms: int,
    n: int,
) -> Buckets | None:
    """``f`` (text, a time range inside the buckets, maybe an outcome) per bucket; None when
    it has fewer than :data:`PLAIN_MIN_HITS` hits (then reading their rows costs less)."""
    fts = search.SearchQuery.parse(f.text or "").fts()
    lo, hi = resolver.idx_bounds(f.since_ms, f.until_ms)
    every_hit = [idx for (idx,) in conn.execute(search.HITS, (fts, lo, hi))]
    if len(every_hit) < PLAIN_MIN_HITS:
        return None
    edges = [resolver.idx_bounds(start_ms + i * width_ms, None)[0] for i in range(1, n)]

    def bucketed(indexes: Iterable[int]) -> tuple[int, ...]:
        found = [0] * n
        for idx in indexes:
            found[bisect_right(edges, idx)] += 1
        return tuple(found)

    def of_verdict(verdict: str) -> tuple[int, ...]:
        if f.outcome is not None and f.outcome != verdict:
            return (0,) * n
        sql = "SELECT idx FROM entries WHERE verdict = ? AND ts >= ? AND ts < ? "
        sql += f"AND idx IN ({search.HITS})"
        params = (verdict, f.since_ms, f.until_ms, fts, lo, hi)
        return bucketed(idx for (idx,) in conn.execute(sql, params))

    failures, denied = of_verdict("failure"), of_verdict("denied")
    if f.outcome is None:
        total = bucketed(every_hit)
    elif f.outcome == "success":
        total = of_verdict("success")
    else:
        total = failures if f.outcome == "failure" else denied
    return Buckets(start_ms, width_ms, total, failures, denied)


def planned_text_buckets(
    conn: sqlite3.Connection, plan: Plan, start_ms: int, width_ms: int, n: int
) -> Buckets:
    """The hits of ``plan`` (a search's time-ordered plan) per bucket, by verdict."""
    end_ms = start_ms + width_ms * n
    counts = {verdict: [0] * n for verdict in ("all", "failure", "denied")}
    for segment in plan.segments:
        for s in segment.streams:
            join = USER_JOIN if s.join_users else ""
            sql = (
                f"SELECT (e.ts - ?) / ?, e.verdict, COUNT(*) FROM {s.source}{join} "
                f"WHERE {s.where} AND e.ts >= ? AND e.ts < ? GROUP BY 1, 2"
            )
            params = (start_ms, width_ms, *s.params, start_ms, end_ms)
            for bucket, verdict, count in conn.execute(sql, params):
                counts["all"][bucket] += count
                if verdict in counts:
                    counts[verdict][bucket] += count
    return Buckets(
        start_ms,
        width_ms,
        tuple(counts["all"]),
        tuple(counts["failure"]),
        tuple(counts["denied"]),
    )
