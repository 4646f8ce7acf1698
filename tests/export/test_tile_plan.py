"""The pieces behind partial re-verification: the plan of what is re-hashed, stored tile roots
standing in for their leaves in the evidence builder, and tile roots written by a real sync."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from auditlens.client.api import AuditApiClient
from auditlens.client.sync import SyncEngine
from auditlens.client.trust import Pin
from auditlens.core import merkle
from auditlens.core.evidence_builder import EvidenceBuilder
from auditlens.export.verify import verify_file
from auditlens.export.writer import ExportOptions, export, verification_plan
from auditlens.mirror.snapshot import MirrorSnapshot
from tests.client.fakelog import FakeLog

H = b"\xab" * 32


def test_unexported_complete_tiles_with_a_stored_root_are_not_re_hashed() -> None:
    stored = {0: H, 1: H, 2: H, 3: H}
    plan = list(verification_plan(0, 1100, [1], stored))
    assert plan == [
        (0, 256, H),
        (256, 512, None),
        (512, 768, H),
        (768, 1024, H),
        (1024, 1100, None),
    ]


def test_neighbouring_re_hashed_tiles_are_read_as_one_range() -> None:
    plan = list(verification_plan(0, 1024, [0, 1, 3], {2: H}))
    assert plan == [(0, 512, None), (512, 768, H), (768, 1024, None)]


def test_without_stored_roots_everything_is_one_range() -> None:
    assert list(verification_plan(0, 1000, [], {})) == [(0, 1000, None)]


def test_a_tile_cut_by_a_pruned_prefix_is_re_hashed_from_the_prefix() -> None:
    plan = list(verification_plan(300, 1024, [], {1: H, 2: H, 3: H}))
    assert plan == [(300, 512, None), (512, 768, H), (768, 1024, H)]


def test_an_exact_multiple_of_the_tile_width_has_no_partial_tile() -> None:
    assert list(verification_plan(0, 512, [], {0: H, 1: H})) == [(0, 256, H), (256, 512, H)]


def _proof(size: int, chosen: list[int], use_tiles: bool, prefix: int = 0) -> object:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
    roots = dict(enumerate(merkle.perfect_roots(leaves, 8))) if use_tiles else {}
    frontier = merkle.CompactRange()
    frontier.extend(leaves[:prefix])
    builder = EvidenceBuilder(size, prefix, frontier.hashes)
    tiles = {i // 256 for i in chosen}
    for first, last, node in verification_plan(prefix, size, tiles, roots):
        if node is not None:
            builder.add_subtree(8, node)
        else:
            builder.add(first, leaves[first:last], [i for i in chosen if first <= i < last])
    proof = builder.finish()
    assert proof.root == merkle.root(leaves)
    return proof


@pytest.mark.parametrize("seed", range(12))
def test_stored_tile_roots_give_the_same_proof_nodes_as_the_leaves(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randrange(1, 3000)
    chosen = sorted(rng.sample(range(size), rng.randrange(0, min(size, 8) + 1)))
    prefix = rng.choice([0, 0, 256, 512, rng.randrange(size + 1)])
    chosen = [i for i in chosen if i >= prefix]
    assert _proof(size, chosen, True, prefix) == _proof(size, chosen, False, prefix)


def test_a_subtree_must_start_where_the_builder_is_and_fit_the_tree() -> None:
    builder = EvidenceBuilder(600)
    builder.add(0, [H] * 10, [])
    with pytest.raises(ValueError, match="cannot start"):
        builder.add_subtree(8, H)
    fresh = EvidenceBuilder(600)
    fresh.add_subtree(8, H)
    fresh.add_subtree(8, H)
    with pytest.raises(ValueError, match="beyond the tree size"):
        fresh.add_subtree(8, H)
    with pytest.raises(ValueError, match="32 bytes"):
        EvidenceBuilder(600).add_subtree(8, b"short")


def test_an_export_from_a_synced_mirror_uses_the_tile_roots_the_sync_stored(
    tmp_path: Path,
) -> None:
    log = FakeLog()
    mirror = tmp_path / "synced.sqlite"
    client = AuditApiClient("http://audit.test", "tok-secret-123", transport=log.transport())
    pin = Pin(client.base_url, "org_1", log.origin, log.vkey)
    for count in (1300, 500):  # tile 5 (1280-1535) is completed by the second sync
        log.append(count)
        SyncEngine(client, mirror, pin, fetch_workers=2, fetch_window=4).run()
    out = tmp_path / "out.json"
    with MirrorSnapshot(mirror, [5, 1700]) as snap:
        result = export(snap, ExportOptions("json", out, {}))
    # tiles 0 and 6 hold the events, 1792-1799 is the partial tile; 1-5 come from the sync
    assert (result.stored_tiles, result.rehashed) == (5, 2 * 256 + 8)
    assert verify_file(out, [log.vkey]).report.status == "verified"
