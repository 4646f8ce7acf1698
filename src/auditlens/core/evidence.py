"""Export evidence (``auditlens-evidence/2``): its format, how it is built, how it is verified.

The normative specification is docs/evidence-format.md; this docstring summarizes it for the
code. Version 1 files (no ``completeness`` member) are still read and verified.

An auditlens export (JSON, NDJSON or CSV) carries *evidence*: what a third party needs to check
offline, with nothing but the log server's public key, that every exported event is an event of
the signed log, at the index claimed, unchanged, and in log order. This module is pure (no I/O):
the export writers feed it leaf hashes, the verifier feeds it what it read from a file, and it
returns findings with the stable codes of :mod:`auditlens.core.errors`.

The evidence object (JSON; all fields required unless marked optional)
-----------------------------------------------------------------------
``format``             ``"auditlens-evidence/2"`` (``/1`` still read).
``auditlens_version``  version of the exporting auditlens.
``exported_at``        export time, RFC 3339 UTC with milliseconds and ``Z``.
``filter``             JSON object: the filter (or selection) as the investigator gave it.
``origin``             the log's origin (first line of the checkpoint).
``vkey``               the log server's signed-note verifier key. A HINT only: anyone can put
                       any key here, so a verifier must check the checkpoint against a key it
                       got from elsewhere (``auditlens verify --vkey``).
``checkpoint``         the signed checkpoint note (C2SP tlog-checkpoint + signed-note, Ed25519)
                       every proof leads to.
``tree_size``          the checkpoint's tree size N (repeated for readers; must equal it).
``count``              number of exported events n.
``indexes``            the log indexes of the events, in export (= log) order, as inclusive runs
                       ``[[first, last], ...]``: strictly increasing, non-overlapping, all < N.
                       The i-th event of the data is the i-th index of the expanded runs.
``leaf_hashes``        standard padded base64 of the concatenated 32-byte RFC 9162 leaf hashes
                       ``SHA-256(0x00 || bytes)`` of the n events, in the same order; ``bytes``
                       is the event's RFC 8785 canonical JSON (exactly the bytes the log holds).
``nodes``              standard padded base64 of concatenated 32-byte hashes: the multi-proof
                       (see below). Empty string when none are needed.
``data_file``          optional; present for sidecar evidence (CSV and NDJSON exports):
                       ``{name, format: "csv" | "ndjson", sha256: lowercase hex of the whole data
                       file, bytes: its size, columns: [CSV header names] (CSV only)}``.
``users``              optional; CSV only: ``{user_id: email}`` used for the ``user_email``
                       column. Emails come from the organization's directory, NOT from the
                       signed log: they are checked for consistency only.
``completeness``       version 2, required: the server's ``audit.exported`` record with its
                       inclusion proof (:mod:`auditlens.core.completeness`), or ``null`` when
                       the export was not recorded (offline, ``--no-record``).

The multi-proof (``nodes``)
---------------------------
Per-event RFC 9162 inclusion proofs repeat the same upper nodes: 1,000,000 events x ~20 hashes
would be ~900 MB of base64. Instead the evidence stores each needed node once. Let
``p_1 < ... < p_n`` be the exported indexes. The leaves that are *not* exported form gaps
``[0, p_1)``, ``[p_i + 1, p_{i+1})`` and ``[p_n + 1, N)`` (all of ``[0, N)`` when n = 0;
empty gaps are skipped). Each gap ``[a, b)`` is split greedily, left to right, into maximal
perfect aligned subtrees: at position ``a`` take the largest ``k`` with ``a`` a multiple of
``2**k`` (any ``k`` when ``a == 0``) and ``a + 2**k <= b``; that node covers
``[a, a + 2**k)``; continue at ``a + 2**k``. ``nodes`` holds the hash of each such node, gap
by gap, left to right. Its length must be exactly 32 times the number of nodes so defined.

To verify, lay the pieces out left to right: the gap nodes and the exported leaf hashes tile
``[0, N)`` exactly. Push them in that order onto a stack of ``(level, index, hash)``; after each
push, while the top two entries have the same level, the lower one is the left sibling
(``index`` even, and the upper one's index is ``index + 1``), replace them by their parent
``(level + 1, index / 2, SHA-256(0x01 || left || right))``. At the end the stack holds the
perfect subtrees of ``[0, N)``, largest first; fold them right to left
(``h = SHA-256(0x01 || stack[i] || h)``) to get the RFC 9162 root, which must equal the
checkpoint's root (the empty tree's root is ``SHA-256("")``). Any single event's standard
inclusion proof can be derived from the same pieces (:func:`inclusion_proof`).

Size: a full export of 1,000,000 events needs no nodes at all and ~43 MB of leaf hashes; a
filtered export needs about two nodes per gap of typical size, far fewer than per-event proofs.

What the verifier decides (and why)
-----------------------------------
1. The checkpoint must verify against the trusted key given by the user, for ``origin``
   (UNTRUSTED_KEY, CHECKPOINT_BAD_SIGNATURE, ORIGIN_MISMATCH). Without a trusted key the file's
   own ``vkey`` is used, and the result is never "verified": that only shows the file agrees
   with itself.
2. ``leaf_hashes`` + ``nodes`` must lead to the signed root (INCLUSION_FAILED otherwise, over
   every exported index: the evidence was altered, and no event of the export can be trusted).
   When they do, every recorded leaf hash is authentic, so:
3. each event's own leaf hash is compared with the recorded one at its position. Events are
   matched to recorded hashes by value, which tells apart a changed event (EVENT_MODIFIED, at
   its index), a removed one (EVENT_MISSING, every such index), a fabricated or duplicated one
   (EVENT_INSERTED) and events out of log order (EVENT_REORDERED, the indexes out of place).

4. every exported event matches the filter the export answers (FILTER_MISMATCH), and, when the
   evidence carries the server's completeness record, the record is in the log and its count
   and digest equal the exported events' (EVENTS_OMITTED, EVENTS_ADDED): see
   :mod:`auditlens.core.completeness`.

What the evidence cannot show without that record: that an export holds *every* event matching
its filter (the non-matching events are not in the file). Never: who made the file, its
``exported_at`` or its ``users`` (the exporter's statements; the record says who recorded it).
"""

