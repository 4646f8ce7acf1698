"""The mirror's tables, as SQLAlchemy Core metadata.

This module is the single source of the schema: the writer creates tables and indexes from the
DDL compiled here, and the read-only query layer selects from these ``Table`` objects. The
columns of ``entries``, ``users``, ``checkpoints``, ``tree_state`` and ``meta`` are the
contract's, plus three derived columns of ``entries`` after ``raw`` (schema 2):

- ``verdict``: :func:`auditlens.core.summaries.verdict_of` (``success``/``failure``/``denied``), so
  the Outcome filter and sort answer "denied" from an index. ``outcome`` keeps the signed value.
- ``ip`` and ``user_agent``: the event's ``request`` metadata, so the table can show where an
  event came from and "filter by this IP" is an index seek.

All three are derived from ``raw`` exactly like the other columns (the writer's ``extract_row``),
so they add no trust: the start-up re-check can derive them again. Two tables are additions the
query layer never needs:

- ``tile_hashes(n, hash)``: the root of every complete 256-entry tile (the level-8 tree node the
  sync computes anyway). The start-up re-check (:mod:`auditlens.mirror.recheck`) detects an
  edited mirror by the signed root alone; these 32 bytes per 256 entries let it also say *which*
  tile was edited without storing a leaf hash per entry (1/256 of the space).
- ``forks(...)``: evidence of a LOG_FORKED finding: the trusted note and the conflicting signed
  note, both kept as evidence; nothing else is written then.

Schema 3 adds ``entry_text``, the contentless FTS5 index of free-text search, keyed by
``entries.idx`` (:mod:`auditlens.mirror.search` says what it holds and why it adds no trust).

Schema 4 adds the index ``(type, verdict, ts, idx)``: an event type and an outcome together
(``task.failed`` sorted by outcome, whose success segment is empty) are one seek instead of a
walk of the type's entries probing each one's verdict (docs/benchmarks.md, "Viewer at 5M").
It also widens the time index to ``(ts, idx, task_id)``: the least and greatest task of a time
range are read off it, so a time range sorted by task walks the task index between those two
only (task ids made in time order put a recent range's tasks at the end of that index).

Schema 5 makes the task index ``(task_id, ts, idx)`` like every other sort index (it was
``(task_id, idx)``): a walk of it in task order tested each entry's time and the other
conditions' probes (keyed by ``ts``) by reading the entry's row from the table, a random read
per entry met (775 ms for a first page at 5M events with the file out of the OS cache). It
also adds ``value_counts(field, value, n)``: how many entries hold each user, agent, IP,
category, type, verdict and type-with-verdict (:mod:`auditlens.mirror.value_counts`), so a
filter picks the index that drives it without counting two large index ranges first.

``PRAGMA user_version`` holds :data:`SCHEMA_VERSION`; a newer file is refused rather than
misread, an older one is upgraded in place by :mod:`auditlens.mirror.migrate` (nothing is
re-fetched, so entries the server has since pruned are kept). Secondary indexes are listed in
:data:`ENTRY_INDEXES` so the bulk path of the writer can drop and rebuild them around a large
load (~40k rows/s bulk vs ~6k/s with the indexes maintained).
"""

from __future__ import annotations

from sqlalchemy import (
    BLOB,
    Column,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from auditlens.mirror import search

SCHEMA_VERSION = 5

metadata = MetaData()

entries = Table(
    "entries",
    metadata,
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("id", Text, nullable=False),
    Column("ts", Integer, nullable=False),  # ms since the epoch, UTC
    Column("type", Text),
    Column("category", Text),
    Column("user_id", Text, nullable=True),
    Column("task_id", Text, nullable=True),
    Column("agent_id", Text, nullable=True),
    Column("outcome", Text),
    Column("summary", Text),
    Column("raw", BLOB, nullable=False),  # the exact bytes received and hashed
    # Schema 2: derived from raw at sync time (appended, so ALTER TABLE can add them).
    Column("verdict", Text),  # success | failure | denied (display and filter, not signed)
    Column("ip", Text),  # event.request.ip
    Column("user_agent", Text),  # event.request.user_agent
)

users = Table(
    "users",
    metadata,
    Column("id", Text, primary_key=True),
    Column("email", Text),
    Column("name", Text),
    Column("role", Text),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", Integer, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
    Column("root", BLOB),
    Column("verified_at", Integer),  # ms since the epoch, UTC
)

tree_state = Table(
    "tree_state",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("size", Integer, nullable=False),
    Column("frontier", BLOB, nullable=False),  # the compact range's hashes, concatenated
)

meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text),
)

