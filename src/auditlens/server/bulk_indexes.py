"""Building the entries table's filter indexes after a bulk load instead of during it.

A seeded event goes into ten B-trees: the table, its primary key, the unique ``id`` and the
seven filter indexes (``ts``, ``category``, ``type``, ``user_id``, ``task_id``, ``agent_id``,
``outcome``). Built once from the loaded rows, the seven cost a little less than extending
them row by row (measured on SQLite, 100,000 demo events in one transaction: 1.5 against 1.8 s
of SQLite CPU at load ~3, 0.3–0.7 s less CPU for the whole bulk seed under load, the
wall time within the noise), but only while the table holds no more than the load: rebuilding
over a larger table costs more than it saves (1,000,000 rows loaded in one transaction
without them and then indexed: 25 s of CPU, against 19 s with them in place, 100,000 rows a
transaction).

So :func:`deferred_indexes` drops them only when the table is **empty** (a fresh server seeding
its demo organization), and always inside the caller's write transaction: they are created
again before it commits, and a failure or a kill rolls the drop back with everything else (DDL
is transactional in SQLite and PostgreSQL), so no committed state ever lacks them. Readers are
not disturbed on SQLite (they keep their snapshot, indexes included); on PostgreSQL the drop
locks the (empty) table against readers until the commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.server.schema import entries

__all__ = ["deferred_indexes"]


@contextmanager
def deferred_indexes(conn: Connection) -> Iterator[bool]:
    """Inside ``conn``'s transaction: drop the filter indexes of an empty ``entries`` table.

    Yields whether it dropped them; creates them again (the same definitions as
    :mod:`auditlens.server.schema`) when the block ends without an exception. With an
    exception they stay dropped in this transaction, which the caller rolls back.
    """
    empty = conn.execute(sa.select(sa.literal(1)).select_from(entries).limit(1)).first() is None
    indexes = sorted(entries.indexes, key=lambda index: str(index.name))
    if not empty:
        yield False
        return
    for index in indexes:
        index.drop(conn)
    yield True
    for index in indexes:
        index.create(conn)