from __future__ import annotations

import base64
import binascii
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Literal

import orjson

from auditlens.core.checkpoint import Checkpoint
from auditlens.core.completeness import (
    Completeness,
    CompletenessResult,
    FilterCheck,
    check_completeness,
    check_filter,
    stated_filter,
)
from auditlens.core.errors import (
    Code,
    Finding,
    FormatError,
    VerificationError,
    format_ranges,
    merge_ranges,
)
from auditlens.core.merkle import EMPTY_ROOT, HASH_SIZE, inclusion_proof_from
from auditlens.core.note import verify_checkpoint

__all__ = [
    "FORMAT",
    "BuiltProof",
    "DataFile",
    "Evidence",
    "EvidenceBuilder",
    "Report",
    "Step",
    "evidence_root",
    "gap_nodes",
    "inclusion_proof",
    "match_events",
    "parse_evidence",
    "runs_of",
    "verify_evidence",
]

FORMAT = "auditlens-evidence/2"
"""The ``format`` value of the evidence this auditlens writes."""
FORMAT_V1 = "auditlens-evidence/1"
"""The first version (no ``completeness``); still read and verified."""
_VERSIONS = {FORMAT_V1: 1, FORMAT: 2}

_NODE_PREFIX = b"\x01"
_MAX_BLOCK_LEVEL = 16
"""Largest block hashed level by level in one go (bounds the temporary list to 64k hashes)."""

_DATA_FORMATS = ("csv", "ndjson")


# ----------------------------------------------------------------------------------------------
# Index runs and the gap decomposition


def runs_of(indexes: Iterable[int]) -> list[tuple[int, int]]:
    """Return ascending ``indexes`` as inclusive runs; raise ValueError unless strictly rising."""
    runs: list[tuple[int, int]] = []
    for i in indexes:
        if runs and i <= runs[-1][1]:
            raise ValueError(f"indexes must be strictly increasing: {i} after {runs[-1][1]}")
        if runs and i == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _blocks(start: int, end: int, cap: int | None = None) -> Iterator[tuple[int, int]]:
    """Yield ``(level, first_leaf)`` of the maximal aligned perfect subtrees tiling [start, end).

    ``cap`` bounds the level (the pieces then merge on a stack); ``None`` is the normative,
    uncapped split of a gap.
    """
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        if cap is not None:
            level = min(level, cap)
        yield level, start
        start += 1 << level


def gap_nodes(start: int, end: int) -> list[tuple[int, int]]:
    """Return the ``(level, index)`` of the nodes that stand for the gap [start, end)."""
    return [(level, first >> level) for level, first in _blocks(start, end)]


def _gaps(runs: Sequence[tuple[int, int]], tree_size: int) -> Iterator[tuple[int, int]]:
    prev = 0
    for first, last in runs:
        if first > prev:
            yield prev, first
        prev = last + 1
    if tree_size > prev:
        yield prev, tree_size


def _node_count(runs: Sequence[tuple[int, int]], tree_size: int) -> int:
    return sum(sum(1 for _ in _blocks(a, b)) for a, b in _gaps(runs, tree_size))


def _index_array(runs: Sequence[tuple[int, int]]) -> array[int]:
    out: array[int] = array("q")
    for first, last in runs:
        out.extend(range(first, last + 1))
    return out


# ----------------------------------------------------------------------------------------------
# The stack of perfect subtrees (shared by the builder and the verifier)


def _hash_pairs(level: Sequence[bytes]) -> list[bytes]:
    it = iter(level)
    prefix = _NODE_PREFIX
    return [sha256(prefix + a + b).digest() for a, b in zip(it, it, strict=False)]


