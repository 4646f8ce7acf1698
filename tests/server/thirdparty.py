"""A third party's check of a served log, using only HTTP and ``auditlens.core``.

It trusts nothing the server says beyond what the signed checkpoint commits to: it verifies the
checkpoint's signature and origin, downloads every entry bundle, re-hashes every entry, checks
the root of those leaves against the checkpoint, and checks the served hash tiles (level 0 and
above) against the same root.
"""

from __future__ import annotations

import httpx

from auditlens.core import merkle, note
from auditlens.core.canonical import loads_canonical
from auditlens.core.checkpoint import Checkpoint
from auditlens.core.errors import Code, VerificationError
from auditlens.core.tiles import (
    TILE_HEIGHT,
    decode_entry_bundle,
    decode_hash_tile,
    node_reader_from_tiles,
    tiles_for_size,
)
from auditlens.core.validation import validate_event


def fetch_checkpoint(
    http: httpx.Client, headers: dict[str, str], origin: str, vkey: str
) -> Checkpoint:
    r = http.get("/v1/log/checkpoint", headers=headers)
    r.raise_for_status()
    return note.verify_checkpoint(r.text, vkey, origin)


def verify_log(
    http: httpx.Client, headers: dict[str, str], origin: str, vkey: str, min_index: int = 0
) -> Checkpoint:
    """Verify the whole served log; raise VerificationError on any mismatch."""
    cp = fetch_checkpoint(http, headers, origin, vkey)
    leaves: list[bytes] = []
    for ref in tiles_for_size(None, cp.size):
        if ref.first < min_index:
            r = http.get(f"/v1/log/{ref.path}", headers=headers)
            assert r.status_code == 410, r.text
            hashes = http.get(f"/v1/log/tile/0/{ref.path.split('/', 2)[2]}", headers=headers)
            hashes.raise_for_status()
            leaves.extend(decode_hash_tile(hashes.content, ref.width))
            continue
        r = http.get(f"/v1/log/{ref.path}", headers=headers)
        r.raise_for_status()
        for body in decode_entry_bundle(r.content, ref.width):
            validate_event(loads_canonical(body))
            leaves.append(merkle.leaf_hash(body))
    if merkle.root(leaves) != cp.root:
        raise VerificationError(Code.EVENT_MODIFIED, "the entries do not hash to the signed root")

    def read(level: int, first: int, count: int) -> list[bytes]:
        out: list[bytes] = []
        while count:
            n, offset = divmod(first, 256)
            width = min(256, (cp.size >> (TILE_HEIGHT * level)) - n * 256)
            path = f"tile/{level}/{n:03d}" if n < 1000 else None
            assert path is not None, "test logs stay below 256,000 tiles"
            if width < 256:
                path += f".p/{width}"
            r = http.get(f"/v1/log/{path}", headers=headers)
            r.raise_for_status()
            tile = decode_hash_tile(r.content, width)
            take = tile[offset : offset + count]
            out.extend(take)
            first += len(take)
            count -= len(take)
        return out

    if merkle.root_from(node_reader_from_tiles(read), cp.size) != cp.root:
        raise VerificationError(
            Code.EVENT_MODIFIED, "the hash tiles do not lead to the signed root"
        )
    return cp
