"""A digest of everything a mirror holds, to say whether two mirror files are the same.

Two syncs of one log into two files must give the same mirror, whether one ran through and the
other was killed and resumed. Their files are in fact byte-for-byte equal when both ran with the
same clock (the test of the kill-and-resume does exactly that); with real clocks they differ in
two wall-clock values only, the time of the last sync (``meta.last_sync_at``) and when the
checkpoint was verified (``checkpoints.verified_at``). This digest covers every other byte
of content: the schema (every table, index and trigger, as SQL), and every row of every table,
the free-text index's own tables included, in primary-key order.
"""

from __future__ import annotations

from hashlib import sha256
from pathlib import Path

from auditlens.mirror.store import open_readonly

#: Wall-clock values that differ between two syncs of the same log: (table, column).
CLOCK_COLUMNS = (("checkpoints", "verified_at"),)
#: Meta keys holding wall-clock values.
CLOCK_META_KEYS = ("last_sync_at",)


def content_digest(path: Path) -> str:
    """SHA-256 (hex) over the schema and every row of every table, clock values left out."""
    digest = sha256()
    conn = open_readonly(path)
    try:
        conn.execute("BEGIN")  # one snapshot
        objects = conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
        ).fetchall()
        for kind, name, _table, sql in objects:
            digest.update(repr((kind, name, sql)).encode())
            if kind != "table" or sql is None or sql.upper().startswith("CREATE VIRTUAL"):
                continue
            info = conn.execute(f'PRAGMA table_info("{name}")').fetchall()
            columns = [row[1] for row in info]
            keys = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0]
            keep = [c for c in columns if (name, c) not in CLOCK_COLUMNS]
            select = ", ".join(f'"{c}"' for c in keep)
            where = ""
            if name == "meta":
                where = " WHERE key NOT IN (" + ", ".join(f"'{k}'" for k in CLOCK_META_KEYS) + ")"
            order = ", ".join(f'"{c}"' for c in (keys or keep))
            for row in conn.execute(f'SELECT {select} FROM "{name}"{where} ORDER BY {order}'):
                digest.update(repr(row).encode())
    finally:
        conn.close()
    return digest.hexdigest()
