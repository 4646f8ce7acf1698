"""C2SP tlog-tiles: tile paths, the hash-tile and entry-bundle codecs, and tile geometry.

The server serves its log as tlog-tiles under ``/v1/log/`` and the viewer fetches it the same
way, so both sides need one definition of: the path of a tile (``tile/<L>/<N>[.p/<W>]`` and
``tile/entries/<N>[.p/<W>]``), the bytes of a tile (``W`` 32-byte hashes) and of an entry bundle
(``W`` entries, each a big-endian uint16 length and the bytes), which tiles a tree of a given
size has, and how the hashes of a level-``L`` tile follow from the leaf hashes. No I/O here.

Geometry (spec): the hash ``i`` of tile ``N`` at level ``L`` is the root of the perfect subtree
over leaves ``[(N*256 + i) * 256**L, (N*256 + i + 1) * 256**L)``, i.e. a node at tree height
``8*L``. A tree of size ``s`` has ``s // 256**L`` such nodes at level ``L``; its last tile at
that level is partial with width ``(s // 256**L) % 256`` when that is not 0.

Decisions:
* Parsing is strict and canonical: one path per tile (no leading ``x000`` groups, no leading
  zeros in ``L`` or ``W``, ASCII digits only, ``L`` in 0..63, ``W`` in 1..255), so a cache or a
  file name can never hold the same tile twice, and anything else is a :class:`FormatError`
  naming the offending part.
* Entry bundles carry at most 256 entries and never zero: an empty bundle is never served.
  Entries may be empty byte strings (the format allows it), up to 65,535 bytes each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from auditlens.core.errors import FormatError
from auditlens.core.merkle import HASH_SIZE, NodeReader, perfect_roots, root

__all__ = [
    "MAX_ENTRY_SIZE",
    "MAX_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "TileRef",
    "decode_entry_bundle",
    "decode_hash_tile",
    "encode_entry_bundle",
    "encode_hash_tile",
    "entries_path",
    "level_hashes",
    "node_reader_from_tiles",
    "parse_tile_path",
    "partial_width",
    "tile_path",
    "tiles_for_range",
    "tiles_for_size",
]

TILE_HEIGHT = 8
"""Tree levels spanned by one tile."""
TILE_WIDTH = 1 << TILE_HEIGHT
"""Hashes in a full tile, entries in a full bundle (256)."""
MAX_LEVEL = 63
"""Largest tile level the spec allows in a path."""
MAX_ENTRY_SIZE = 0xFFFF
"""Largest entry an entry bundle can carry (uint16 length prefix)."""
_MAX_GROUPS = 7
"""Index groups accepted when parsing: up to 10**21 - 1, beyond any 64-bit tree."""

_GROUP = re.compile(r"x[0-9]{3}", re.ASCII)
_LAST = re.compile(r"[0-9]{3}", re.ASCII)
_DECIMAL = re.compile(r"0|[1-9][0-9]*", re.ASCII)


@dataclass(frozen=True, order=True)
class TileRef:
    """One tile (``level`` 0..63) or entry bundle (``level`` None): index ``n`` and ``width``."""

    level: int | None
    n: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= MAX_LEVEL:
            raise ValueError(f"tile level must be in 0..{MAX_LEVEL}, got {self.level}")
        if self.n < 0:
            raise ValueError(f"tile index must be >= 0, got {self.n}")
        if not 1 <= self.width <= TILE_WIDTH:
            raise ValueError(f"tile width must be in 1..{TILE_WIDTH}, got {self.width}")

    @property
    def is_entries(self) -> bool:
        """True for an entry bundle, False for a hash tile."""
        return self.level is None

    @property
    def is_partial(self) -> bool:
        """True when the tile has fewer than 256 hashes (or entries)."""
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """The tlog-tiles path, relative to the log prefix."""
        if self.level is None:
            return entries_path(self.n, self.width)
        return tile_path(self.level, self.n, self.width)

    @property
    def first(self) -> int:
        """Position of the tile's first hash among all nodes of its level (entries: leaves)."""
        return self.n * TILE_WIDTH

    @property
    def leaf_range(self) -> tuple[int, int]:
        """The leaves ``[start, end)`` the tile's hashes (or entries) cover."""
        span = TILE_WIDTH ** (self.level or 0)
        return self.first * span, (self.first + self.width) * span


def _encode_index(n: int) -> str:
    if n < 0:
        raise ValueError(f"tile index must be >= 0, got {n}")
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + g for g in groups[:-1]), groups[-1]])