class _Stack:
    """Perfect subtrees of a contiguous range, pushed left to right and merged when siblings."""

    __slots__ = ("hashes", "indexes", "levels")

    def __init__(self) -> None:
        self.levels: list[int] = []
        self.indexes: list[int] = []
        self.hashes: list[bytes] = []

    def push(self, level: int, index: int, h: bytes) -> None:
        levels, indexes, hashes = self.levels, self.indexes, self.hashes
        while index & 1 and levels and levels[-1] == level and indexes[-1] == index - 1:
            h = sha256(_NODE_PREFIX + hashes.pop() + h).digest()
            levels.pop()
            indexes.pop()
            level += 1
            index >>= 1
        levels.append(level)
        indexes.append(index)
        hashes.append(h)

    def push_leaves(self, start: int, leaves: Sequence[bytes]) -> None:
        """Push consecutive leaf hashes starting at leaf ``start`` (hashed level by level)."""
        offset = 0
        for level, first in _blocks(start, start + len(leaves), _MAX_BLOCK_LEVEL):
            size = 1 << level
            block = leaves[offset : offset + size]
            offset += size
            for _ in range(level):
                block = _hash_pairs(block)
            self.push(level, first >> level, block[0])

    def drain(self) -> list[tuple[int, int, bytes]]:
        out = list(zip(self.levels, self.indexes, self.hashes, strict=True))
        self.levels, self.indexes, self.hashes = [], [], []
        return out

    def fold(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for h in reversed(self.hashes[:-1]):
            acc = sha256(_NODE_PREFIX + h + acc).digest()
        return acc


def _split_hashes(data: bytes, start: int, count: int) -> list[bytes]:
    """Return ``count`` 32-byte hashes of ``data`` from hash number ``start``."""
    base = start * HASH_SIZE
    return [data[i : i + HASH_SIZE] for i in range(base, base + count * HASH_SIZE, HASH_SIZE)]


def evidence_root(
    tree_size: int, runs: Sequence[tuple[int, int]], leaf_hashes: bytes, nodes: bytes
) -> bytes:
    """Return the tree root the exported leaf hashes and the multi-proof nodes lead to.

    Raises VerificationError(PROOF_MALFORMED) when the number of hashes is not what the indexes
    and the tree size demand (see the module docstring for the algorithm).
    """
    count = sum(last - first + 1 for first, last in runs)
    if len(leaf_hashes) != count * HASH_SIZE:
        raise VerificationError(
            Code.PROOF_MALFORMED,
            f"leaf_hashes holds {len(leaf_hashes) / HASH_SIZE:g} hashes for {count} events",
        )
    if runs and runs[-1][1] >= tree_size:
        raise VerificationError(
            Code.PROOF_MALFORMED,
            f"index {runs[-1][1]} is not in the tree of size {tree_size}",
            indexes=[runs[-1][1]],
        )
    expected = _node_count(runs, tree_size)
    if len(nodes) != expected * HASH_SIZE:
        raise VerificationError(
            Code.PROOF_MALFORMED,
            f"the multi-proof holds {len(nodes) / HASH_SIZE:g} node hashes; the indexes and "
            f"tree size {tree_size} need exactly {expected}",
        )
    stack = _Stack()
    node_at = 0
    leaf_at = 0
    prev = 0
    for first, last in [*runs, (tree_size, tree_size - 1)]:
        for level, start in _blocks(prev, first):
            stack.push(level, start >> level, nodes[node_at : node_at + HASH_SIZE])
            node_at += HASH_SIZE
        # Long runs are pushed in slices so the list of leaf hashes stays small.
        pos = first
        while pos <= last:
            n = min(last + 1 - pos, 1 << _MAX_BLOCK_LEVEL)
            stack.push_leaves(pos, _split_hashes(leaf_hashes, leaf_at, n))
            leaf_at += n
            pos += n
        prev = last + 1
    return stack.fold()


def inclusion_proof(evidence: Evidence, position: int) -> list[bytes]:
    """Return the standard RFC 9162 inclusion proof of the ``position``-th exported event.

    For third parties and tests that want per-event proofs; it rebuilds nodes from the evidence
    (memory grows with the export), so it is meant for a few events, not for whole exports.
    """
    indexes = _index_array(evidence.indexes)
    if not 0 <= position < len(indexes):
        raise IndexError(f"position {position} is outside the {len(indexes)} exported events")
    pieces: dict[tuple[int, int], bytes] = {}
    for i, idx in enumerate(indexes):
        pieces[(0, idx)] = evidence.leaf_hashes[i * HASH_SIZE : (i + 1) * HASH_SIZE]
    node_at = 0
    for a, b in _gaps(evidence.indexes, evidence.tree_size):
        for level, index in gap_nodes(a, b):
            pieces[(level, index)] = evidence.nodes[node_at : node_at + HASH_SIZE]
            node_at += HASH_SIZE

    def node(level: int, index: int) -> bytes:
        h = pieces.get((level, index))
        if h is None:
            if level == 0:
                raise VerificationError(
                    Code.PROOF_MALFORMED, f"the evidence lacks the hash of leaf {index}"
                )
            h = sha256(
                _NODE_PREFIX + node(level - 1, 2 * index) + node(level - 1, 2 * index + 1)
            ).digest()
            pieces[(level, index)] = h
        return h

    return inclusion_proof_from(node, indexes[position], evidence.tree_size)


# ----------------------------------------------------------------------------------------------
# The evidence object


@dataclass(frozen=True)
class DataFile:
    """The data file a sidecar evidence vouches for (CSV or NDJSON)."""

    name: str
    format: str
    sha256: str
    bytes: int
    columns: tuple[str, ...] = ()

    def to_obj(self) -> dict[str, object]:
        obj: dict[str, object] = {
            "name": self.name,
            "format": self.format,
            "sha256": self.sha256,
            "bytes": self.bytes,
        }
        if self.format == "csv":
            obj["columns"] = list(self.columns)
        return obj


@dataclass(frozen=True)
class Evidence:
    """The parsed evidence object; see the module docstring for each field's meaning."""

    auditlens_version: str
    exported_at: str
    filter: Mapping[str, object]
    origin: str
    vkey: str
    checkpoint: str
    tree_size: int
    indexes: tuple[tuple[int, int], ...]
    leaf_hashes: bytes
    nodes: bytes
    data_file: DataFile | None = None
    users: Mapping[str, str] | None = None
    completeness: Completeness | None = None
    """Version 2: the log's ``audit.exported`` record and its proof; None = not attested."""
    version: int = 2

    @property
    def count(self) -> int:
        """Number of exported events."""
        return len(self.leaf_hashes) // HASH_SIZE

    def index_array(self) -> array[int]:
        """Every exported index, in order (8 bytes each)."""
        return _index_array(self.indexes)

    def _small_obj(self) -> dict[str, object]:
        obj: dict[str, object] = {
            "format": FORMAT if self.version == 2 else FORMAT_V1,
            "auditlens_version": self.auditlens_version,
            "exported_at": self.exported_at,
            "filter": dict(self.filter),
            "origin": self.origin,
            "vkey": self.vkey,
            "checkpoint": self.checkpoint,
            "tree_size": self.tree_size,
            "count": self.count,
        }
        if self.data_file is not None:
            obj["data_file"] = self.data_file.to_obj()
        if self.users is not None:
            obj["users"] = dict(self.users)
        if self.version == 2:
            obj["completeness"] = self.completeness.to_obj() if self.completeness else None
        obj["indexes"] = [[a, b] for a, b in self.indexes]
        return obj

    def to_obj(self) -> dict[str, object]:
        """Return the JSON-ready object; small fields first so ``head`` shows them."""
        obj = self._small_obj()
        obj["leaf_hashes"] = base64.b64encode(self.leaf_hashes).decode("ascii")
        obj["nodes"] = base64.b64encode(self.nodes).decode("ascii")
        return obj

    def json_chunks(self, chunk: int = 3 << 20) -> Iterator[bytes]:
        """Yield the JSON text of :meth:`to_obj` in pieces (same bytes as ``orjson.dumps``).

        A million-event export has ~43 MB of base64 leaf hashes; encoding it in 3 MB pieces
        (a multiple of 3 bytes, so the pieces concatenate to the same base64) keeps the
        exporter's memory flat.
        """
        if chunk % 3:
            raise ValueError("chunk must be a multiple of 3 bytes")
        yield orjson.dumps(self._small_obj())[:-1]
        for name, data in (("leaf_hashes", self.leaf_hashes), ("nodes", self.nodes)):
            yield f',"{name}":"'.encode()
            for i in range(0, len(data), chunk):
                yield base64.b64encode(data[i : i + chunk])
            yield b'"'
        yield b"}"

    @classmethod
    def from_obj(cls, obj: object) -> Evidence:
        """Parse an evidence object; raise FormatError naming the first field that is wrong."""
        if not isinstance(obj, dict):
            raise FormatError(f"evidence must be a JSON object, got {_kind(obj)}")
        fmt = obj.get("format")
        version = _VERSIONS.get(fmt) if isinstance(fmt, str) else None
        if version is None:
            raise FormatError(
                f"evidence format is {fmt!r:.60}; this auditlens reads {FORMAT!r} and {FORMAT_V1!r}"
            )
        if version == 2 and "completeness" not in obj:
            raise FormatError("evidence.completeness is required in version 2 (null if none)")
        if version == 1 and "completeness" in obj:
            raise FormatError("evidence.completeness does not exist in version 1")
        completeness = Completeness.from_obj(obj.get("completeness"))
        tree_size = _int(obj, "tree_size")
        runs = _runs(obj.get("indexes"), tree_size)
        count = _int(obj, "count")
        listed = sum(b - a + 1 for a, b in runs)
        if count != listed:
            raise FormatError(f"evidence.count is {count} but evidence.indexes lists {listed}")
        leaf_hashes = _b64(obj, "leaf_hashes")
        if len(leaf_hashes) != count * HASH_SIZE:
            raise FormatError(
                f"evidence.leaf_hashes holds {len(leaf_hashes)} bytes; {count} events need "
                f"{count * HASH_SIZE}"
            )
        nodes = _b64(obj, "nodes")
        if len(nodes) % HASH_SIZE:
            raise FormatError(f"evidence.nodes is not a whole number of {HASH_SIZE}-byte hashes")
        filt = obj.get("filter")
        if not isinstance(filt, dict):
            raise FormatError(f"evidence.filter must be an object, got {_kind(filt)}")
        users = obj.get("users")
        if users is not None and not (
            isinstance(users, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in users.items())
        ):
            raise FormatError("evidence.users must map user ids to email strings")
        return cls(
            auditlens_version=_str(obj, "auditlens_version"),
            exported_at=_str(obj, "exported_at"),
            filter=filt,
            origin=_str(obj, "origin"),
            vkey=_str(obj, "vkey"),
            checkpoint=_str(obj, "checkpoint"),
            tree_size=tree_size,
            indexes=tuple(runs),
            leaf_hashes=leaf_hashes,
            nodes=nodes,
            data_file=_data_file(obj.get("data_file")),
            users=users,
            completeness=completeness,
            version=version,
        )


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _str(obj: Mapping[str, object], name: str) -> str:
    value = obj.get(name)
    if not isinstance(value, str):
        raise FormatError(f"evidence.{name} must be a string, got {_kind(value)}")
    return value


def _int(obj: Mapping[str, object], name: str, where: str = "evidence") -> int:
    value = obj.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise FormatError(f"{where}.{name} must be a non-negative integer, got {value!r:.40}")
    return value


def _b64(obj: Mapping[str, object], name: str) -> bytes:
    text = _str(obj, name)
    try:
        raw = binascii.a2b_base64(text.encode("ascii"), strict_mode=True) if text else b""
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise FormatError(f"evidence.{name} is not valid base64: {exc}") from None
    return raw


def _runs(value: object, tree_size: int) -> list[tuple[int, int]]:
    if not isinstance(value, list):
        raise FormatError(f"evidence.indexes must be a list of [first, last], got {_kind(value)}")
    runs: list[tuple[int, int]] = []
    prev = -1
    for n, item in enumerate(value):
        if not (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in item)
        ):
            raise FormatError(f"evidence.indexes[{n}] must be [first, last] integers")
        first, last = item
        if first <= prev or last < first:
            raise FormatError(
                f"evidence.indexes[{n}] = [{first}, {last}] is not after the previous run "
                "(runs must be strictly increasing and not overlap)"
            )
        if last >= tree_size:
            raise FormatError(
                f"evidence.indexes[{n}] = [{first}, {last}] reaches beyond tree_size {tree_size}"
            )
        runs.append((first, last))
        prev = last
    return runs


