"""Real mirror files for export tests, built with the mirror's own writer from a MemoryLog."""

from __future__ import annotations

from pathlib import Path

import orjson

from auditlens.core import merkle
from auditlens.mirror.writer import MirrorWriter, UserRow, extract_row
from tests.export.logs import MemoryLog


def build_mirror(log: MemoryLog, path: Path) -> Path:
    """Write every entry of ``log`` into a new mirror at ``path``, as a finished sync would."""
    crange = merkle.CompactRange()
    crange.extend(log.leaves)
    with MirrorWriter(path) as writer:
        batch = writer.begin(log.size)
        rows = [extract_row(i, raw, orjson.loads(raw)) for i, raw in enumerate(log.raws)]
        for start in range(0, len(rows), 5000):
            batch.add(rows[start : start + 5000])
        batch.commit(
            checkpoint_note=log.note,
            checkpoint_size=log.size,
            checkpoint_root=log.root,
            frontier=crange.hashes,
            users=[UserRow(uid, email, uid, "member") for uid, email in log.users.items()],
            meta={"origin": log.origin, "vkey": log.vkey, "server_url": "http://127.0.0.1:1"},
        )
    return path
