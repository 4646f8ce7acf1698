"""How many entries hold each value of a filter column: what lets a plan pick its driver.

A filter of two equalities is walked along the index of the smaller one, probing the other
(:mod:`auditlens.mirror.plan`). Which is smaller was learned by counting both index ranges up to
a cap: at 5M events the busiest user (516,000 entries) and another broad condition cost ~50 ms
of counting before the first page of every new filter. The counts of every value of the log
are kept here instead, so a filter without a time range picks its driver by lookup (a time
range still counts inside the range).

Derived, like every column but ``raw``: a wrong count can make a page slower, never show a
wrong row. Kept exact all the same, in the transaction that stores the rows: a new mirror counts
once off its freshly built indexes (:func:`rebuild`), an increment adds the counts of its own
rows (:func:`add_rows_from`). Task ids are not counted (a task has a few dozen entries; its
capped count is immediate).
"""

from __future__ import annotations

import sqlite3

from auditlens.mirror.plan import PROBE_INDEXES

#: Counted fields: each filter column but the task's, counted off the index the planner probes
#: it with, and ``type_verdict``, a type and an outcome together as ``"<type> <verdict>"``.
FIELDS: dict[str, tuple[str, str]] = {
    **{
        column: (column, PROBE_INDEXES[column])
        for column in ("user_id", "agent_id", "ip", "category", "type", "verdict")
    },
    "type_verdict": ("type || ' ' || verdict", "ix_entries_type_verdict_ts"),
}


def _selects(where: str, indexed: bool) -> list[str]:
    out = []
    for field, (expr, index) in FIELDS.items():
        # The new rows of an increment are an ``idx`` range of the table: NOT INDEXED keeps
        # SQLite from grouping along the column's index instead (a scan of the whole index:
        # 1,000 new entries of a 200k mirror took 38 ms more, not 1).
        source = f"entries INDEXED BY {index}" if indexed else "entries NOT INDEXED"
        out.append(
            f"SELECT '{field}', {expr}, COUNT(*) FROM {source} "
            f"WHERE {expr} IS NOT NULL{where} GROUP BY {expr}"
        )
    return out


def rebuild(conn: sqlite3.Connection) -> None:
    """Count every value of the mirror again (off its indexes: a scan of each, no row read)."""
    conn.execute("DELETE FROM value_counts")
    for select in _selects("", indexed=True):
        conn.execute(f"INSERT INTO value_counts(field, value, n) {select}")


def increment_selects() -> list[str]:
    """The count of each field's values among the entries from ``idx >= ?`` on."""
    return _selects(" AND idx >= ?", indexed=False)


def add_rows_from(conn: sqlite3.Connection, first_idx: int) -> None:
    """Add the counts of the entries from ``first_idx`` on (the rows a batch just stored)."""
    for select in increment_selects():
        conn.execute(
            f"INSERT INTO value_counts(field, value, n) {select} "
            "ON CONFLICT(field, value) DO UPDATE SET n = n + excluded.n",
            (first_idx,),
        )


def load(conn: sqlite3.Connection) -> dict[tuple[str, str], int]:
    """Every count, by ``(field, value)``."""
    return {(f, v): int(n) for f, v, n in conn.execute("SELECT field, value, n FROM value_counts")}
