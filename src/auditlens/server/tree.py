"""Reading the stored tree: tlog-tiles hash tiles, entry bundles, proofs and roots.

Level-0 hashes are the entries' ``leaf_hash`` column; the hashes of tile level ``L >= 1`` are
the ``tree_nodes`` rows at height ``8*L``. A node at any other height is folded from at most
128 stored hashes below it (``core.tiles.node_reader_from_tiles``), so a proof for a log of
millions of entries reads a few dozen rows.

Every read is bounded by a tree ``size`` (normally that of the newest checkpoint): a reader
never serves a hash or entry the checkpoint it answers for does not cover.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from auditlens.core import merkle
from auditlens.core.tiles import TILE_HEIGHT, TILE_WIDTH, node_reader_from_tiles
from auditlens.server.schema import entries, tree_nodes


class PrunedError(Exception):
    """The entries asked for were removed by retention pruning (their hashes remain)."""


class TreeReader:
    """Reads one organization's stored tree on one connection (one snapshot)."""

    def __init__(self, conn: Connection, org_id: str, size: int) -> None:
        self.conn = conn
        self.org_id = org_id
        self.size = size
        self.node = node_reader_from_tiles(self.hashes)

    def hashes(self, tile_level: int, first: int, count: int) -> Sequence[bytes]:
        """``count`` stored hashes of tile level ``tile_level`` from position ``first``.

        Returns fewer when the tree of ``self.size`` has fewer complete nodes there.
        """
        available = (self.size >> (TILE_HEIGHT * tile_level)) - first
        count = min(count, available)
        if count <= 0:
            return []
        if tile_level == 0:
            query = (
                sa.select(entries.c.leaf_hash)
                .where(entries.c.org_id == self.org_id)
                .where(entries.c.idx >= first, entries.c.idx < first + count)
                .order_by(entries.c.idx)
                .limit(count)  # keeps PostgreSQL on the primary key without statistics
            )
        else:
            query = (
                sa.select(tree_nodes.c.hash)
                .where(tree_nodes.c.org_id == self.org_id)
                .where(tree_nodes.c.level == TILE_HEIGHT * tile_level)
                .where(tree_nodes.c.idx >= first, tree_nodes.c.idx < first + count)
                .order_by(tree_nodes.c.idx)
            )
        return [bytes(h) for h in self.conn.execute(query).scalars()]

    def hash_tile(self, level: int, n: int, width: int) -> bytes | None:
        """The bytes of hash tile ``(level, n)`` of ``width``; None when the tree lacks it."""
        got = self.hashes(level, n * TILE_WIDTH, width)
        if len(got) < width:
            return None
        return b"".join(got)

    def entry_bodies(self, n: int, width: int) -> list[bytes] | None:
        """The ``width`` entries of bundle ``n``; None when the tree lacks them.

        Raises :class:`PrunedError` when they were removed by retention.
        """
        first = n * TILE_WIDTH
        if first + width > self.size:
            return None
        rows = self.conn.execute(
            sa.select(entries.c.body)
            .where(entries.c.org_id == self.org_id)
            .where(entries.c.idx >= first, entries.c.idx < first + width)
            .order_by(entries.c.idx)
            .limit(width)
        ).all()
        if len(rows) < width:
            return None
        if any(body is None for (body,) in rows):
            raise PrunedError(
                f"entries {first}-{first + width - 1} were pruned by retention policy"
            )
        return [bytes(body) for (body,) in rows]

    def root(self, size: int | None = None) -> bytes:
        return merkle.root_from(self.node, self.size if size is None else size)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_proof_from(self.node, index, size)

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        return merkle.consistency_proof_from(self.node, size1, size2)


def stored_frontier(conn: Connection, org_id: str, size: int) -> list[bytes] | None:
    """The compact range of the stored tree of ``size`` (largest subtree first), or None.

    One perfect subtree per set bit of ``size``; a subtree of height ``8*L + r`` is folded from
    ``2**r`` stored hashes of tile level ``L``, exactly as :meth:`TreeReader.node` does. The
    subtrees of one tile level sit side by side, so each level is one contiguous range, and all
    of them come back in one query: the sequencer runs this before every append, and on
    PostgreSQL a round trip costs more than the reading. The leaf range is read in index order
    with a LIMIT, which keeps PostgreSQL on the primary key even when its statistics do not know
    the organization yet (a new one: without them it scanned a filter index, 10-100 ms). None
    when a hash is missing.
    """
    spans: list[tuple[int, int, int]] = []  # (tile level, first position, count), left to right
    start = 0
    for height in reversed(range(size.bit_length())):
        if size >> height & 1:
            tile_level, r = divmod(height, TILE_HEIGHT)
            spans.append((tile_level, (start >> height) << r, 1 << r))
            start += 1 << height
    if not spans:
        return []
    ranges: dict[int, tuple[int, int]] = {}  # tile level -> (first, end) of its contiguous range
    for tile_level, first, count in spans:
        lo, hi = ranges.get(tile_level, (first, first))
        ranges[tile_level] = (min(lo, first), max(hi, first + count))
    parts: list[sa.Select[Any]] = []
    if 0 in ranges:
        lo, hi = ranges[0]
        leaves = (
            sa.select(
                sa.literal(0).label("level"), entries.c.idx, entries.c.leaf_hash.label("hash")
            )
            .where(entries.c.org_id == org_id, entries.c.idx >= lo, entries.c.idx < hi)
            .order_by(entries.c.idx)
            .limit(hi - lo)
            .subquery()
        )
        parts.append(sa.select(leaves.c.level, leaves.c.idx, leaves.c.hash))
    upper = [(level, lo, hi) for level, (lo, hi) in ranges.items() if level]
    if upper:
        parts.append(
            sa.select(tree_nodes.c.level, tree_nodes.c.idx, tree_nodes.c.hash).where(
                tree_nodes.c.org_id == org_id,
                sa.or_(
                    *(
                        sa.and_(
                            tree_nodes.c.level == TILE_HEIGHT * level,
                            tree_nodes.c.idx >= lo,
                            tree_nodes.c.idx < hi,
                        )
                        for level, lo, hi in upper
                    )
                ),
            )
        )
    query = parts[0] if len(parts) == 1 else sa.union_all(*parts)
    found = {(int(row[0]), int(row[1])): bytes(row[2]) for row in conn.execute(query)}
    frontier = []
    for tile_level, first, count in spans:
        hashes = [found.get((TILE_HEIGHT * tile_level, p)) for p in range(first, first + count)]
        if any(h is None for h in hashes):
            return None
        frontier.append(merkle.root(hashes))  # type: ignore[arg-type]
    return frontier