def _suffix(width: int) -> str:
    if not 1 <= width <= TILE_WIDTH:
        raise ValueError(f"tile width must be in 1..{TILE_WIDTH}, got {width}")
    return "" if width == TILE_WIDTH else f".p/{width}"


def tile_path(level: int, n: int, width: int = TILE_WIDTH) -> str:
    """Return ``tile/<L>/<N>[.p/<W>]``: ``tile_path(0, 1234067)`` is ``tile/0/x001/x234/067``."""
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"tile level must be in 0..{MAX_LEVEL}, got {level}")
    return f"tile/{level}/{_encode_index(n)}{_suffix(width)}"


def entries_path(n: int, width: int = TILE_WIDTH) -> str:
    """Return ``tile/entries/<N>[.p/<W>]``, the path of entry bundle ``n``."""
    return f"tile/entries/{_encode_index(n)}{_suffix(width)}"


def parse_tile_path(path: str) -> TileRef:
    """Parse a tile or entry-bundle path (relative to the log prefix) into a :class:`TileRef`.

    Raises FormatError naming the part that is wrong; only canonical paths are accepted.
    """
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise FormatError(f"not a tile path (want tile/<L>/<N>[.p/<W>]): {path!r}")
    if parts[1] == "entries":
        level: int | None = None
    elif _DECIMAL.fullmatch(parts[1]) and int(parts[1]) <= MAX_LEVEL:
        level = int(parts[1])
    else:
        raise FormatError(
            f"tile level must be a decimal 0..{MAX_LEVEL} or 'entries', got {parts[1]!r}"
        )

    rest = parts[2:]
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        w = rest[-1]
        if not _DECIMAL.fullmatch(w) or not 1 <= int(w) < TILE_WIDTH:
            raise FormatError(
                f"partial tile width must be a decimal 1..{TILE_WIDTH - 1}, got {w!r}"
            )
        width = int(w)
        rest = [*rest[:-2], rest[-2][:-2]]
    if len(rest) > _MAX_GROUPS:
        raise FormatError(f"tile index has {len(rest)} groups, at most {_MAX_GROUPS} allowed")
    n = 0
    for i, group in enumerate(rest):
        last = i == len(rest) - 1
        if not (_LAST if last else _GROUP).fullmatch(group):
            want = "3 digits" if last else "'x' and 3 digits"
            raise FormatError(f"tile index group {i + 1} must be {want}, got {group!r}")
        digits = group if last else group[1:]
        if i == 0 and not last and digits == "000":
            raise FormatError(f"tile index has a superfluous leading group {group!r}")
        n = n * 1000 + int(digits)
    return TileRef(level, n, width)


# --- codecs ---------------------------------------------------------------------------------


def encode_hash_tile(hashes: Sequence[bytes]) -> bytes:
    """Return the bytes of a hash tile: 1..256 hashes of 32 bytes, concatenated."""
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise ValueError(f"a hash tile holds 1..{TILE_WIDTH} hashes, got {len(hashes)}")
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise ValueError(f"tile hash {i} must be {HASH_SIZE} bytes, got {len(h)}")
    return b"".join(hashes)


def decode_hash_tile(data: bytes, width: int = TILE_WIDTH) -> list[bytes]:
    """Split a hash tile of ``width`` hashes; any other size is a FormatError."""
    if not 1 <= width <= TILE_WIDTH:
        raise FormatError(f"hash tile width must be in 1..{TILE_WIDTH}, got {width}")
    want = width * HASH_SIZE
    if len(data) != want:
        raise FormatError(
            f"hash tile of width {width} must be {want} bytes, got {len(data)}"
            + (" (not a whole number of hashes)" if len(data) % HASH_SIZE else "")
        )
    return [bytes(data[i : i + HASH_SIZE]) for i in range(0, want, HASH_SIZE)]


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Return an entry bundle: for each of 1..256 entries, uint16 big-endian length + bytes."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise ValueError(f"an entry bundle holds 1..{TILE_WIDTH} entries, got {len(entries)}")
    out = bytearray()
    for i, e in enumerate(entries):
        if len(e) > MAX_ENTRY_SIZE:
            raise ValueError(f"entry {i} is {len(e)} bytes, at most {MAX_ENTRY_SIZE} fit a bundle")
        out += len(e).to_bytes(2, "big")
        out += e
    return bytes(out)


