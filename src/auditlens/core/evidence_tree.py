"""The tree arithmetic of export evidence: index runs, gap nodes, the root, inclusion proofs.

Shared by the builder (:mod:`~auditlens.core.evidence_builder`) and the verifier
(:mod:`~auditlens.core.evidence_check`): the exported events' leaves and the evidence's proof
nodes fold, left to right, into the checkpoint's root (docs/evidence-format.md).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from hashlib import sha256
from typing import TYPE_CHECKING

from auditlens.core.errors import (
    Code,
    VerificationError,
)
from auditlens.core.merkle import EMPTY_ROOT, HASH_SIZE, inclusion_proof_from

if TYPE_CHECKING:
    from auditlens.core.evidence import Evidence

_NODE_PREFIX = b"\x01"
_MAX_BLOCK_LEVEL = 16
"""Largest block hashed level by level in one go (bounds the temporary list to 64k hashes)."""


def runs_of(indexes: Iterable[int]) -> list[tuple[int, int]]:
    """Return ascending ``indexes`` as inclusive runs; raise ValueError unless strictly rising."""
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and i <= runs[-1][1]:
            raise ValueError(f"indexes must be strictly increasing: {i} after {runs[-1][1]}")
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def blocks_of(start: int, end: int, cap: int | None = None) -> Iterator[tuple[int, int]]:
    """Yield ``(level, first_leaf)`` of the maximal aligned perfect subtrees tiling [start, end).

    ``cap`` bounds the level (the pieces then merge on a stack); ``None`` is the normative,
    uncapped split of a gap.
    """
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        if cap is not None:
            level = min(level, cap)
        yield level, start
        start += 1 << level


def gap_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """Return the ``(level, index)`` of the nodes that stand for the gap [start, end)."""
    return [(level, first >> level) for level, first in blocks_of(start, end)]


def gaps_of(runs: Sequence[tuple[int, int]], tree_size: int) -> Iterator[tuple[int, int]]:
    prev = 0
    for first, last in runs:
        if first > prev:
            yield prev, first
        prev = last + 1
    if tree_size > prev:
        yield prev, tree_size


def node_count(runs: Sequence[tuple[int, int]], tree_size: int) -> int:
    return sum(sum(1 for _ in blocks_of(a, b)) for a, b in gaps_of(runs, tree_size))


def index_array_of(runs: Sequence[tuple[int, int]]) -> array[int]:
    out: array[int] = array("q")
    for first, last in runs:
        out.extend(range(first, last + 1))
    return out


# ----------------------------------------------------------------------------------------------
# The stack of perfect subtrees (shared by the builder and the verifier)


def _hash_pairs(level: Sequence[bytes]) -> list[bytes]:
    it = iter(level)
    prefix = _NODE_PREFIX
    return [sha256(prefix + a + b).digest() for a, b in zip(it, it, strict=False)]


class SubtreeStack:
    """Perfect subtrees of a contiguous range, pushed left to right and merged when siblings."""

    __slots__ = ("hashes", "indexes", "levels")

    def __init__(self) -> None:
        self.levels: list[int] = []
        self.indexes: list[int] = []
        self.hashes: list[bytes] = []

    def push(self, level: int, index: int, h: bytes) -> None:
        levels, indexes, hashes = self.levels, self.indexes, self.hashes
        while index & 1 and levels and levels[-1] == level and indexes[-1] == index - 1:
            h = sha256(_NODE_PREFIX + hashes.pop() + h).digest()
            levels.pop()
            indexes.pop()
            level += 1
            index >>= 1
        levels.append(level)
        indexes.append(index)
        hashes.append(h)

    def push_leaves(self, start: int, leaves: Sequence[bytes]) -> None:
        """Push consecutive leaf hashes starting at leaf ``start`` (hashed level by level)."""
        offset = 0
        for level, first in blocks_of(start, start + len(leaves), _MAX_BLOCK_LEVEL):
            size = 1 << level
            block = leaves[offset : offset + size]
            offset += size
            for _ in range(level):
                block = _hash_pairs(block)
            self.push(level, first >> level, block[0])

    def drain(self) -> list[tuple[int, int, bytes]]:
        out = list(zip(self.levels, self.indexes, self.hashes, strict=True))
        self.levels, self.indexes, self.hashes = [], [], []
        return out

    def fold(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = sha256(_NODE_PREFIX + h + acc).digest()
        return acc


def split_hashes(data: bytes, start: int, count: int) -> list[bytes]:
    """Return ``count`` 32-byte hashes of ``data`` from hash number ``start``."""
    base = start * HASH_SIZE
    return [data[i : i + HASH_SIZE] for i in range(base, base + count * HASH_SIZE, HASH_SIZE)]


def evidence_root(
    tree_size: int, runs: Sequence[tuple[int, int]], leaf_hashes: bytes, nodes: bytes
) -> bytes:
    """Return the tree root the exported leaf hashes and the multi-proof nodes lead to.

    Raises VerificationError(PROOF_MALFORMED) when the number of hashes is not what the indexes
    and the tree size demand (see the module docstring for the algorithm).
    """
    count = sum(last - first + 1 for first, last in runs)
    if len(leaf_hashes) != count * HASH_SIZE:
        raise VerificationError(
            Code.PROOF_MALFORMED,
            f"leaf_hashes holds {len(leaf_hashes) / HASH_SIZE:g} hashes for {count} events",
        )
    if runs and runs[-1][1] >= tree_size:
        raise VerificationError(
            Code.PROOF_MALFORMED,
            f"index {runs[-1][1]} is not in the tree of size {tree_size}",
            indexes=[runs[-1][1]],
        )
    expected = node_count(runs, tree_size)
    if len(nodes) != expected * HASH_SIZE:
        raise VerificationError(
            Code.PROOF_MALFORMED,
            f"the multi-proof holds {len(nodes) / HASH_SIZE:g} node hashes; the indexes and "
            f"tree size {tree_size} need exactly {expected}",
        )
    stack = SubtreeStack()
    node_at = 0
    leaf_at = 0
    prev = 0
    for first, last in [*runs, (tree_size, tree_size - 1)]:
        for level, start in blocks_of(prev, first):
            stack.push(level, start >> level, nodes[node_at : node_at + HASH_SIZE])
            node_at += HASH_SIZE
        # Long runs are pushed in slices so the list of leaf hashes stays small.
        pos = first
        while pos <= last:
            n = min(last + 1 - pos, 1 << _MAX_BLOCK_LEVEL)
            stack.push_leaves(pos, split_hashes(leaf_hashes, leaf_at, n))
            leaf_at += n
            pos += n
        prev = last + 1
    return stack.fold()


def inclusion_proof(evidence: Evidence, position: int) -> list[bytes]:
    """Return the standard RFC 9162 inclusion proof of the ``position``-th exported event.

    For third parties and tests that want per-event proofs; it rebuilds nodes from the evidence
    (memory grows with the export), so it is meant for a few events, not for whole exports.
    """
    indexes = index_array_of(evidence.indexes)
    if not 0 <= position < len(indexes):
        raise IndexError(f"position {position} is outside the {len(indexes)} exported events")
    pieces: dict[tuple[int, int], bytes] = {}
    for i, idx in enumerate(indexes):
        pieces[(0, idx)] = evidence.leaf_hashes[i * HASH_SIZE : (i + 1) * HASH_SIZE]
    node_at = 0
    for a, b in gaps_of(evidence.indexes, evidence.tree_size):
        for level, index in gap_nodes(a, b):
            pieces[(level, index)] = evidence.nodes[node_at : node_at + HASH_SIZE]
            node_at += HASH_SIZE

    def node(level: int, index: int) -> bytes:
        h = pieces.get((level, index))
        if h is None:
            if level == 0:
                raise VerificationError(
                    Code.PROOF_MALFORMED, f"the evidence lacks the hash of leaf {index}"
                )
            h = sha256(
                _NODE_PREFIX + node(level - 1, 2 * index) + node(level - 1, 2 * index + 1)
            ).digest()
            pieces[(level, index)] = h
        return h

    return inclusion_proof_from(node, indexes[position], evidence.tree_size)
