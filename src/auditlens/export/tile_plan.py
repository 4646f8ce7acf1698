"""Which entries an export re-hashes and which stored tile roots stand in for the others.

A pure plan over ``[prefix, N)`` (see "What is re-hashed" in :mod:`auditlens.export.writer`):
complete 256-entry tiles holding no exported event are covered by their stored root, everything
else is re-hashed from the stored bytes, consecutive ranges merged so entries are read in long
runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from auditlens.core.tiles import TILE_WIDTH

Segment = tuple[int, int, bytes | None]
"""``(start, stop, node)``: re-hash the entries ``[start, stop)`` (``node`` None), or take
``node`` as the stored root of the complete tile ``[start, stop)``."""


def verification_plan(
    prefix_size: int,
    tree_size: int,
    exported_tiles: Iterable[int],
    stored: Mapping[int, bytes],
) -> Iterator[Segment]:
    """Split ``[prefix_size, tree_size)`` into what is re-hashed and what stored roots cover.

    A complete tile (256 entries, wholly above the prefix) with no exported event and a stored
    root is covered by that root; everything else (tiles with exported events, tiles without a
    stored root, the last incomplete tile, a tile cut by the prefix) is re-hashed, consecutive
    ones merged into one range so the entries are read in long runs.
    """
    exported = set(exported_tiles)
    run_start: int | None = None
    pos = prefix_size
    while pos < tree_size:
        tile = pos // TILE_WIDTH
        end = min(tree_size, (tile + 1) * TILE_WIDTH)
        whole = pos == tile * TILE_WIDTH and end - pos == TILE_WIDTH
        node = stored.get(tile) if whole and tile not in exported else None
        if node is None:
            if run_start is None:
                run_start = pos
        else:
            if run_start is not None:
                yield run_start, pos, None
                run_start = None
            yield pos, end, node
        pos = end
    if run_start is not None:
        yield run_start, tree_size, None
