"""Checks of the entries a sync fetches: bundle shape, hashing and parsing, locating a mismatch.

The hot loop (:func:`hash_and_parse`) re-hashes every fetched entry into the compact range and
derives its mirror row; whether the bytes are the signed ones is decided by the caller's root
or consistency check, and :func:`locate_mismatch` then names the entries that differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import sha256

import orjson

from auditlens.client.errors import ProtocolError
from auditlens.client.tilefetch import HashTiles
from auditlens.core import merkle, tiles
from auditlens.core.errors import (
    Code,
    Finding,
    FormatError,
    VerificationError,
    compress_ranges,
    format_ranges,
)
from auditlens.mirror import search
from auditlens.mirror.writer import EntryRow, MalformedEntryError, extract_row

_LEAF_PREFIX = b"\x00"
_TILE_NODE_LEVEL = tiles.TILE_HEIGHT  # the level-8 node = root of one 256-entry tile


def decode_bundle(ref: tiles.TileRef, data: bytes) -> list[bytes]:
    first = ref.n * tiles.TILE_WIDTH
    try:
        raws = tiles.decode_entry_bundle(data)
    except FormatError as exc:
        raise VerificationError(
            Code.PROOF_MALFORMED,
            f"The server's entry bundle {ref.path} is malformed: {exc}",
            ranges=[(first, first + ref.width - 1)],
        ) from None
    if len(raws) < ref.width:
        raise VerificationError(
            Code.EVENT_MISSING,
            f"The server's entry bundle {ref.path} holds {len(raws)} entries where the signed "
            f"tree has {ref.width}.",
            ranges=[(first + len(raws), first + ref.width - 1)],
        )
    if len(raws) > ref.width:
        raise VerificationError(
            Code.EVENT_INSERTED,
            f"The server's entry bundle {ref.path} holds {len(raws)} entries where the signed "
            f"tree has {ref.width}.",
            ranges=[(first + ref.width, first + len(raws) - 1)],
        )
    return raws


def hash_and_parse(  # noqa: PLR0917 (the hot loop: positional on purpose)
    raws: Sequence[bytes],
    first: int,
    skip: int,
    crange: merkle.CompactRange,
    leaves: bytearray,
    prune_events: list[int],
    malformed: list[tuple[int, str]],
) -> tuple[list[EntryRow], list[tuple[int, bytes]], list[tuple[int, str]]]:
    """Hash entries ``raws[skip:]`` (leaf ``first + i``) into ``crange`` and build their rows.

    Returns the rows, the completed level-8 nodes (the roots of whole tiles) and the text the
    free-text index takes of each row (from the event parsed here, not parsed again). An entry that
    is not a valid event is recorded in ``malformed`` and hashing goes on: whether its bytes are
    the signed ones (else EVENT_MODIFIED) is decided by the root check, which comes first.
    """
    rows: list[EntryRow] = []
    tile_nodes: list[tuple[int, bytes]] = []
    texts: list[tuple[int, str]] = []
    loads = orjson.loads
    text_of_event = search.text_of_event
    append = crange.append
    for i in range(skip, len(raws)):
        raw = raws[i]
        index = first + i
        leaf = sha256(_LEAF_PREFIX + raw).digest()
        leaves += leaf
        for level, node_index, node_hash in append(leaf):
            if level == _TILE_NODE_LEVEL:
                tile_nodes.append((node_index, node_hash))
        try:
            event = loads(raw)
            row = extract_row(index, raw, event)
        except orjson.JSONDecodeError as exc:
            malformed.append((index, f"entry {index} of the signed log is not JSON ({exc})"))
            continue
        except MalformedEntryError as exc:
            malformed.append((index, str(exc)))
            continue
        if row[3] == "audit.retention_pruned":
            body = event.get("event")
            covered = body.get("min_index") if isinstance(body, dict) else None
            if isinstance(covered, int):
                prune_events.append(covered - 1)  # the last pruned index
        rows.append(row)
        texts.append((index, text_of_event(event)))
    return rows, tile_nodes, texts


def locate_mismatch(
    hash_tiles: HashTiles,
    base: merkle.CompactRange,
    leaves: bytes,
    reproduces: Callable[[merkle.CompactRange], bool],
    checkpoint_size: int,
) -> VerificationError:
    """Name the entries after ``base`` whose bytes do not hash to what the signed tree holds.

    ``leaves`` are the leaf hashes this sync computed for them; the server's level-0 hash tiles
    say what the tree records. Those are evidence only if, appended to ``base``, they pass
    ``reproduces`` (the root or consistency check the fetched bytes failed); else the whole
    range is reported.
    """
    start, end = base.size, base.size + len(leaves) // 32
    whole = VerificationError(
        Code.EVENT_MODIFIED,
        f"The entries {start}-{end - 1} do not hash to the root of the signed checkpoint "
        f"of size {checkpoint_size}: at least one was modified. Nothing was stored.",
        ranges=[(start, end - 1)],
    )
    try:
        recorded = hash_tiles.leaf_hashes(start, end)
    except Exception:
        return whole
    ours = [leaves[i : i + 32] for i in range(0, len(leaves), 32)]
    if len(ours) != len(recorded):
        return whole
    bad = [start + i for i, (a, b) in enumerate(zip(ours, recorded, strict=True)) if a != b]
    if not bad:
        return whole
    check = base.copy()
    check.extend(recorded)
    if not reproduces(check):
        return whole
    where = format_ranges(compress_ranges(bad))
    if len(bad) > 1 and {ours[i - start] for i in bad} == {recorded[i - start] for i in bad}:
        return VerificationError(
            Code.EVENT_REORDERED,
            f"The server served entries {where} in a different order than its signed "
            f"checkpoint of size {checkpoint_size} records them. Nothing was stored.",
            indexes=bad,
        )
    return VerificationError(
        Code.EVENT_MODIFIED,
        f"The server served entries whose bytes differ from what its signed checkpoint of "
        f"size {checkpoint_size} records (indexes {where}). Nothing was stored.",
        indexes=bad,
    )


def malformed_error(malformed: Sequence[tuple[int, str]]) -> VerificationError:
    """PROOF_MALFORMED over signed entries that are not events (their bytes verified)."""
    more = f" (and {len(malformed) - 1} more)" if len(malformed) > 1 else ""
    return VerificationError(
        Code.PROOF_MALFORMED,
        f"The signed log holds entries that are not valid events: "
        f"{malformed[0][1]}{more}. Nothing was stored.",
        indexes=[i for i, _ in malformed],
    )


# -- gaps (pruned ranges never held by this mirror) ------------------------------------------------

Gaps = list[tuple[int, int, list[bytes]]]


def load_gaps(text: str | None) -> Gaps:
    if not text:
        return []
    try:
        items = orjson.loads(text)
        return [(int(a), int(b), [bytes.fromhex(h) for h in hs]) for a, b, hs in items]
    except (orjson.JSONDecodeError, TypeError, ValueError):
        raise ProtocolError("The mirror's record of pruned ranges is damaged") from None


def dump_gaps(gaps: Gaps) -> str:
    return orjson.dumps([[a, b, [h.hex() for h in hs]] for a, b, hs in gaps]).decode()


def check_old_entries(first: int, raws: Sequence[bytes], stored: dict[int, bytes]) -> None:
    """Entries re-fetched with a partial tile must be the bytes verified before."""
    changed = [
        first + i
        for i, raw in enumerate(raws)
        if (first + i) in stored and stored[first + i] != raw
    ]
    if changed:
        raise VerificationError(
            Code.EVENT_MODIFIED,
            "The server now serves different bytes for entries this mirror verified before. "
            "Nothing was stored.",
            indexes=changed,
        )


def pruned_finding(pruned: tuple[int, int], prune_events: Sequence[int]) -> Finding:
    """PRUNED_BY_POLICY when a verified retention event covers the gap, else EVENT_MISSING."""
    lo, hi = pruned
    if any(last_pruned >= hi for last_pruned in prune_events):
        return Finding.over(
            Code.PRUNED_BY_POLICY,
            f"Entries {lo}-{hi} were removed by the server's retention policy, as a signed "
            "audit.retention_pruned event records.",
            [pruned],
        )
    return Finding.over(
        Code.EVENT_MISSING,
        f"Entries {lo}-{hi} are no longer served and no signed audit.retention_pruned event "
        "covers them: they are missing.",
        [pruned],
    )