def decode_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """Split an entry bundle into its entries.

    With ``width``, the bundle must hold exactly that many entries and nothing after them.
    Raises FormatError for an empty bundle, a truncated length or entry, more than 256 entries,
    or a count that differs from ``width``.
    """
    if width is not None and not 1 <= width <= TILE_WIDTH:
        raise FormatError(f"entry bundle width must be in 1..{TILE_WIDTH}, got {width}")
    if not data:
        raise FormatError("entry bundle is empty: a bundle holds at least one entry")
    limit = TILE_WIDTH if width is None else width
    view = memoryview(data)
    entries: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        i = len(entries)
        if i == limit:
            if width is None:
                raise FormatError(f"entry bundle holds more than {TILE_WIDTH} entries")
            raise FormatError(
                f"entry bundle has {end - pos} trailing bytes after its {width} entries"
            )
        if end - pos < 2:
            raise FormatError(f"entry {i}: length prefix truncated at byte {pos} of {end}")
        size = int.from_bytes(view[pos : pos + 2], "big")
        pos += 2
        if end - pos < size:
            raise FormatError(
                f"entry {i}: declares {size} bytes but only {end - pos} remain (truncated bundle)"
            )
        entries.append(bytes(view[pos : pos + size]))
        pos += size
    if width is not None and len(entries) != width:
        raise FormatError(f"entry bundle has {len(entries)} entries, expected {width}")
    return entries


# --- geometry -------------------------------------------------------------------------------


def _nodes_at(level: int, size: int) -> int:
    """Number of complete level-``level`` tile hashes in a tree of ``size`` leaves."""
    if size < 0:
        raise ValueError(f"tree size must be >= 0, got {size}")
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"tile level must be in 0..{MAX_LEVEL}, got {level}")
    return size >> (TILE_HEIGHT * level)


def partial_width(level: int, size: int) -> int:
    """Width of the partial tile at ``level`` for a tree of ``size`` (0: there is none)."""
    return _nodes_at(level, size) % TILE_WIDTH


def tiles_for_range(level: int | None, start: int, end: int, size: int) -> list[TileRef]:
    """Return the tiles at ``level`` (None: entry bundles) that cover leaves ``[start, end)``.

    The tree has ``size`` leaves (``end <= size``); a tile at the right edge gets the partial
    width that tree has. At level ``L > 0`` only the complete nodes are in tiles, so leaves past
    the last multiple of ``256**L`` are covered by no tile there (the list may be empty).
    """
    if not 0 <= start <= end <= size:
        raise ValueError(f"leaf range [{start}, {end}) is not within a tree of size {size}")
    lvl = 0 if level is None else level
    count = _nodes_at(lvl, size)
    shift = TILE_HEIGHT * lvl
    if end == start:
        return []
    lo = start >> shift
    hi = min((end - 1) >> shift, count - 1)
    if hi < lo:
        return []
    return [
        TileRef(level, n, min(TILE_WIDTH, count - n * TILE_WIDTH))
        for n in range(lo // TILE_WIDTH, hi // TILE_WIDTH + 1)
    ]


def tiles_for_size(level: int | None, size: int) -> list[TileRef]:
    """Return every tile at ``level`` (None: entry bundles) of a tree of ``size`` leaves."""
    return tiles_for_range(level, 0, size, size)


def level_hashes(leaf_hashes: Sequence[bytes], level: int) -> list[bytes]:
    """Return the tile hashes at ``level`` for ``leaf_hashes`` (which start at a multiple of
    ``256**level``): the roots of each complete group of ``256**level`` leaves, in order.

    ``level_hashes(leaves[N*256**(L+1):(N+1)*256**(L+1)], L)`` is the content of tile ``N`` at
    level ``L`` (partial when fewer leaves exist).
    """
    if not 0 <= level <= MAX_LEVEL:
        raise ValueError(f"tile level must be in 0..{MAX_LEVEL}, got {level}")
    return perfect_roots(leaf_hashes, TILE_HEIGHT * level)


def node_reader_from_tiles(read: Callable[[int, int, int], Sequence[bytes]]) -> NodeReader:
    """Adapt stored tile hashes to a merkle :data:`NodeReader`.

    ``read(tile_level, first, count)`` returns ``count`` consecutive stored hashes of tile level
    ``tile_level`` starting at position ``first`` (position ``p`` is hash ``p % 256`` of tile
    ``p // 256``). A tree node at height ``8*L + r`` is the root of ``2**r`` such hashes, as in
    ``golang.org/x/mod/sumdb/tlog.TileHashReader``.
    """

    def node(height: int, index: int) -> bytes:
        tile_level, r = divmod(height, TILE_HEIGHT)
        count = 1 << r
        hashes = read(tile_level, index << r, count)
        if len(hashes) != count:
            raise ValueError(
                f"tile reader returned {len(hashes)} hashes for level {tile_level} "
                f"at {index << r}, expected {count}"
            )
        return root(hashes)

    return node
