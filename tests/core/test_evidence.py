"""The export evidence format: the multi-proof, its parser, and what verification tells apart."""

from __future__ import annotations

import base64
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlens.core import merkle
from auditlens.core.errors import Code, FormatError, VerificationError
from auditlens.core.evidence import FORMAT, Evidence
from auditlens.core.evidence_builder import EvidenceBuilder
from auditlens.core.evidence_check import match_events, verify_evidence
from auditlens.core.evidence_tree import evidence_root, gap_nodes, inclusion_proof, runs_of
from auditlens.core.note import Checkpoint, generate_keys, sign_checkpoint

ORIGIN = "auditlens.test/acme"


def _leaves(n: int) -> list[bytes]:
    return [merkle.leaf_hash(b"entry %d" % i) for i in range(n)]


def _build(leaves: list[bytes], selected: list[int], chunk: int = 7) -> EvidenceBuilder:
    builder = EvidenceBuilder(len(leaves))
    for start in range(0, len(leaves), chunk):
        part = leaves[start : start + chunk]
        builder.add(start, part, [i for i in selected if start <= i < start + len(part)])
    return builder


def _evidence(leaves: list[bytes], selected: list[int], *, origin: str = ORIGIN) -> tuple:
    skey, vkey = generate_keys("auditlens.test")
    proof = _build(leaves, selected).finish()
    note = sign_checkpoint(Checkpoint(origin, len(leaves), merkle.root(leaves)), skey)
    ev = Evidence(
        auditlens_version="0.1.0",
        exported_at="2026-01-01T00:00:00.000Z",
        filter={"type": "agent"},
        origin=origin,
        vkey=vkey,
        checkpoint=note,
        tree_size=len(leaves),
        indexes=proof.indexes,
        leaf_hashes=proof.leaf_hashes,
        nodes=proof.nodes,
    )
    return ev, vkey, skey


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(0, 300),
    density=st.floats(0, 1),
    seed=st.integers(0, 1000),
    chunk=st.integers(1, 70),
)
def test_the_multi_proof_leads_to_the_rfc9162_root_for_any_selection(
    size: int, density: float, seed: int, chunk: int
) -> None:
    rng = random.Random(seed)
    leaves = _leaves(size)
    selected = [i for i in range(size) if rng.random() < density]
    proof = _build(leaves, selected, chunk).finish()
    assert proof.root == merkle.root(leaves)
    assert evidence_root(size, proof.indexes, proof.leaf_hashes, proof.nodes) == proof.root


def test_a_full_export_needs_no_nodes_and_an_empty_one_needs_the_frontier() -> None:
    leaves = _leaves(1000)
    assert _build(leaves, list(range(1000))).finish().nodes == b""
    empty = _build(leaves, []).finish()
    assert len(empty.nodes) == 32 * (1000).bit_count()
    assert evidence_root(1000, (), b"", empty.nodes) == merkle.root(leaves)


def test_gaps_split_into_maximal_aligned_subtrees() -> None:
    assert gap_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert gap_nodes(5, 16) == [(0, 5), (1, 3), (3, 1)]
    assert gap_nodes(7, 7) == []


def test_every_event_has_a_standard_inclusion_proof_derivable_from_the_evidence() -> None:
    leaves = _leaves(77)
    selected = [0, 5, 6, 7, 40, 76]
    ev, _, _ = _evidence(leaves, selected)
    root = merkle.root(leaves)
    for position, index in enumerate(selected):
        proof = inclusion_proof(ev, position)
        merkle.verify_inclusion(leaves[index], index, 77, proof, root)


def test_a_builder_started_from_a_pruned_prefix_gives_the_same_proof() -> None:
    leaves = _leaves(600)
    selected = [300, 301, 450, 599]
    full = _build(leaves, selected).finish()
    prefix = merkle.CompactRange()
    prefix.extend(leaves[:256])
    pruned = EvidenceBuilder(600, 256, prefix.hashes)
    pruned.add(256, leaves[256:], selected)
    assert pruned.finish() == full


def test_a_wrong_number_of_nodes_is_a_malformed_proof() -> None:
    leaves = _leaves(50)
    proof = _build(leaves, [3, 9]).finish()
    with pytest.raises(VerificationError) as err:
        evidence_root(50, proof.indexes, proof.leaf_hashes, proof.nodes[:-32])
    assert err.value.code is Code.PROOF_MALFORMED


def test_runs_compress_indexes_and_reject_disorder() -> None:
    assert runs_of([1, 2, 3, 7, 9, 10]) == [(1, 3), (7, 7), (9, 10)]
    with pytest.raises(ValueError, match="strictly increasing"):
        runs_of([3, 3])


def test_the_evidence_object_round_trips_through_json() -> None:
    ev, _, _ = _evidence(_leaves(20), [1, 2, 3, 15])
    obj = ev.to_obj()
    assert obj["format"] == FORMAT
    assert obj["indexes"] == [[1, 3], [15, 15]]
    assert Evidence.from_obj(obj) == ev


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "auditlens-evidence/9"}, "format"),
        ({"indexes": [[3, 4], [4, 6]]}, "strictly increasing"),
        ({"indexes": [[1, 3], [15, 20]]}, "beyond tree_size"),
        ({"count": 5}, "count"),
        ({"leaf_hashes": base64.b64encode(b"x" * 40).decode()}, "leaf_hashes"),
        ({"nodes": "not base64!"}, "nodes"),
        ({"tree_size": -1}, "tree_size"),
        ({"filter": "everything"}, "filter"),
    ],
)
def test_a_malformed_evidence_object_names_the_field(change: dict, message: str) -> None:
    ev, _, _ = _evidence(_leaves(20), [1, 2, 3, 15])
    with pytest.raises(FormatError, match=message):
        Evidence.from_obj({**ev.to_obj(), **change})


