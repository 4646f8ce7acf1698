"""RFC 9162 §2.1 hashing, proofs and compact ranges: published vectors and exact failure codes.

Property tests (tampering, compact ranges, reader-based proofs) are in test_merkle_properties.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from auditlens.core.errors import Code, FormatError, VerificationError
from auditlens.core.merkle import (
    EMPTY_ROOT,
    CompactRange,
    consistency_proof,
    consistency_proof_from,
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    node_hash,
    perfect_roots,
    root,
    root_from,
    verify_consistency,
    verify_inclusion,
)

REFERENCE = json.loads(
    (Path(__file__).parent.parent / "data" / "rfc6962-reference-tree.json").read_text()
)
LEAVES = [leaf_hash(bytes.fromhex(x)) for x in REFERENCE["leaf_inputs_hex"]]
NODES = [[bytes.fromhex(h) for h in level] for level in REFERENCE["node_hashes_by_level_hex"]]
ROOTS = {int(n): bytes.fromhex(h) for n, h in REFERENCE["root_hash_by_tree_size_hex"].items()}


def b64(s: str) -> bytes:
    return base64.b64decode(s)


def reference_node(level: int, index: int) -> bytes:
    """A NodeReader over the published node hashes of the reference tree."""
    return NODES[level][index]


# --- the reference tree (transparency-dev/merkle testonly/constants.go) ----------------------


def test_reference_tree_covers_every_size_from_0_to_8() -> None:
    assert sorted(ROOTS) == list(range(9))
    assert [len(level) for level in NODES] == [8, 4, 2, 1]


def test_leaf_hashes_equal_the_published_level_0_nodes() -> None:
    assert NODES[0] == LEAVES


@pytest.mark.parametrize("size", range(9))
def test_root_equals_the_published_root_for_each_size(size: int) -> None:
    assert root(LEAVES[:size]) == ROOTS[size]


def test_empty_tree_root_is_sha256_of_the_empty_string() -> None:
    assert root([]) == EMPTY_ROOT == ROOTS[0]
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


@pytest.mark.parametrize("level", range(4))
def test_perfect_roots_equal_the_published_node_hashes(level: int) -> None:
    assert perfect_roots(LEAVES, level) == NODES[level]


def test_perfect_roots_drop_an_incomplete_group() -> None:
    assert perfect_roots(LEAVES[:7], 2) == NODES[2][:1]
    assert perfect_roots(LEAVES[:3], 2) == []


@pytest.mark.parametrize("size", range(9))
def test_root_from_published_nodes_equals_the_published_root(size: int) -> None:
    assert root_from(reference_node, size) == ROOTS[size]


@pytest.mark.parametrize("size", range(9))
def test_compact_range_root_equals_the_published_root(size: int) -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:size])
    assert cr.root() == ROOTS[size]


def test_compact_range_emits_exactly_the_published_nodes() -> None:
    emitted = CompactRange().extend(LEAVES)
    assert sorted(emitted) == sorted(
        (level, i, h) for level, hashes in enumerate(NODES) for i, h in enumerate(hashes)
    )


def test_node_hash_orders_left_then_right() -> None:
    assert node_hash(NODES[0][0], NODES[0][1]) == NODES[1][0]
    assert node_hash(NODES[0][1], NODES[0][0]) != NODES[1][0]


# --- published proofs ------------------------------------------------------------------------

# transparency-dev/merkle testdata/inclusion/{2,4}/happy-path.json (same eight leaves).
PUBLISHED_INCLUSION = [
    (
        5,
        8,
        "QnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=",
        [
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
        "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",
    ),
    (
        1,
        5,
        "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
        [
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
        ],
        "Tju7H3tHjc/nH7YxYxUZo7yhLJrvyhYSv85ME6hiZNQ=",
    ),
]

# transparency-dev/merkle testdata/consistency/{2,4}/happy-path.json.
PUBLISHED_CONSISTENCY = [
    (
        6,
        8,
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (
        6,
        7,
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
]


@pytest.mark.parametrize(("index", "size", "leaf", "proof", "want_root"), PUBLISHED_INCLUSION)
def test_published_inclusion_proof_is_generated_and_verifies(
    index: int, size: int, leaf: str, proof: list[str], want_root: str
) -> None:
    assert LEAVES[index] == b64(leaf)
    assert ROOTS[size] == b64(want_root)
    assert inclusion_proof(LEAVES, index, size) == [b64(p) for p in proof]
    assert inclusion_proof_from(reference_node, index, size) == [b64(p) for p in proof]
    verify_inclusion(b64(leaf), index, size, [b64(p) for p in proof], b64(want_root))


@pytest.mark.parametrize(("size1", "size2", "proof"), PUBLISHED_CONSISTENCY)
def test_published_consistency_proof_is_generated_and_verifies(
    size1: int, size2: int, proof: list[str]
) -> None:
    want = [b64(p) for p in proof]
    assert consistency_proof(LEAVES, size1, size2) == want
    assert consistency_proof_from(reference_node, size1, size2) == want
    verify_consistency(size1, size2, want, ROOTS[size1], ROOTS[size2])


# Names of the RFC 9162 §2.1.5 figure: leaves a..g (d0..d6), g = h(a,b), h = h(c,d),
# i = h(e,f), j = d6, k = h(g,h), l = h(i,j).
RFC_A, RFC_B, RFC_C, RFC_D = NODES[0][:4]
RFC_G, RFC_H, RFC_I = NODES[1][:3]
RFC_J = NODES[0][6]
RFC_K = NODES[2][0]
RFC_L = node_hash(RFC_I, RFC_J)


def test_rfc_example_inclusion_proofs() -> None:
    assert inclusion_proof(LEAVES, 0, 7) == [RFC_B, RFC_H, RFC_L]
    assert inclusion_proof(LEAVES, 3, 7) == [RFC_C, RFC_G, RFC_L]
    assert inclusion_proof(LEAVES, 4, 7) == [NODES[0][5], RFC_J, RFC_K]
    assert inclusion_proof(LEAVES, 6, 7) == [RFC_I, RFC_K]


def test_rfc_example_consistency_proofs() -> None:
    assert consistency_proof(LEAVES, 3, 7) == [RFC_C, RFC_D, RFC_G, RFC_L]
    assert consistency_proof(LEAVES, 4, 7) == [RFC_L]
    assert consistency_proof(LEAVES, 6, 7) == [RFC_I, RFC_J, RFC_K]


@pytest.mark.parametrize("size", range(1, 9))
def test_every_proof_in_the_reference_tree_verifies(size: int) -> None:
    for index in range(size):
        proof = inclusion_proof(LEAVES, index, size)
        verify_inclusion(LEAVES[index], index, size, proof, ROOTS[size])
    for size1 in range(1, size + 1):
        proof = consistency_proof(LEAVES, size1, size)
        verify_consistency(size1, size, proof, ROOTS[size1], ROOTS[size])


# --- inclusion failures ----------------------------------------------------------------------


def test_single_leaf_tree_has_an_empty_inclusion_proof() -> None:
    assert inclusion_proof(LEAVES, 0, 1) == []
    verify_inclusion(LEAVES[0], 0, 1, [], ROOTS[1])


def test_inclusion_index_at_or_beyond_size_is_malformed() -> None:
    with pytest.raises(VerificationError) as e:
        verify_inclusion(LEAVES[5], 8, 8, [], ROOTS[8])
    assert e.value.code is Code.PROOF_MALFORMED
    assert "index 8" in e.value.message and "size 8" in e.value.message


def test_inclusion_in_the_empty_tree_is_malformed() -> None:
    with pytest.raises(VerificationError) as e:
        verify_inclusion(LEAVES[0], 0, 0, [], ROOTS[0])
    assert e.value.code is Code.PROOF_MALFORMED


def test_inclusion_proof_with_a_hash_too_many_says_expected_and_got() -> None:
    proof = [*inclusion_proof(LEAVES, 5, 8), NODES[0][0]]
    with pytest.raises(VerificationError) as e:
        verify_inclusion(LEAVES[5], 5, 8, proof, ROOTS[8])
    assert e.value.code is Code.PROOF_MALFORMED
    assert "expected 3 hashes, got 4" in e.value.message
    assert e.value.indexes == [5]


def test_inclusion_proof_hash_of_wrong_length_is_malformed() -> None:
    proof = inclusion_proof(LEAVES, 5, 8)
    proof[1] = proof[1][:31]
    with pytest.raises(VerificationError) as e:
        verify_inclusion(LEAVES[5], 5, 8, proof, ROOTS[8])
    assert e.value.code is Code.PROOF_MALFORMED
    assert "hash 1 must be 32 bytes, got 31" in e.value.message


def test_inclusion_with_a_root_of_wrong_length_is_malformed() -> None:
    with pytest.raises(VerificationError) as e:
        verify_inclusion(LEAVES[5], 5, 8, inclusion_proof(LEAVES, 5, 8), ROOTS[8] + b"\x00")
    assert e.value.code is Code.PROOF_MALFORMED
    assert "root must be 32 bytes, got 33" in e.value.message


def test_inclusion_of_another_leaf_fails_and_names_the_index() -> None:
    with pytest.raises(VerificationError) as e:
        verify_inclusion(LEAVES[4], 5, 8, inclusion_proof(LEAVES, 5, 8), ROOTS[8])
    assert e.value.code is Code.INCLUSION_FAILED
    assert e.value.indexes == [5]
    assert "index 5" in e.value.message and "size 8" in e.value.message


def test_inclusion_against_another_root_fails() -> None:
    with pytest.raises(VerificationError) as e:
        verify_inclusion(LEAVES[5], 5, 8, inclusion_proof(LEAVES, 5, 8), ROOTS[7])
    assert e.value.code is Code.INCLUSION_FAILED


def test_generating_an_inclusion_proof_outside_the_tree_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="index 8 in a tree of size 8"):
        inclusion_proof(LEAVES, 8, 8)
    with pytest.raises(ValueError, match="beyond the 8 leaf hashes"):
        inclusion_proof(LEAVES, 0, 9)
    with pytest.raises(ValueError, match="index -1"):
        inclusion_proof_from(reference_node, -1, 8)


# --- consistency failures --------------------------------------------------------------------


def test_consistency_from_size_zero_is_rejected() -> None:
    with pytest.raises(VerificationError) as e:
        verify_consistency(0, 8, [], ROOTS[0], ROOTS[8])
    assert e.value.code is Code.PROOF_MALFORMED
    assert "from size 0" in e.value.message
    with pytest.raises(ValueError, match="from size 0"):
        consistency_proof(LEAVES, 0, 8)
    with pytest.raises(ValueError, match="from size 0"):
        consistency_proof_from(reference_node, 0, 8)


def test_consistency_to_a_smaller_size_is_malformed() -> None:
    with pytest.raises(VerificationError) as e:
        verify_consistency(8, 7, [], ROOTS[8], ROOTS[7])
    assert e.value.code is Code.PROOF_MALFORMED
    assert "size 8 to size 7" in e.value.message
    with pytest.raises(ValueError, match="smaller size 7"):
        consistency_proof(LEAVES, 8, 7)


def test_consistency_between_equal_sizes_needs_an_empty_proof_and_equal_roots() -> None:
    assert consistency_proof(LEAVES, 5, 5) == []
    verify_consistency(5, 5, [], ROOTS[5], ROOTS[5])
    with pytest.raises(VerificationError) as e:
        verify_consistency(5, 5, [NODES[0][0]], ROOTS[5], ROOTS[5])
    assert e.value.code is Code.PROOF_MALFORMED
    assert "expected 0 hashes for equal sizes, got 1" in e.value.message


def test_two_roots_for_one_size_are_a_fork() -> None:
    with pytest.raises(VerificationError) as e:
        verify_consistency(5, 5, [], ROOTS[5], ROOTS[6])
    assert e.value.code is Code.LOG_FORKED
    assert "same size 5" in e.value.message


def test_consistency_proof_of_wrong_length_says_expected_and_got() -> None:
    proof = consistency_proof(LEAVES, 6, 8)[:-1]
    with pytest.raises(VerificationError) as e:
        verify_consistency(6, 8, proof, ROOTS[6], ROOTS[8])
    assert e.value.code is Code.PROOF_MALFORMED
    assert "expected 3 hashes, got 2" in e.value.message


def test_empty_consistency_proof_between_different_sizes_is_malformed() -> None:
    with pytest.raises(VerificationError) as e:
        verify_consistency(4, 8, [], ROOTS[4], ROOTS[8])
    assert e.value.code is Code.PROOF_MALFORMED


def test_consistency_with_a_rewritten_history_is_a_fork() -> None:
    # The old checkpoint's root differs from what the new tree's prefix hashes to.
    forged_old = root([*LEAVES[:5], leaf_hash(b"rewritten")])
    with pytest.raises(VerificationError) as e:
        verify_consistency(6, 8, consistency_proof(LEAVES, 6, 8), forged_old, ROOTS[8])
    assert e.value.code is Code.LOG_FORKED
    assert "size 6" in e.value.message


def test_consistency_with_another_new_root_is_a_fork() -> None:
    with pytest.raises(VerificationError) as e:
        verify_consistency(4, 8, consistency_proof(LEAVES, 4, 8), ROOTS[4], ROOTS[7])
    assert e.value.code is Code.LOG_FORKED
    assert "size 8" in e.value.message


def test_consistency_roots_of_wrong_length_are_malformed() -> None:
    with pytest.raises(VerificationError) as e:
        verify_consistency(6, 8, consistency_proof(LEAVES, 6, 8), ROOTS[6][:16], ROOTS[8])
    assert e.value.code is Code.PROOF_MALFORMED
    assert "root1 must be 32 bytes, got 16" in e.value.message


# --- compact range ---------------------------------------------------------------------------


def test_empty_compact_range_has_the_empty_root() -> None:
    cr = CompactRange()
    assert (cr.size, cr.hashes, cr.root()) == (0, [], EMPTY_ROOT)


def test_append_reports_the_leaf_and_each_parent_it_completes() -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:7])
    assert cr.append(LEAVES[7]) == [
        (0, 7, NODES[0][7]),
        (1, 3, NODES[1][3]),
        (2, 1, NODES[2][1]),
        (3, 0, NODES[3][0]),
    ]
    assert cr.hashes == [NODES[3][0]]


def test_frontier_holds_one_perfect_subtree_per_set_bit_largest_first() -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:7])
    assert cr.size == 7
    assert cr.hashes == [NODES[2][0], NODES[1][2], NODES[0][6]]


def test_compact_range_resumes_from_stored_state() -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:5])
    resumed = CompactRange.from_state(cr.size, cr.hashes)
    assert resumed == cr
    resumed.extend(LEAVES[5:])
    assert resumed.root() == ROOTS[8]
    assert cr.size == 5  # the original is untouched


def test_copy_is_independent() -> None:
    cr = CompactRange()
    cr.extend(LEAVES[:3])
    other = cr.copy()
    other.append(LEAVES[3])
    assert (cr.size, other.size) == (3, 4)


@pytest.mark.parametrize(
    ("size", "hashes", "message"),
    [
        (5, [b"\x00" * 32], "needs 2 hashes, got 1"),
        (4, [b"\x00" * 32, b"\x00" * 32], "needs 1 hashes, got 2"),
        (1, [b"\x00" * 31], "hash 0 is not 32 bytes"),
        (-1, [], "must be >= 0"),
    ],
)
def test_malformed_compact_range_state_is_a_format_error(
    size: int, hashes: list[bytes], message: str
) -> None:
    with pytest.raises(FormatError, match=message):
        CompactRange.from_state(size, hashes)


def test_append_rejects_a_leaf_hash_of_wrong_length() -> None:
    with pytest.raises(ValueError, match="32 bytes, got 3"):
        CompactRange().append(b"abc")


def test_a_proof_hash_that_is_not_bytes_is_malformed_not_a_crash() -> None:
    proof: list[object] = [*inclusion_proof(LEAVES, 5, 8)]
    proof[0] = proof[0].hex()  # type: ignore[attr-defined]
    with pytest.raises(VerificationError) as e:
        verify_inclusion(LEAVES[5], 5, 8, proof, ROOTS[8])  # type: ignore[arg-type]
    assert e.value.code is Code.PROOF_MALFORMED
    assert "got str" in e.value.message
    with pytest.raises(VerificationError) as e:
        verify_consistency(6, 8, consistency_proof(LEAVES, 6, 8), None, ROOTS[8])  # type: ignore[arg-type]
    assert e.value.code is Code.PROOF_MALFORMED
