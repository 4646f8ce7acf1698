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