def _data_file(value: object) -> DataFile | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise FormatError(f"evidence.data_file must be an object, got {_kind(value)}")
    fmt = _str(value, "format") if "format" in value else None
    if fmt not in _DATA_FORMATS:
        raise FormatError(f"evidence.data_file.format must be one of {_DATA_FORMATS}")
    digest = _str(value, "sha256")
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise FormatError("evidence.data_file.sha256 must be 64 lowercase hex digits")
    columns = value.get("columns", [])
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise FormatError("evidence.data_file.columns must be a list of column names")
    return DataFile(
        name=_str(value, "name"),
        format=fmt,
        sha256=digest,
        bytes=_int(value, "bytes", "evidence.data_file"),
        columns=tuple(columns),
    )


# ----------------------------------------------------------------------------------------------
# Building evidence while streaming the log (used by the exporter)


@dataclass(frozen=True)
class BuiltProof:
    """What :class:`EvidenceBuilder` produced: the multi-proof and the root it recomputed."""

    tree_size: int
    indexes: tuple[tuple[int, int], ...]
    leaf_hashes: bytes
    nodes: bytes
    root: bytes


class EvidenceBuilder:
    """Stream every leaf hash of the log once; collect the exported ones and the gap nodes.

    The exporter hashes the entries it re-verifies against the signed root anyway, so the
    multi-proof costs no extra pass: leaves of a gap merge on a small stack whose content
    becomes the gap's nodes when the gap ends. Where a whole aligned stretch of a gap has a
    known hash (a stored tile root), :meth:`add_subtree` adds it in place of its leaves.
    Memory: 32 bytes per exported event plus the nodes; nothing per skipped entry. ``prefix``
    lets a log whose first entries were pruned start from the frontier (perfect subtree
    hashes, largest first) of ``[0, prefix_size)``.
    """

    def __init__(self, tree_size: int, prefix_size: int = 0, prefix: Sequence[bytes] = ()) -> None:
        blocks = list(_blocks(0, prefix_size))
        if len(blocks) != len(prefix):
            raise ValueError(f"a prefix of {prefix_size} leaves needs {len(blocks)} hashes")
        if prefix_size > tree_size:
            raise ValueError(f"prefix {prefix_size} is larger than the tree ({tree_size})")
        self._tree_size = tree_size
        self._size = prefix_size
        self._global = _Stack()
        self._gap = _Stack()
        for (level, first), h in zip(blocks, prefix, strict=True):
            self._gap.push(level, first >> level, bytes(h))
        self._runs: list[tuple[int, int]] = []
        self._leaves = bytearray()
        self._nodes = bytearray()

    @property
    def size(self) -> int:
        """Leaves seen so far (the next ``add`` must start here)."""
        return self._size

    @property
    def count(self) -> int:
        """Exported leaves seen so far."""
        return len(self._leaves) // HASH_SIZE

    def add(self, start: int, leaves: Sequence[bytes], selected: Iterable[int]) -> None:
        """Add the leaf hashes of log entries ``start, start + 1, ...``.

        ``selected`` are the exported indexes among them, ascending.
        """
        if start != self._size:
            raise ValueError(f"leaves must arrive in order: expected {self._size}, got {start}")
        end = start + len(leaves)
        if end > self._tree_size:
            raise ValueError(f"leaf {end - 1} is beyond the tree size {self._tree_size}")
        pos = start
        run_first = -1
        run_last = -2
        for idx in selected:
            if not pos <= idx < end:
                raise ValueError(f"selected index {idx} is not in [{pos}, {end}) or not ascending")
            if idx == run_last + 1:
                run_last = idx
                continue
            if run_first >= 0:
                self._selected(run_first, leaves[run_first - start : run_last + 1 - start])
                pos = run_last + 1
            if idx > pos:
                self._gap.push_leaves(pos, leaves[pos - start : idx - start])
            run_first = run_last = idx
        if run_first >= 0:
            self._selected(run_first, leaves[run_first - start : run_last + 1 - start])
            pos = run_last + 1
        if end > pos:
            self._gap.push_leaves(pos, leaves[pos - start : end - start])
        self._size = end

    def add_subtree(self, level: int, node: bytes) -> None:
        """Add the hash of the perfect subtree of ``2**level`` leaves starting at :attr:`size`.

        For a stretch of the log with no exported event whose hash is already known (the
        mirror's stored root of a 256-entry tile is the level-8 node): it joins the current gap
        exactly as its leaves would have, so the nodes and the root are the same as if every
        leaf had been added. Nothing here trusts ``node``: a wrong one changes the root.
        """
        if level < 0:
            raise ValueError(f"a subtree level is >= 0, got {level}")
        width = 1 << level
        if self._size % width:
            raise ValueError(f"a level-{level} subtree cannot start at leaf {self._size}")
        if self._size + width > self._tree_size:
            raise ValueError(
                f"a level-{level} subtree at {self._size} reaches beyond the tree size "
                f"{self._tree_size}"
            )
        if len(node) != HASH_SIZE:
            raise ValueError(f"a node hash is {HASH_SIZE} bytes, got {len(node)}")
        self._gap.push(level, self._size >> level, bytes(node))
        self._size += width

    def _close_gap(self) -> None:
        for level, index, h in self._gap.drain():
            self._nodes += h
            self._global.push(level, index, h)

    def _selected(self, first: int, leaves: Sequence[bytes]) -> None:
        self._close_gap()
        self._global.push_leaves(first, leaves)
        for h in leaves:
            self._leaves += h
        last = first + len(leaves) - 1
        if self._runs and self._runs[-1][1] == first - 1:
            self._runs[-1] = (self._runs[-1][0], last)
        else:
            self._runs.append((first, last))

    def finish(self) -> BuiltProof:
        """Return the proof; raise ValueError unless every leaf of the tree was added."""
        if self._size != self._tree_size:
            raise ValueError(f"saw {self._size} of the tree's {self._tree_size} leaves")
        self._close_gap()
        return BuiltProof(
            tree_size=self._tree_size,
            indexes=tuple(self._runs),
            leaf_hashes=bytes(self._leaves),
            nodes=bytes(self._nodes),
            root=self._global.fold(),
        )