tile_hashes = Table(
    "tile_hashes",
    metadata,
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("hash", BLOB, nullable=False),
)

value_counts = Table(
    "value_counts",
    metadata,
    Column("field", Text, primary_key=True),
    Column("value", Text, primary_key=True),
    Column("n", Integer, nullable=False),
    sqlite_with_rowid=False,
)

forks = Table(
    "forks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("detected_at", Integer, nullable=False),
    Column("trusted_note", Text, nullable=False),
    Column("conflicting_note", Text, nullable=False),
    Column("detail", Text, nullable=False),
)

#: Secondary indexes of ``entries``: one per filter/sort column, each ending in ``idx`` so a
#: keyset page is an index range scan. Built after a bulk load, maintained otherwise.
ENTRY_INDEXES: tuple[Index, ...] = (
    Index("ux_entries_id", entries.c.id, unique=True),
    Index("ix_entries_ts_task", entries.c.ts, entries.c.idx, entries.c.task_id),
    Index("ix_entries_type_ts", entries.c.type, entries.c.ts, entries.c.idx),
    Index(
        "ix_entries_type_verdict_ts", entries.c.type, entries.c.verdict, entries.c.ts, entries.c.idx
    ),
    Index("ix_entries_category_ts", entries.c.category, entries.c.ts, entries.c.idx),
    Index("ix_entries_user_ts", entries.c.user_id, entries.c.ts, entries.c.idx),
    Index("ix_entries_task_ts", entries.c.task_id, entries.c.ts, entries.c.idx),
    Index("ix_entries_agent_ts", entries.c.agent_id, entries.c.ts, entries.c.idx),
    Index("ix_entries_verdict_ts", entries.c.verdict, entries.c.ts, entries.c.idx),
    Index("ix_entries_ip_ts", entries.c.ip, entries.c.ts, entries.c.idx),
)

#: Indexes of earlier schemas that no query uses any more (dropped by the upgrade).
RETIRED_INDEXES: tuple[str, ...] = ("ix_entries_outcome_ts", "ix_entries_ts", "ix_entries_task")

#: Keys of ``meta`` written by the sync writer.
META_KEYS = (
    "server_url",
    "origin",
    "vkey",
    "organization_id",
    "organization_name",
    "schema_version",
    "base_size",  # first index held (entries below were pruned before the first sync)
    "base_frontier",  # hex of the compact range at base_size (for the re-check)
    "min_index",
    "last_sync_at",
)

_dialect = sqlite.dialect()


def table_ddl() -> list[str]:
    """``CREATE TABLE IF NOT EXISTS`` statements for every table (no secondary indexes), the
    search index's FTS5 table last (schema 3, :mod:`auditlens.mirror.search`)."""
    return [
        *(
            str(CreateTable(table, if_not_exists=True).compile(dialect=_dialect)).strip()
            for table in metadata.sorted_tables
        ),
        *search.CREATE,
    ]


def index_ddl() -> list[str]:
    """``CREATE INDEX IF NOT EXISTS`` statements for :data:`ENTRY_INDEXES`."""
    return [
        str(CreateIndex(index, if_not_exists=True).compile(dialect=_dialect)).strip()
        for index in ENTRY_INDEXES
    ]


def index_names() -> list[str]:
    return [str(index.name) for index in ENTRY_INDEXES]
