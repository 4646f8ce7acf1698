"""Building export evidence while the exporter streams the log (one pass, flat memory)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from auditlens.core.evidence_tree import SubtreeStack, blocks_of
from auditlens.core.merkle import HASH_SIZE


@dataclass(frozen=True)
class BuiltProof:
    """What :class:`EvidenceBuilder` produced: the multi-proof and the root it recomputed."""

    tree_size: int
    indexes: tuple[tuple[int, int], ...]
    leaf_hashes: bytes
    nodes: bytes
    root: bytes


class EvidenceBuilder:
    """Stream every leaf hash of the log once; collect the exported ones and the gap nodes.

    The exporter hashes the entries it re-verifies against the signed root anyway, so the
    multi-proof costs no extra pass: leaves of a gap merge on a small stack whose content
    becomes the gap's nodes when the gap ends. Where a whole aligned stretch of a gap has a
    known hash (a stored tile root), :meth:`add_subtree` adds it in place of its leaves.
    Memory: 32 bytes per exported event plus the nodes; nothing per skipped entry. ``prefix``
    lets a log whose first entries were pruned start from the frontier (perfect subtree
    hashes, largest first) of ``[0, prefix_size)``.
    """

    def __init__(self, tree_size: int, prefix_size: int = 0, prefix: Sequence[bytes] = ()) -> None:
        blocks = list(blocks_of(0, prefix_size))
        if len(blocks) != len(prefix):
            raise ValueError(f"a prefix of {prefix_size} leaves needs {len(blocks)} hashes")
        if prefix_size > tree_size:
            raise ValueError(f"prefix {prefix_size} is larger than the tree ({tree_size})")
        self._tree_size = tree_size
        self._size = prefix_size
        self._global = SubtreeStack()
        self._gap = SubtreeStack()
        for (level, first), h in zip(blocks, prefix, strict=True):
            self._gap.push(level, first >> level, bytes(h))
        self._runs: list[tuple[int, int]] = []
        self._leaves = bytearray()
        self._nodes = bytearray()

    @property
    def size(self) -> int:
        """Leaves seen so far (the next ``add`` must start here)."""
        return self._size

    @property
    def count(self) -> int:
        """Exported leaves seen so far."""
        return len(self._leaves) // HASH_SIZE

    def add(self, start: int, leaves: Sequence[bytes], selected: Iterable[int]) -> None:
        """Add the leaf hashes of log entries ``start, start + 1, ...``.

        ``selected`` are the exported indexes among them, ascending.
        """
        if start != self._size:
            raise ValueError(f"leaves must arrive in order: expected {self._size}, got {start}")
        end = start + len(leaves)
        if end > self._tree_size:
            raise ValueError(f"leaf {end - 1} is beyond the tree size {self._tree_size}")
        pos = start
        run_first = -1
        run_last = -2
        for idx in selected:
            if not pos <= idx < end:
                raise ValueError(f"selected index {idx} is not in [{pos}, {end}) or not ascending")
            if idx == run_last + 1:
                run_last = idx
                continue
            if run_first >= 0:
                self._selected(run_first, leaves[run_first - start : run_last + 1 - start])
                pos = run_last + 1
            if idx > pos:
                self._gap.push_leaves(pos, leaves[pos - start : idx - start])
            run_first = run_last = idx
        if run_first >= 0:
            self._selected(run_first, leaves[run_first - start : run_last + 1 - start])
            pos = run_last + 1
        if end > pos:
            self._gap.push_leaves(pos, leaves[pos - start : end - start])
        self._size = end

    def add_subtree(self, level: int, node: bytes) -> None:
        """Add the hash of the perfect subtree of ``2**level`` leaves starting at :attr:`size`.

        For a stretch of the log with no exported event whose hash is already known (the
        mirror's stored root of a 256-entry tile is the level-8 node): it joins the current gap
        exactly as its leaves would have, so the nodes and the root are the same as if every
        leaf had been added. Nothing here trusts ``node``: a wrong one changes the root.
        """
        if level < 0:
            raise ValueError(f"a subtree level is >= 0, got {level}")
        width = 1 << level
        if self._size % width:
            raise ValueError(f"a level-{level} subtree cannot start at leaf {self._size}")
        if self._size + width > self._tree_size:
            raise ValueError(
                f"a level-{level} subtree at {self._size} reaches beyond the tree size "
                f"{self._tree_size}"
            )
        if len(node) != HASH_SIZE:
            raise ValueError(f"a node hash is {HASH_SIZE} bytes, got {len(node)}")
        self._gap.push(level, self._size >> level, bytes(node))
        self._size += width

    def _close_gap(self) -> None:
        for level, index, h in self._gap.drain():
            self._nodes += h
            self._global.push(level, index, h)

    def _selected(self, first: int, leaves: Sequence[bytes]) -> None:
        self._close_gap()
        self._global.push_leaves(first, leaves)
        for h in leaves:
            self._leaves += h
        last = first + len(leaves) - 1
        if self._runs and self._runs[-1][1] == first - 1:
            self._runs[-1] = (self._runs[-1][0], last)
        else:
            self._runs.append((first, last))

    def finish(self) -> BuiltProof:
        """Return the proof; raise ValueError unless every leaf of the tree was added."""
        if self._size != self._tree_size:
            raise ValueError(f"saw {self._size} of the tree's {self._tree_size} leaves")
        self._close_gap()
        return BuiltProof(
            tree_size=self._tree_size,
            indexes=tuple(self._runs),
            leaf_hashes=bytes(self._leaves),
            nodes=bytes(self._nodes),
            root=self._global.fold(),
        )