# ----------------------------------------------------------------------------------------------
# Verification


StepStatus = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Step:
    """One thing the verifier checked, for the report a person reads."""

    name: str
    status: StepStatus
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass
class Report:
    """The outcome of verifying one export: the steps, the findings, and whether it verified.

    ``key_trusted`` is False when no key was given and the file's own key hint was used: such a
    report never counts as verified, whatever it found.
    """

    steps: list[Step] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    key_trusted: bool = False
    checkpoint: Checkpoint | None = None
    evidence: Evidence | None = None
    events: int = 0
    key_name: str | None = None
    """The signed-note name of the key the checkpoint verified with (or was meant to)."""
    completeness: CompletenessResult | None = None
    """None: the export carries no attestation (offline, ``--no-record`` or version 1)."""

    def step(self, name: str, status: StepStatus, detail: str) -> None:
        self.steps.append(Step(name, status, detail))

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    @property
    def failures(self) -> list[Finding]:
        """Findings that mean the export does not verify (informational ones excluded)."""
        return [f for f in self.findings if not f.code.informational]

    @property
    def consistent(self) -> bool:
        """True when nothing failed (with a trusted key or only the file's hint)."""
        return not self.failures and not any(s.status == "failed" for s in self.steps)

    @property
    def verified(self) -> bool:
        """True only when nothing failed AND the checkpoint was checked with a trusted key."""
        return self.consistent and self.key_trusted

    @property
    def status(self) -> str:
        """``verified``, ``failed`` or ``unverified`` (consistent, but no trusted key given)."""
        if not self.consistent:
            return "failed"
        return "verified" if self.key_trusted else "unverified"

    @property
    def completeness_status(self) -> str:
        """``complete``, ``failed`` or ``not attested`` (the export carries no record)."""
        return self.completeness.status if self.completeness else "not attested"

    def to_dict(self) -> dict[str, object]:
        ev = self.evidence
        cp = self.checkpoint
        return {
            "status": self.status,
            "verified": self.verified,
            "key_trusted": self.key_trusted,
            "origin": cp.origin if cp else (ev.origin if ev else None),
            "tree_size": cp.size if cp else (ev.tree_size if ev else None),
            "root": cp.root.hex() if cp else None,
            "key_name": self.key_name,
            "events": self.events,
            "format": (FORMAT if ev.version == 2 else FORMAT_V1) if ev else None,
            "completeness": self.completeness_status,
            "completeness_detail": self.completeness.detail if self.completeness else None,
            "exported_at": ev.exported_at if ev else None,
            "filter": dict(ev.filter) if ev else None,
            "indexes": [list(r) for r in ev.indexes] if ev else [],
            "steps": [s.to_dict() for s in self.steps],
            "findings": [f.to_dict() for f in self.findings],
        }


