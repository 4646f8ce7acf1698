"""What an export will hold before it is written: the fixed selection and its estimated size.

The export dialog shows "N verified events · about S MB" before the person clicks Export. The
count is exact (the snapshot collects the matching indexes when it opens, and the same snapshot
is exported, so the number announced is the number written); the size is an estimate from up to
:data:`SAMPLE` events spread over the selection, rendered exactly as the chosen format writes
them (:mod:`auditlens.export.csv_rows` for CSV), plus the evidence (about 43 bytes per event
and per proof node). Callers label it "about".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from auditlens.export.columns import CSV_COLUMNS
from auditlens.export.csv_rows import RowWriter
from auditlens.export.layout import ExportFormat
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.snapshot import MirrorSnapshot, ViewRows

SAMPLE = 200
"""How many events the size estimate renders (spread evenly over the selection)."""

PLACEHOLDER_EMAIL = "someone@example.com"
"""Stands in for every user's email in the estimate (the directory is not read for it)."""


@dataclass(frozen=True)
class Prepared:
    """An opened snapshot and the raw events sampled from it for the size estimate."""

    snapshot: MirrorSnapshot
    sample: tuple[bytes, ...]


def prepare(
    mirror_path: Path, selection: EventFilter | ViewRows | Sequence[int], sample: int = SAMPLE
) -> Prepared:
    """Open the snapshot (fixing the selection and count) and sample events for the estimate.

    The caller owns the snapshot (it exports it, then closes it).
    """
    snapshot = MirrorSnapshot(mirror_path, selection)
    try:
        count = snapshot.selected_count()
        raws: list[bytes] = []
        if count:
            step = max(1, count // sample)
            for n, idx in enumerate(snapshot.selected()):
                if n % step:
                    continue
                for _, chunk in snapshot.entries(idx, idx + 1):
                    raws.extend(chunk)
                if len(raws) >= sample:
                    break
    except BaseException:
        snapshot.close()
        raise
    return Prepared(snapshot, tuple(raws))


def _csv_bytes(sample: Sequence[bytes], tree_size: int, columns: Sequence[str]) -> int:
    """Bytes of the sample's CSV rows (each with an index as wide as the log's largest)."""
    users: dict[str, str] = {}
    for raw in sample:
        user_id = orjson.loads(raw).get("user_id")
        if isinstance(user_id, str):
            users[user_id] = PLACEHOLDER_EMAIL
    rows = RowWriter(columns, users)
    return len(rows.rows([tree_size] * len(sample), sample))


def estimate_bytes(
    fmt: ExportFormat,
    count: int,
    tree_size: int,
    sample: Sequence[bytes],
    columns: Sequence[str] = CSV_COLUMNS,
) -> int:
    """Roughly how many bytes an export of ``count`` events writes (data + evidence)."""
    if count and sample:
        if fmt == "csv":
            per = _csv_bytes(sample, tree_size, columns)
        else:
            per = sum(len(raw) + 2 for raw in sample)
        data = per * count // len(sample)
    else:
        data = 0
    gaps = min(count + 1, max(tree_size - count, 0))
    nodes = 0
    if gaps:
        average_gap = max(tree_size - count, 1) / gaps
        nodes = int(gaps * max(1.0, math.log2(average_gap)))
    evidence = 1_000 + 43 * count + 43 * nodes + 16 * gaps
    return data + evidence