# -- matching events against the evidence ----------------------------------------------------


def _codes(findings: list) -> dict[Code, list[int]]:
    return {f.code: f.indexes for f in findings}


LEAVES = _leaves(30)
SELECTED = [2, 3, 4, 10, 11, 20]
EV, VKEY, SKEY = _evidence(LEAVES, SELECTED)
FILE = [LEAVES[i] for i in SELECTED]


def test_identical_events_match_without_findings() -> None:
    assert match_events(EV, b"".join(FILE)) == []


def test_a_changed_event_is_modified_at_its_index() -> None:
    events = [*FILE]
    events[3] = merkle.leaf_hash(b"changed")
    assert _codes(match_events(EV, b"".join(events))) == {Code.EVENT_MODIFIED: [10]}


def test_removed_events_are_missing_with_every_index() -> None:
    events = [FILE[0], FILE[2], FILE[4]]
    assert _codes(match_events(EV, b"".join(events))) == {Code.EVENT_MISSING: [3, 10, 20]}


def test_a_fabricated_event_is_inserted() -> None:
    events = [*FILE[:2], merkle.leaf_hash(b"fake"), *FILE[2:]]
    findings = match_events(EV, b"".join(events))
    assert _codes(findings) == {Code.EVENT_INSERTED: []}
    assert "event #3" in findings[0].message


def test_swapped_events_are_reordered_at_both_indexes() -> None:
    events = [*FILE]
    events[1], events[2] = events[2], events[1]
    assert _codes(match_events(EV, b"".join(events))) == {Code.EVENT_REORDERED: [3, 4]}


def test_a_duplicated_event_is_inserted_at_the_index_it_repeats() -> None:
    events = [*FILE, FILE[1]]
    assert _codes(match_events(EV, b"".join(events))) == {Code.EVENT_INSERTED: [3]}


def test_an_unreadable_event_in_place_of_a_listed_one_is_modified() -> None:
    findings = match_events(EV, b"".join(FILE), unreadable={0: "not valid JSON"})
    assert _codes(findings) == {Code.EVENT_MODIFIED: [2]}
    assert "not valid JSON" in findings[0].message


# -- the whole verification ------------------------------------------------------------------


def test_an_untouched_export_verifies_with_the_trusted_key() -> None:
    report = verify_evidence(EV, b"".join(FILE), [VKEY])
    assert report.status == "verified"
    assert report.findings == []


def test_without_a_trusted_key_a_consistent_export_is_only_unverified() -> None:
    report = verify_evidence(EV, b"".join(FILE), None)
    assert report.status == "unverified"
    assert not report.verified


def test_a_checkpoint_signed_by_another_key_is_untrusted() -> None:
    other_skey, _ = generate_keys("auditlens.test")
    cp = Checkpoint(ORIGIN, 30, merkle.root(LEAVES))
    ev = Evidence.from_obj({**EV.to_obj(), "checkpoint": sign_checkpoint(cp, other_skey)})
    report = verify_evidence(ev, b"".join(FILE), [VKEY])
    assert [f.code for f in report.findings] == [Code.UNTRUSTED_KEY]


def test_a_checkpoint_for_another_log_is_an_origin_mismatch() -> None:
    cp = Checkpoint("auditlens.test/other", 30, merkle.root(LEAVES))
    ev = Evidence.from_obj({**EV.to_obj(), "checkpoint": sign_checkpoint(cp, SKEY)})
    report = verify_evidence(ev, b"".join(FILE), [VKEY])
    assert [f.code for f in report.findings] == [Code.ORIGIN_MISMATCH]


def test_an_altered_proof_node_fails_inclusion_over_the_whole_export() -> None:
    obj = EV.to_obj()
    nodes = bytearray(EV.nodes)
    nodes[0] ^= 1
    ev = Evidence.from_obj({**obj, "nodes": base64.b64encode(bytes(nodes)).decode()})
    report = verify_evidence(ev, b"".join(FILE), [VKEY])
    assert [f.code for f in report.findings] == [Code.INCLUSION_FAILED]
    assert report.findings[0].indexes == SELECTED


def test_an_event_changed_together_with_its_recorded_hash_fails_inclusion() -> None:
    fake = merkle.leaf_hash(b"forged")
    hashes = bytearray(EV.leaf_hashes)
    hashes[0:32] = fake
    ev = Evidence.from_obj({**EV.to_obj(), "leaf_hashes": base64.b64encode(hashes).decode()})
    report = verify_evidence(ev, fake + b"".join(FILE[1:]), [VKEY])
    assert [f.code for f in report.findings] == [Code.INCLUSION_FAILED]


def test_the_streamed_json_text_equals_the_object_serialized_at_once() -> None:
    import orjson

    ev, _, _ = _evidence(_leaves(500), list(range(0, 500, 3)))
    assert b"".join(ev.json_chunks(chunk=96)) == orjson.dumps(ev.to_obj())