def _position_label(position: int) -> str:
    return f"event #{position + 1}"


def _sample(labels: Sequence[str], limit: int = 5) -> str:
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return ", ".join(labels[:limit]) + more


def match_events(
    evidence: Evidence,
    leaves: bytes,
    unreadable: Mapping[int, str] | None = None,
    label: Callable[[int], str] = _position_label,
) -> list[Finding]:
    """Compare the events of a file (their leaf hashes, in file order) with the evidence.

    ``leaves`` holds 32 bytes per event; ``unreadable`` maps positions whose event could not be
    read (its slot in ``leaves`` is ignored) to why. Events are matched to recorded leaf hashes
    by value; an unmatched event between two matched neighbours pairs with an unmatched record
    between theirs (EVENT_MODIFIED); records left alone are EVENT_MISSING, events left alone
    EVENT_INSERTED, a second copy of a matched event EVENT_INSERTED at that event's index, and
    matched events not in rising order EVENT_REORDERED.
    """
    unreadable = unreadable or {}
    recorded = evidence.leaf_hashes
    if leaves == recorded and not unreadable:
        return []
    n = len(leaves) // HASH_SIZE
    m = evidence.count
    indexes = evidence.index_array()
    by_hash: dict[bytes, int] = {}
    for q in range(m):
        by_hash.setdefault(recorded[q * HASH_SIZE : (q + 1) * HASH_SIZE], q)
    used = bytearray(m)
    matched: list[int] = [-1] * n
    duplicates: list[tuple[int, int]] = []
    lone: list[int] = []
    for p in range(n):
        q = -1 if p in unreadable else by_hash.get(leaves[p * HASH_SIZE : (p + 1) * HASH_SIZE], -1)
        if q < 0:
            lone.append(p)
        elif used[q]:
            duplicates.append((p, q))
        else:
            used[q] = 1
            matched[p] = q
    findings: list[Finding] = []

    # Reordering: the matched records, in file order, must rise.
    order = [q for q in matched if q >= 0]
    rising = sorted(order)
    out_of_place = [indexes[q] for q, s in zip(order, rising, strict=True) if q != s]
    if out_of_place:
        findings.append(
            Finding.at(
                Code.EVENT_REORDERED,
                f"{len(out_of_place)} event(s) are not in log order: each is authentic, but "
                "the file lists them in another order than the log",
                out_of_place,
            )
        )

    # Pair each lone event with a free record between its matched neighbours' records.
    free = [q for q in range(m) if not used[q]]
    prev_q = [-1] * n
    last = -1
    for p in range(n):
        prev_q[p] = last
        if matched[p] >= 0:
            last = matched[p]
    next_q = [m] * n
    last = m
    for p in range(n - 1, -1, -1):
        next_q[p] = last
        if matched[p] >= 0:
            last = matched[p]
    modified: list[tuple[int, int]] = []
    inserted: list[int] = []
    for p in lone:
        lo = bisect_right(free, prev_q[p])
        if lo < len(free) and free[lo] < next_q[p]:
            modified.append((p, free.pop(lo)))
        else:
            inserted.append(p)
    if modified:
        parts = []
        for p, q in modified[:5]:
            why = unreadable.get(p)
            parts.append(f"{label(p)} (index {indexes[q]})" + (f": {why}" if why else ""))
        findings.append(
            Finding.at(
                Code.EVENT_MODIFIED,
                f"{len(modified)} event(s) differ from the bytes the log signed: "
                + _sample(parts, 5),
                (indexes[q] for _, q in modified),
            )
        )
    if free:
        missing = [indexes[q] for q in free]
        findings.append(
            Finding.at(
                Code.EVENT_MISSING,
                f"{len(missing)} event(s) listed in the evidence are not in the file",
                missing,
            )
        )
    if inserted:
        labels = [label(p) + (f" ({unreadable[p]})" if p in unreadable else "") for p in inserted]
        findings.append(
            Finding.at(
                Code.EVENT_INSERTED,
                f"{len(inserted)} event(s) in the file have no evidence (not part of this "
                f"signed export): {_sample(labels)}",
            )
        )
    if duplicates:
        labels = [f"{label(p)} repeats index {indexes[q]}" for p, q in duplicates]
        findings.append(
            Finding.at(
                Code.EVENT_INSERTED,
                f"{len(duplicates)} duplicate event(s): {_sample(labels)}",
                (indexes[q] for _, q in duplicates),
            )
        )
    return findings


