"""The histogram's counts: how many events of a filter fall in each time bucket, from indexes.

For the strip above the table (:mod:`auditlens.ui.histogram`), through
:meth:`auditlens.mirror.reader.MirrorReader.bucket_counts`, which lends a connection. Each
bucket is one ``COUNT`` over the driving ``(column, ts, idx)`` range (the other conditions
probed, as for a page), for all verdicts, the failures and the denials. Not one ``GROUP BY (ts -
start) / width``: its sorter step per row costs ~6x the walk (1M rows: 200 against 30 ms),
except for at most :data:`GROUPED_BUCKETS` rows. Exclusions are subtracted
(:mod:`auditlens.mirror.exclusions`); a free-text search or a payload field counts its hits
(:mod:`auditlens.mirror.text_buckets`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import replace
from functools import partial

from auditlens.mirror import exclusions
from auditlens.mirror.exclusions import Catalog, subtracted
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.plan import Plan, Resolved, driver_union
from auditlens.mirror.records import Buckets
from auditlens.mirror.resolve import Resolver
from auditlens.mirror.text_buckets import plain_search_buckets, planned_text_buckets

__all__ = ["GROUPED_BUCKETS", "catalog_for", "index_buckets", "text_buckets"]

#: A histogram of at most this many matching rows is one ``GROUP BY`` query, a larger one a
#: ``COUNT`` per bucket.
GROUPED_BUCKETS = 50_000


def catalog_for(resolver: Resolver, r: Resolved) -> Catalog:
    """Every ``(type, category)`` when an exclusion names types (to subtract it), else ()."""
    named = any(column in ("type", "category") for column, _ in r.excluded)
    return tuple(resolver.types_present()) if named else ()


def index_buckets(  # noqa: PLR0917 (the reader's call, one place)
    conn: sqlite3.Connection,
    resolver: Resolver,
    f: EventFilter,
    start_ms: int,
    width_ms: int,
    n: int,
) -> Buckets:
    """``f``'s events per bucket, with the failures and denials among them (no search)."""
    end_ms = start_ms + width_ms * n
    zeros = (0,) * n
    r = resolver.resolve(f)
    since = start_ms if r.since_ms is None else max(r.since_ms, start_ms)
    until = end_ms if r.until_ms is None else min(r.until_ms, end_ms)
    if r.impossible or since >= until:
        return Buckets(start_ms, width_ms, zeros, zeros, zeros)
    r = replace(r, since_ms=since, until_ms=until)
    catalog = catalog_for(resolver, r)
    series = partial(_series, conn, resolver, start_ms=start_ms, width_ms=width_ms, n=n)

    def counts(res: Resolved) -> tuple[int, ...]:
        return subtracted(res, catalog, series, exclusions.MAX_SUBTRACTED)

    total = counts(r)
    by_verdict: dict[str, tuple[int, ...]] = {}
    for verdict in ("failure", "denied"):
        if r.outcome is not None:
            by_verdict[verdict] = total if r.outcome == verdict else zeros
        else:
            by_verdict[verdict] = counts(replace(r, outcome=verdict))
    return Buckets(start_ms, width_ms, total, by_verdict["failure"], by_verdict["denied"])


def _series(  # noqa: PLR0917 (bound by partial above)
    conn: sqlite3.Connection, resolver: Resolver, r: Resolved, start_ms: int, width_ms: int, n: int
) -> tuple[int, ...]:
    """``r``'s matches per bucket (its time range inside them): all events of a period from
    index positions (:meth:`Resolver.time_bucket_counts`), few matches grouped in one query,
    else one indexed ``COUNT`` per bucket."""
    since, until = r.since_ms, r.until_ms
    assert since is not None and until is not None
    if r.time_only and (got := resolver.time_bucket_counts(since, until, start_ms, width_ms, n)):
        return got
    r = replace(r, prefer=None)
    r = replace(r, prefer=resolver.smallest_driver(r))
    if resolver.capped_count(r, GROUPED_BUCKETS) <= GROUPED_BUCKETS:
        where, params = driver_union(r)
        grouped = [0] * n
        sql = (
            "SELECT (e.ts - ?) / ? AS bucket, COUNT(*) FROM entries AS e "
            f"WHERE {where} GROUP BY bucket"
        )
        for bucket, count in conn.execute(sql, (start_ms, width_ms, *params)):
            if 0 <= bucket < n:
                grouped[bucket] += count
        return tuple(grouped)
    found = []
    for i in range(n):
        low = max(start_ms + i * width_ms, since)
        high = min(start_ms + (i + 1) * width_ms, until)
        if low >= high:
            found.append(0)
            continue
        # Every driver value in one query; the same SQL text for every bucket (cached).
        where, params = driver_union(replace(r, since_ms=low, until_ms=high))
        sql = f"SELECT COUNT(*) FROM entries AS e WHERE {where}"
        found.append(int(conn.execute(sql, params).fetchone()[0]))
    return tuple(found)


def text_buckets(  # noqa: PLR0917 (the reader's call, one place)
    conn: sqlite3.Connection,
    resolver: Resolver,
    plan_of: Callable[[EventFilter], Plan],
    f: EventFilter,
    start_ms: int,
    width_ms: int,
    n: int,
) -> Buckets:
    """A free-text search's hits per bucket (see :mod:`auditlens.mirror.text_buckets`);
    ``plan_of`` gives a filter's plan in time order."""
    end_ms = start_ms + width_ms * n
    since = start_ms if f.since_ms is None else max(f.since_ms, start_ms)
    until = end_ms if f.until_ms is None else min(f.until_ms, end_ms)
    if since >= until:
        return Buckets(start_ms, width_ms, *((0,) * n,) * 3)
    # The strip's span bounds the hits' index range, so a day's search reads a day's hits.
    bounded = replace(f, since_ms=since, until_ms=until)
    if replace(bounded, text=None, since_ms=None, until_ms=None, outcome=None).is_empty():
        plain = plain_search_buckets(
            conn, resolver, bounded, start_ms=start_ms, width_ms=width_ms, n=n
        )
        if plain is not None:
            return plain
    return planned_text_buckets(conn, plan_of(bounded), start_ms, width_ms, n)
