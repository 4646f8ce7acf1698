"""Properties of proofs and compact ranges over trees of up to a few hundred leaves.

Every generated proof verifies; any change to a proof hash, a root, the index, a size or the proof
length is rejected; the compact range and the reader-based functions agree with the list-based
reference for every size.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlens.core.errors import Code, VerificationError
from auditlens.core.merkle import (
    CompactRange,
    NodeReader,
    consistency_proof,
    consistency_proof_from,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    perfect_roots,
    root,
    root_from,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 300
# Leaves for sizes whose low 9 bits are flipped (< 512) so every flipped size has a real root.
LEAVES = [leaf_hash(i.to_bytes(4, "big")) for i in range(512)]
ROOTS = [root(LEAVES[:n]) for n in range(len(LEAVES) + 1)]
FLIP_BITS = 9

PROPERTY = settings(max_examples=300, deadline=None)

sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def index_in_tree(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return draw(st.integers(0, size - 1)), size


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(sizes)
    return draw(st.integers(1, size2)), size2


def flip(data: bytes, bit: int) -> bytes:
    """Return ``data`` with bit ``bit`` (counted over the whole string) inverted."""
    bit %= len(data) * 8
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def rejected(check: Callable[[], None]) -> Code:
    with pytest.raises(VerificationError) as e:
        check()
    return e.value.code


def strict_reader(size: int) -> tuple[NodeReader, list[tuple[int, int]]]:
    """A reader over independently computed perfect nodes that refuses incomplete ones."""
    levels = [perfect_roots(LEAVES[:size], h) for h in range(size.bit_length())]
    reads: list[tuple[int, int]] = []

    def node(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, f"asked for incomplete node ({level}, {index})"
        reads.append((level, index))
        return levels[level][index]

    return node, reads


# --- inclusion -------------------------------------------------------------------------------


@PROPERTY
@given(index_in_tree())
def test_every_inclusion_proof_verifies(args: tuple[int, int]) -> None:
    index, size = args
    verify_inclusion(LEAVES[index], index, size, inclusion_proof(LEAVES, index, size), ROOTS[size])


@PROPERTY
@given(index_in_tree(), st.data())
def test_flipping_any_bit_of_an_inclusion_proof_fails(
    args: tuple[int, int], data: st.DataObject
) -> None:
    index, size = args
    proof = inclusion_proof(LEAVES, index, size)
    if not proof:
        return
    which = data.draw(st.integers(0, len(proof) - 1))
    proof[which] = flip(proof[which], data.draw(st.integers(0, 255)))
    code = rejected(lambda: verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size]))
    assert code is Code.INCLUSION_FAILED


@PROPERTY
@given(index_in_tree(), st.integers(0, 255))
def test_flipping_any_bit_of_the_root_or_leaf_fails_inclusion(
    args: tuple[int, int], bit: int
) -> None:
    index, size = args
    proof = inclusion_proof(LEAVES, index, size)
    bad_root = flip(ROOTS[size], bit)
    bad_leaf = flip(LEAVES[index], bit)
    assert rejected(lambda: verify_inclusion(LEAVES[index], index, size, proof, bad_root)) is (
        Code.INCLUSION_FAILED
    )
    assert rejected(lambda: verify_inclusion(bad_leaf, index, size, proof, ROOTS[size])) is (
        Code.INCLUSION_FAILED
    )


@PROPERTY
@given(index_in_tree(), st.integers(0, 20))
def test_flipping_any_bit_of_the_index_fails_inclusion(args: tuple[int, int], bit: int) -> None:
    index, size = args
    proof = inclusion_proof(LEAVES, index, size)
    other = index ^ (1 << bit)
    rejected(lambda: verify_inclusion(LEAVES[index], other, size, proof, ROOTS[size]))


@PROPERTY
@given(index_in_tree(), st.integers(0, FLIP_BITS - 1))
def test_flipping_any_bit_of_the_size_fails_inclusion_against_that_size_root(
    args: tuple[int, int], bit: int
) -> None:
    # The signed checkpoint binds a size to its root; a proof checked against another size is
    # checked against that size's root (see the next test for why the pair matters).
    index, size = args
    proof = inclusion_proof(LEAVES, index, size)
    other = size ^ (1 << bit)
    rejected(lambda: verify_inclusion(LEAVES[index], index, other, proof, ROOTS[other]))


def test_an_inclusion_proof_alone_does_not_bind_the_tree_size() -> None:
    # Known RFC 9162 property: leaf 0's path in 5 leaves is all "left" steps, as in 7 leaves, so
    # (size 7, root of size 5) also passes. Only a signed (size, root) pair makes the size count;
    # callers must never mix a size and a root from different checkpoints.
    proof = inclusion_proof(LEAVES, 0, 5)
    verify_inclusion(LEAVES[0], 0, 7, proof, ROOTS[5])
    assert rejected(lambda: verify_inclusion(LEAVES[0], 0, 7, proof, ROOTS[7])) is (
        Code.INCLUSION_FAILED
    )


@PROPERTY
@given(index_in_tree(), st.sampled_from(["append", "drop_first", "drop_last", "duplicate"]))
def test_changing_the_inclusion_proof_length_is_malformed(args: tuple[int, int], how: str) -> None:
    index, size = args
    proof = inclusion_proof(LEAVES, index, size)
    if how == "append":
        proof = [*proof, LEAVES[0]]
    elif not proof:
        return
    elif how == "drop_first":
        proof = proof[1:]
    elif how == "drop_last":
        proof = proof[:-1]
    else:
        proof = [proof[0], *proof]
    code = rejected(lambda: verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size]))
    assert code is Code.PROOF_MALFORMED


# --- consistency -----------------------------------------------------------------------------


@PROPERTY
@given(two_sizes())
def test_every_consistency_proof_verifies(args: tuple[int, int]) -> None:
    size1, size2 = args
    proof = consistency_proof(LEAVES, size1, size2)
    verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2])


@PROPERTY
@given(two_sizes(), st.data())
def test_flipping_any_bit_of_a_consistency_proof_is_a_fork(
    args: tuple[int, int], data: st.DataObject
) -> None:
    size1, size2 = args
    proof = consistency_proof(LEAVES, size1, size2)
    if not proof:
        return
    which = data.draw(st.integers(0, len(proof) - 1))
    proof[which] = flip(proof[which], data.draw(st.integers(0, 255)))
    code = rejected(lambda: verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2]))
    assert code is Code.LOG_FORKED


@PROPERTY
@given(two_sizes(), st.integers(0, 255))
def test_flipping_any_bit_of_either_root_is_a_fork(args: tuple[int, int], bit: int) -> None:
    size1, size2 = args
    proof = consistency_proof(LEAVES, size1, size2)
    bad1, bad2 = flip(ROOTS[size1], bit), flip(ROOTS[size2], bit)
    assert rejected(lambda: verify_consistency(size1, size2, proof, bad1, ROOTS[size2])) is (
        Code.LOG_FORKED
    )
    assert rejected(lambda: verify_consistency(size1, size2, proof, ROOTS[size1], bad2)) is (
        Code.LOG_FORKED
    )


@PROPERTY
@given(two_sizes(), st.booleans(), st.integers(0, FLIP_BITS - 1))
def test_flipping_any_bit_of_a_size_fails_consistency(
    args: tuple[int, int], first: bool, bit: int
) -> None:
    size1, size2 = args
    proof = consistency_proof(LEAVES, size1, size2)
    if first:
        s1, s2 = size1 ^ (1 << bit), size2
    else:
        s1, s2 = size1, size2 ^ (1 << bit)
    # As for inclusion, each size is checked with its own root (a signed pair).
    rejected(lambda: verify_consistency(s1, s2, proof, ROOTS[s1], ROOTS[s2]))


@PROPERTY
@given(two_sizes(), st.sampled_from(["append", "drop_first", "drop_last"]))
def test_changing_the_consistency_proof_length_is_malformed(
    args: tuple[int, int], how: str
) -> None:
    size1, size2 = args
    proof = consistency_proof(LEAVES, size1, size2)
    if how == "append":
        proof = [*proof, LEAVES[0]]
    elif not proof:
        return
    elif how == "drop_first":
        proof = proof[1:]
    else:
        proof = proof[:-1]
    code = rejected(lambda: verify_consistency(size1, size2, proof, ROOTS[size1], ROOTS[size2]))
    assert code is Code.PROOF_MALFORMED


# --- compact range ---------------------------------------------------------------------------


def test_compact_range_root_equals_root_for_every_prefix() -> None:
    cr = CompactRange()
    for n, h in enumerate(LEAVES[:MAX_SIZE], start=1):
        cr.append(h)
        assert cr.size == n
        assert cr.root() == ROOTS[n], n


def test_compact_range_emits_every_full_node_of_the_tree_once() -> None:
    emitted = CompactRange().extend(LEAVES[:MAX_SIZE])
    full = {
        (level, i): h
        for level in range(MAX_SIZE.bit_length())
        for i, h in enumerate(perfect_roots(LEAVES[:MAX_SIZE], level))
    }
    assert len(emitted) == len(full)
    assert {(level, i): h for level, i, h in emitted} == full


def test_compact_range_emits_a_node_only_after_its_children() -> None:
    seen: set[tuple[int, int]] = set()
    for level, i, _ in CompactRange().extend(LEAVES[:MAX_SIZE]):
        if level:
            assert {(level - 1, 2 * i), (level - 1, 2 * i + 1)} <= seen
        seen.add((level, i))


@PROPERTY
@given(st.integers(0, MAX_SIZE), st.integers(0, 200))
def test_compact_range_resumed_from_state_matches_one_built_at_once(a: int, b: int) -> None:
    first = CompactRange()
    first.extend(LEAVES[:a])
    resumed = CompactRange.from_state(first.size, first.hashes)
    resumed.extend(LEAVES[a : a + b])
    assert resumed.root() == ROOTS[a + b]


# --- reader-based variants -------------------------------------------------------------------


@PROPERTY
@given(sizes)
def test_root_from_a_reader_equals_root(size: int) -> None:
    node, _ = strict_reader(size)
    assert root_from(node, size) == ROOTS[size]


@PROPERTY
@given(index_in_tree())
def test_inclusion_proof_from_a_reader_equals_the_list_based_one(args: tuple[int, int]) -> None:
    index, size = args
    node, _ = strict_reader(size)
    assert inclusion_proof_from(node, index, size) == inclusion_proof(LEAVES, index, size)


@PROPERTY
@given(two_sizes())
def test_consistency_proof_from_a_reader_equals_the_list_based_one(args: tuple[int, int]) -> None:
    size1, size2 = args
    node, _ = strict_reader(size2)
    assert consistency_proof_from(node, size1, size2) == consistency_proof(LEAVES, size1, size2)


def test_reader_based_proofs_read_logarithmically_many_nodes() -> None:
    # A 2**40-leaf tree cannot be built here; a reader that invents node hashes shows the
    # functions only ask for O(log n) nodes, which is what makes them usable on the server.
    calls: list[tuple[int, int]] = []

    def node(level: int, index: int) -> bytes:
        calls.append((level, index))
        return leaf_hash(f"{level}/{index}".encode())

    size = (1 << 40) - 12345
    root_from(node, size)
    inclusion_proof_from(node, 987_654_321, size)
    consistency_proof_from(node, size // 3, size)
    assert len(calls) < 6 * 40
