"""C2SP tlog-tiles: paths, codecs and geometry, against the spec's published examples."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlens.core.errors import FormatError
from auditlens.core.merkle import (
    inclusion_proof,
    inclusion_proof_from,
    leaf_hash,
    perfect_roots,
    root,
    root_from,
)
from auditlens.core.tiles import (
    MAX_ENTRY_SIZE,
    TILE_WIDTH,
    TileRef,
    decode_entry_bundle,
    decode_hash_tile,
    encode_entry_bundle,
    encode_hash_tile,
    entries_path,
    level_hashes,
    node_reader_from_tiles,
    parse_tile_path,
    partial_width,
    tile_path,
    tiles_for_range,
    tiles_for_size,
)

PROPERTY = settings(max_examples=200, deadline=None)


def hashes(n: int, salt: str = "") -> list[bytes]:
    return [leaf_hash(f"{salt}{i}".encode()) for i in range(n)]


# --- paths: the spec's examples --------------------------------------------------------------


def test_index_1234067_is_encoded_as_in_the_spec() -> None:
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"


@pytest.mark.parametrize(
    ("level", "n", "width", "path"),
    [
        (0, 0, 256, "tile/0/000"),
        (0, 7, 256, "tile/0/007"),
        (0, 999, 256, "tile/0/999"),
        (0, 1000, 256, "tile/0/x001/000"),
        (1, 273, 17, "tile/1/273.p/17"),
        (2, 0, 1, "tile/2/000.p/1"),
        (63, 1234067, 255, "tile/63/x001/x234/067.p/255"),
    ],
)
def test_tile_paths(level: int, n: int, width: int, path: str) -> None:
    assert tile_path(level, n, width) == path
    assert parse_tile_path(path) == TileRef(level, n, width)
    assert TileRef(level, n, width).path == path


def test_entry_bundle_paths_share_the_index_and_width_encoding() -> None:
    assert entries_path(1234067) == "tile/entries/x001/x234/067"
    assert entries_path(273, 112) == "tile/entries/273.p/112"
    assert parse_tile_path("tile/entries/273.p/112") == TileRef(None, 273, 112)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.none(), st.integers(0, 63)),
    st.integers(0, 10**18),
    st.integers(1, TILE_WIDTH),
)
def test_paths_round_trip(level: int | None, n: int, width: int) -> None:
    ref = TileRef(level, n, width)
    assert parse_tile_path(ref.path) == ref


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="tilentrsx0123456789./p-+ ٣", max_size=40))
def test_any_accepted_path_is_canonical(path: str) -> None:
    # Either a clean FormatError, or the path is exactly how we would write that tile.
    try:
        ref = parse_tile_path(path)
    except FormatError:
        return
    assert ref.path == path


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 63), st.integers(0, 10**9), st.integers(1, TILE_WIDTH))
def test_mutated_canonical_paths_parse_back_or_fail_cleanly(level: int, n: int, width: int) -> None:
    path = tile_path(level, n, width)
    for mutated in (path + "/", path + "0", "/" + path, path.replace("/", "//", 1), path[:-1]):
        try:
            ref = parse_tile_path(mutated)
        except FormatError:
            continue
        assert ref.path == mutated


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "not a tile path"),
        ("tile", "not a tile path"),
        ("tile/0", "not a tile path"),
        ("/tile/0/000", "not a tile path"),
        ("tiles/0/000", "not a tile path"),
        ("tile/00/000", "tile level"),
        ("tile/64/000", "tile level"),
        ("tile/-1/000", "tile level"),
        ("tile/ 1/000", "tile level"),
        ("tile/entry/000", "tile level"),
        ("tile/0/12", "group 1 must be 3 digits"),
        ("tile/0/1234", "group 1 must be 3 digits"),
        ("tile/0/x001", "group 1 must be 3 digits"),
        ("tile/0/001/234", "group 1 must be 'x' and 3 digits"),
        ("tile/0/x1234/000", "group 1 must be 'x' and 3 digits"),
        ("tile/0/x001/x234", "group 2 must be 3 digits"),
        ("tile/0/x000/123", "superfluous leading group"),
        ("tile/0/000/", "group 1 must be 'x' and 3 digits"),
        ("tile/0/٠٠٠", "group 1 must be 3 digits"),
        ("tile/0/000.p", "group 1 must be 3 digits"),
        ("tile/0/000.p/", "partial tile width"),
        ("tile/0/000.p/0", "partial tile width"),
        ("tile/0/000.p/256", "partial tile width"),
        ("tile/0/000.p/07", "partial tile width"),
        ("tile/0/000.p/abc", "partial tile width"),
        ("tile/0/000.q/5", "group 1 must be"),
        ("tile/0/000.p/5/6", "group"),
        ("tile/0/x001/x002/x003/x004/x005/x006/x007/008", "at most 7"),
    ],
)
def test_malformed_paths_are_format_errors_naming_the_part(path: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        parse_tile_path(path)


@pytest.mark.parametrize(
    ("level", "n", "width"), [(-1, 0, 256), (64, 0, 256), (0, -1, 256), (0, 0, 0), (0, 0, 257)]
)
def test_building_a_path_for_an_impossible_tile_is_a_value_error(
    level: int, n: int, width: int
) -> None:
    with pytest.raises(ValueError, match="must be"):
        tile_path(level, n, width)
    with pytest.raises(ValueError, match="must be"):
        TileRef(level, n, width)


def test_tile_ref_knows_its_span() -> None:
    assert TileRef(0, 2, 17).leaf_range == (512, 529)
    assert TileRef(None, 2).leaf_range == (512, 768)
    assert TileRef(1, 1, 3).leaf_range == (65536 * 1 + 0, 65536 + 3 * 256)
    assert TileRef(1, 1, 3).is_partial and not TileRef(1, 1).is_partial
    assert TileRef(None, 0).is_entries and not TileRef(0, 0).is_entries


# --- hash tiles ------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 17, 255, 256])
def test_hash_tile_round_trips(width: int) -> None:
    tile = hashes(width)
    data = encode_hash_tile(tile)
    assert len(data) == 32 * width
    assert decode_hash_tile(data, width) == tile


@pytest.mark.parametrize(
    ("size", "width", "message"),
    [
        (8191, 256, "must be 8192 bytes, got 8191 \\(not a whole number of hashes\\)"),
        (8193, 256, "must be 8192 bytes, got 8193"),
        (8224, 256, "must be 8192 bytes, got 8224"),
        (0, 256, "must be 8192 bytes, got 0"),
        (544, 16, "width 16 must be 512 bytes, got 544"),
        (32, 0, "width must be in 1..256"),
        (8224, 257, "width must be in 1..256"),
    ],
)
def test_hash_tile_of_wrong_size_is_a_format_error(size: int, width: int, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        decode_hash_tile(b"\x00" * size, width)


def test_encoding_an_impossible_hash_tile_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"1\.\.256 hashes, got 0"):
        encode_hash_tile([])
    with pytest.raises(ValueError, match=r"1\.\.256 hashes, got 257"):
        encode_hash_tile(hashes(257))
    with pytest.raises(ValueError, match="tile hash 1 must be 32 bytes, got 31"):
        encode_hash_tile([b"\x00" * 32, b"\x00" * 31])


# --- entry bundles ---------------------------------------------------------------------------


def test_entry_bundle_is_uint16_big_endian_length_prefixed() -> None:
    assert encode_entry_bundle([b"ab", b"", b"\xff" * 258]) == (
        b"\x00\x02ab" + b"\x00\x00" + b"\x01\x02" + b"\xff" * 258
    )


@PROPERTY
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=40))
def test_entry_bundle_round_trips(entries: list[bytes]) -> None:
    data = encode_entry_bundle(entries)
    assert decode_entry_bundle(data) == entries
    assert decode_entry_bundle(data, len(entries)) == entries


def test_full_bundle_of_largest_entries_round_trips() -> None:
    entries = [bytes([i]) * MAX_ENTRY_SIZE for i in range(3)] + [b"x"] * 253
    assert decode_entry_bundle(encode_entry_bundle(entries), 256) == entries


@PROPERTY
@given(st.binary(max_size=600))
def test_arbitrary_bytes_decode_to_a_bundle_that_re_encodes_or_fail_cleanly(data: bytes) -> None:
    try:
        entries = decode_entry_bundle(data)
    except FormatError:
        return
    assert encode_entry_bundle(entries) == data


@PROPERTY
@given(st.lists(st.binary(max_size=50), min_size=1, max_size=20), st.data())
def test_truncated_bundles_are_format_errors(entries: list[bytes], data: st.DataObject) -> None:
    encoded = encode_entry_bundle(entries)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(FormatError):
        decode_entry_bundle(encoded[:cut], len(entries))


@pytest.mark.parametrize(
    ("data", "width", "message"),
    [
        (b"", None, "empty"),
        (b"\x00", None, "entry 0: length prefix truncated at byte 0 of 1"),
        (b"\x00\x05abc", None, "entry 0: declares 5 bytes but only 3 remain"),
        (b"\x00\x01a\x00", None, "entry 1: length prefix truncated at byte 3 of 4"),
        (b"\x00\x01a\x00\x01b", 1, "3 trailing bytes after its 1 entries"),
        (b"\x00\x01a", 2, "has 1 entries, expected 2"),
        (b"\x00\x01a", 0, "width must be in 1..256"),
        (b"\x00\x00" * 257, None, "more than 256 entries"),
    ],
)
def test_malformed_bundles_are_format_errors_naming_what(
    data: bytes, width: int | None, message: str
) -> None:
    with pytest.raises(FormatError, match=message):
        decode_entry_bundle(data, width)


def test_encoding_an_impossible_bundle_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"1\.\.256 entries, got 0"):
        encode_entry_bundle([])
    with pytest.raises(ValueError, match=r"1\.\.256 entries, got 257"):
        encode_entry_bundle([b""] * 257)
    with pytest.raises(ValueError, match="entry 1 is 65536 bytes"):
        encode_entry_bundle([b"", b"\x00" * 65536])


# --- geometry --------------------------------------------------------------------------------


def test_tree_of_70000_has_the_tiles_the_spec_lists() -> None:
    level0 = tiles_for_size(0, 70_000)
    assert len(level0) == 274
    assert all(t.width == 256 for t in level0[:273])
    assert level0[-1] == TileRef(0, 273, 112)
    assert tiles_for_size(1, 70_000) == [TileRef(1, 0), TileRef(1, 1, 17)]
    assert tiles_for_size(2, 70_000) == [TileRef(2, 0, 1)]
    assert tiles_for_size(3, 70_000) == []
    assert [partial_width(level, 70_000) for level in range(4)] == [112, 17, 1, 0]


def test_tree_of_256_has_one_full_tile_and_a_level_1_tile_of_width_1() -> None:
    assert tiles_for_size(0, 256) == [TileRef(0, 0)]
    assert tiles_for_size(1, 256) == [TileRef(1, 0, 1)]
    assert partial_width(0, 256) == 0


def test_empty_tree_has_no_tiles() -> None:
    assert tiles_for_size(0, 0) == [] == tiles_for_size(None, 0)


@pytest.mark.parametrize(
    ("level", "start", "end", "size", "want"),
    [
        (None, 300, 700, 1000, [TileRef(None, 1), TileRef(None, 2)]),
        (None, 900, 1000, 1000, [TileRef(None, 3, 232)]),
        (None, 0, 1, 1000, [TileRef(None, 0)]),
        (None, 0, 5, 5, [TileRef(None, 0, 5)]),
        (None, 10, 10, 1000, []),
        (0, 255, 257, 300, [TileRef(0, 0), TileRef(0, 1, 44)]),
        (1, 0, 1000, 1000, [TileRef(1, 0, 3)]),
        (1, 800, 1000, 1000, []),  # leaves past the last complete 256-group are in no level-1 tile
    ],
)
def test_tiles_covering_a_range(
    level: int | None, start: int, end: int, size: int, want: list[TileRef]
) -> None:
    assert tiles_for_range(level, start, end, size) == want


@pytest.mark.parametrize(("start", "end", "size"), [(0, 11, 10), (5, 4, 10), (-1, 3, 10)])
def test_range_outside_the_tree_is_a_value_error(start: int, end: int, size: int) -> None:
    with pytest.raises(ValueError, match="not within a tree"):
        tiles_for_range(None, start, end, size)


@PROPERTY
@given(st.integers(0, 10**7), st.data())
def test_entry_tiles_cover_a_range_exactly_once(size: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, size))
    end = data.draw(st.integers(start, size))
    tiles = tiles_for_range(None, start, end, size)
    covered = [t.leaf_range for t in tiles]
    if start == end:
        assert tiles == []
        return
    assert covered[0][0] <= start < covered[0][1]
    assert covered[-1][0] < end <= covered[-1][1] <= size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))
    assert all(not t.is_partial for t in tiles[:-1])


# --- tile hashes from leaf hashes ------------------------------------------------------------

LEAVES = hashes(70_000, "leaf")


def test_level_0_tile_hashes_are_the_leaf_hashes() -> None:
    assert level_hashes(LEAVES[:300], 0) == LEAVES[:300]


def test_level_1_hashes_are_roots_of_256_leaves() -> None:
    got = level_hashes(LEAVES[:600], 1)
    assert got == [root(LEAVES[:256]), root(LEAVES[256:512])]


def test_level_2_hash_is_the_root_of_a_full_level_1_tile() -> None:
    level1 = level_hashes(LEAVES[:65536], 1)
    assert level_hashes(LEAVES[:65536], 2) == [root(level1)] == [root(LEAVES[:65536])]


def test_tiles_of_a_tree_hold_its_nodes_at_heights_0_8_16() -> None:
    for level in range(3):
        stored = level_hashes(LEAVES, level)
        for ref in tiles_for_size(level, len(LEAVES)):
            tile = stored[ref.first : ref.first + ref.width]
            assert decode_hash_tile(encode_hash_tile(tile), ref.width) == tile
        assert stored == perfect_roots(LEAVES, 8 * level)


def test_node_reader_from_tiles_gives_the_roots_and_proofs_of_the_tree() -> None:
    stored = {level: level_hashes(LEAVES, level) for level in range(3)}
    reads: list[tuple[int, int, int]] = []

    def read(level: int, first: int, count: int) -> list[bytes]:
        reads.append((level, first, count))
        return stored[level][first : first + count]

    node = node_reader_from_tiles(read)
    for size in (1, 255, 256, 257, 65535, 65536, 70_000):
        assert root_from(node, size) == root(LEAVES[:size])
    for index in (0, 12345, 65536, 69_999):
        assert inclusion_proof_from(node, index, 70_000) == inclusion_proof(LEAVES, index, 70_000)
    assert all(count <= 128 for _, _, count in reads)


def test_node_reader_from_tiles_rejects_a_short_read() -> None:
    node = node_reader_from_tiles(lambda level, first, count: LEAVES[:1])
    with pytest.raises(ValueError, match="returned 1 hashes for level 0 at 2, expected 2"):
        node(1, 1)