def verify_evidence(
    evidence: Evidence,
    leaves: bytes,
    vkeys: Sequence[str] | None,
    *,
    origin: str | None = None,
    unreadable: Mapping[int, str] | None = None,
    label: Callable[[int], str] = _position_label,
    report: Report | None = None,
    filter_check: FilterCheck | None = None,
) -> Report:
    """Verify ``evidence`` and the events of its file (``leaves``: their leaf hashes, in order).

    ``vkeys`` are the keys the user trusts; ``None`` falls back to the file's own key hint and
    the report is then at best ``unverified``. ``origin`` pins the log; by default it is the
    evidence's own ``origin`` field. ``filter_check`` (fed each event while the file was read)
    enables the filter check. Findings are added to ``report`` (a new one by default).
    """
    report = report if report is not None else Report()
    report.evidence = evidence
    report.events = len(leaves) // HASH_SIZE
    expected_origin = origin if origin is not None else evidence.origin
    if vkeys:
        keys: Sequence[str] = vkeys
        report.key_trusted = True
        key_note = "the trusted key you gave"
    else:
        keys = [evidence.vkey]
        key_note = "ONLY the key hint inside the file (not trusted: pass --vkey)"
    report.key_name = _key_name(keys[0])
    cp: Checkpoint | None = None
    try:
        cp = verify_checkpoint(evidence.checkpoint, keys, expected_origin)
    except VerificationError as exc:
        report.add(exc.finding)
        report.step("checkpoint signature", "failed", str(exc.finding))
    except FormatError as exc:  # only the file's hint can be malformed: callers check theirs
        finding = Finding.at(Code.UNTRUSTED_KEY, f"the file's key hint is not a vkey: {exc}")
        report.add(finding)
        report.step("checkpoint signature", "failed", str(finding))
    else:
        report.step(
            "checkpoint signature",
            "passed",
            f"signed checkpoint of {cp.origin!r}, size {cp.size}, checked with {key_note}",
        )
    report.checkpoint = cp
    if cp is not None and origin is not None and evidence.origin != cp.origin:
        report.add(
            Finding.at(
                Code.ORIGIN_MISMATCH,
                f"the evidence names origin {evidence.origin!r} but its checkpoint is for "
                f"{cp.origin!r}",
            )
        )
    all_ranges = list(evidence.indexes)
    if cp is None:
        report.step("inclusion proofs", "skipped", "no trusted checkpoint to check them against")
    elif cp.size != evidence.tree_size:
        report.add(
            Finding.at(
                Code.PROOF_MALFORMED,
                f"evidence.tree_size is {evidence.tree_size} but the checkpoint's size is "
                f"{cp.size}",
            )
        )
        report.step("inclusion proofs", "failed", "tree size disagrees with the checkpoint")
    else:
        try:
            root = evidence_root(cp.size, evidence.indexes, evidence.leaf_hashes, evidence.nodes)
        except VerificationError as exc:
            report.add(exc.finding)
            report.step("inclusion proofs", "failed", exc.message)
        else:
            if root == cp.root:
                report.step(
                    "inclusion proofs",
                    "passed",
                    f"the {evidence.count} recorded leaf hash(es) and "
                    f"{len(evidence.nodes) // HASH_SIZE} proof node(s) lead to the signed root",
                )
            else:
                report.add(
                    Finding.over(
                        Code.INCLUSION_FAILED,
                        "the recorded leaf hashes and proof nodes do not lead to the signed "
                        "root: the evidence was altered (a proof hash, or an event together "
                        "with its recorded hash); no event of this export can be trusted",
                        all_ranges,
                    )
                )
                report.step("inclusion proofs", "failed", "root mismatch")
    findings = match_events(evidence, leaves, unreadable, label)
    for f in findings:
        report.add(f)
    n = report.events
    if findings:
        report.step(
            "events against evidence",
            "failed",
            "; ".join(
                f"{f.code} ({format_ranges(merge_ranges(f.ranges), 5) or '-'})" for f in findings
            ),
        )
    else:
        report.step(
            "events against evidence",
            "passed",
            f"{n} event(s), each byte-identical to its recorded leaf, in log order, "
            "none missing, none extra",
        )
    _check_claims(evidence, leaves, unreadable or {}, filter_check, keys, expected_origin, report)
    return report


