"""Fetching tiles for the sync: entry bundles prefetched in order, hash tiles on demand.

:class:`EntryTileFetcher` keeps a few requests in flight on worker threads (network waits
release the GIL) while the sync engine hashes and parses the tile before, and yields bundles
strictly in index order. :class:`HashTiles` reads the server's hash tiles for the rare paths that
need tree nodes without their leaves: the frontier at a pruned ``min_index`` and locating a
modified entry. Nothing here is trusted on its own; the sync engine authenticates every hash it
uses against the signed root.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from auditlens.client.api import AuditApiClient
from auditlens.client.errors import ProtocolError
from auditlens.core import tiles
from auditlens.core.errors import FormatError
from auditlens.core.tiles import TileRef


class EntryTileFetcher:
    """Yields ``(ref, bundle bytes)`` for ``refs`` in order, fetching up to ``window`` ahead."""

    def __init__(
        self,
        client: AuditApiClient,
        refs: Sequence[TileRef],
        *,
        window: int = 12,
        workers: int = 3,
        cancel: threading.Event | None = None,
    ) -> None:
        self._client = client
        self._refs = list(refs)
        self._window = max(1, window)
        self._cancel = cancel
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tile-fetch")

    def _fetch(self, ref: TileRef) -> bytes:
        if self._cancel is not None and self._cancel.is_set():
            return b""
        return self._client.entries_tile(ref.n, ref.width)

    def __iter__(self) -> Iterator[tuple[TileRef, bytes]]:
        pending: deque[tuple[TileRef, Future[bytes]]] = deque()
        refs = iter(self._refs)
        try:
            for ref in refs:
                pending.append((ref, self._pool.submit(self._fetch, ref)))
                if len(pending) >= self._window:
                    break
            while pending:
                ref, future = pending.popleft()
                data = future.result()
                nxt = next(refs, None)
                if nxt is not None:
                    pending.append((nxt, self._pool.submit(self._fetch, nxt)))
                yield ref, data
        finally:
            for _, future in pending:
                future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class HashTiles:
    """The server's hash tiles of a tree of ``tree_size`` leaves, fetched once and cached."""

    def __init__(self, client: AuditApiClient, tree_size: int) -> None:
        self._client = client
        self._size = tree_size
        self._cache: dict[tuple[int, int], list[bytes]] = {}

    def tile(self, level: int, n: int) -> list[bytes]:
        """The hashes of tile ``n`` at ``level`` (partial at the right edge of the tree)."""
        key = (level, n)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        count = self._size >> (tiles.TILE_HEIGHT * level)
        width = min(tiles.TILE_WIDTH, count - n * tiles.TILE_WIDTH)
        if width <= 0:
            raise ValueError(f"tile {n} at level {level} is outside a tree of {self._size}")
        data = self._client.tile(level, n, width)
        try:
            hashes = tiles.decode_hash_tile(data, width)
        except FormatError as exc:
            raise ProtocolError(f"The server's hash tile {level}/{n}: {exc}") from None
        self._cache[key] = hashes
        return hashes

    def read(self, tile_level: int, first: int, count: int) -> list[bytes]:
        """``count`` consecutive stored hashes of ``tile_level`` from position ``first``."""
        out: list[bytes] = []
        pos = first
        while len(out) < count:
            n, offset = divmod(pos, tiles.TILE_WIDTH)
            chunk = self.tile(tile_level, n)[offset : offset + count - len(out)]
            if not chunk:
                raise ProtocolError(f"The server's hash tile {tile_level}/{n} is too short")
            out.extend(chunk)
            pos += len(chunk)
        return out

    def node(self, height: int, index: int) -> bytes:
        """The hash of the perfect subtree at ``height`` (0 = leaf) and ``index``."""
        return tiles.node_reader_from_tiles(self.read)(height, index)

    def frontier(self, size: int) -> list[bytes]:
        """The compact range of the first ``size`` leaves: one subtree root per set bit."""
        return [
            self.node(k, (size >> k) - 1)
            for k in range(size.bit_length() - 1, -1, -1)
            if size >> k & 1
        ]

    def leaf_hashes(self, start: int, end: int) -> list[bytes]:
        """The leaf hashes the server records for ``[start, end)``."""
        return self.read(0, start, end - start)