def _key_name(vkey: str) -> str | None:
    name = vkey.split("+", 1)[0] if isinstance(vkey, str) else ""
    return name or None


def _index_finder(
    evidence: Evidence, leaves: bytes, unreadable: Mapping[int, str]
) -> Callable[[int], int | None]:
    """Map a position in the file to the log index of its event when authentic, else None."""
    indexes = evidence.index_array()
    if leaves == evidence.leaf_hashes and not unreadable:
        return indexes.__getitem__
    by_hash: dict[bytes, int] = {}

    def index_of(p: int) -> int | None:
        if p in unreadable:
            return None
        if not by_hash:  # built only when the file and the evidence disagree somewhere
            for q in range(evidence.count):
                by_hash[evidence.leaf_hashes[q * HASH_SIZE : (q + 1) * HASH_SIZE]] = indexes[q]
        return by_hash.get(leaves[p * HASH_SIZE : (p + 1) * HASH_SIZE])

    return index_of


def _check_claims(  # noqa: PLR0917 (private; one call site)
    evidence: Evidence,
    leaves: bytes,
    unreadable: Mapping[int, str],
    filter_check: FilterCheck | None,
    keys: Sequence[str],
    origin: str,
    report: Report,
) -> None:
    """The filter check and, for attested exports, the completeness check."""
    record = evidence.completeness.record if evidence.completeness else None
    stated = stated_filter(evidence.filter, record)
    outside: list[int] = []
    if filter_check is None or filter_check.filter != stated:
        report.step("filter", "skipped", "the events were not checked against the filter")
    else:
        index_of = _index_finder(evidence, leaves, unreadable)
        found, outside, detail = check_filter(filter_check, index_of)
        for f in found:
            report.add(f)
        status: StepStatus = "failed" if found else "passed"
        report.step("filter", "skipped" if detail.startswith("not checked") else status, detail)
    if evidence.completeness is None:
        why = "a version 1 file" if evidence.version == 1 else "made offline or with --no-record"
        report.step(
            "completeness",
            "skipped",
            f"NOT ATTESTED ({why}): the log has not vouched for this export's filter and count, "
            "so it proves each event is in the log, not that none was left out",
        )
        return
    result = check_completeness(
        evidence.completeness,
        evidence_filter=evidence.filter,
        tree_size=evidence.tree_size,
        indexes=evidence.index_array(),
        leaf_hashes=evidence.leaf_hashes,
        outside_filter=outside,
        keys=keys,
        origin=origin,
    )
    report.completeness = result
    for f in result.findings:
        report.add(f)
    report.step(
        "completeness", "passed" if result.status == "complete" else "failed", result.detail
    )


def parse_evidence(obj: object, report: Report) -> Evidence | None:
    """Parse ``obj`` into ``report``: a malformed evidence object is a PROOF_MALFORMED finding."""
    try:
        return Evidence.from_obj(obj)
    except FormatError as exc:
        report.add(Finding.at(Code.PROOF_MALFORMED, f"the evidence is malformed: {exc}"))
        report.step("evidence format", "failed", str(exc))
        return None
