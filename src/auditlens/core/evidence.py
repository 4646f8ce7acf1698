"""Export evidence (``auditlens-evidence/2``): its format and the evidence object.

The normative specification is docs/evidence-format.md; this docstring summarizes it for the
code. Version 1 files (no ``completeness`` member) are still read and verified.

An auditlens export (JSON, NDJSON or CSV) carries *evidence*: what a third party needs to check
offline, with nothing but the log server's public key, that every exported event is an event of
the signed log, at the index claimed, unchanged, and in log order. The evidence is pure (no I/O):
the export writers feed :mod:`~auditlens.core.evidence_builder` leaf hashes, the verifier feeds
:mod:`~auditlens.core.evidence_check` what it read from a file, which returns findings with the
stable codes of :mod:`auditlens.core.errors`; :mod:`~auditlens.core.evidence_tree` holds the
tree arithmetic both share (index runs, gap nodes, the root and standard inclusion proofs).

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
``query``              optional: the viewer's query line the export was made from (``type:agent
                       timeout OR refused``), as the exporter typed it. Informative only: NOT
                       attested and NOT checked; what the export answers is ``filter`` (and the
                       record of ``completeness``). A search or an excluded value is exported as
                       a selection of rows, so the line says what the rows were picked by.
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import orjson

from auditlens.core.completeness import (
    Completeness,
)
from auditlens.core.errors import (
    FormatError,
)
from auditlens.core.evidence_tree import index_array_of
from auditlens.core.merkle import HASH_SIZE

FORMAT = "auditlens-evidence/2"
"""The ``format`` value of the evidence this auditlens writes."""
FORMAT_V1 = "auditlens-evidence/1"
"""The first version (no ``completeness``); still read and verified."""
_VERSIONS = {FORMAT_V1: 1, FORMAT: 2}


_DATA_FORMATS = ("csv", "ndjson")


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
    query: str | None = None
    """The query line the export was made from (informative, not attested)."""

    @property
    def count(self) -> int:
        """Number of exported events."""
        return len(self.leaf_hashes) // HASH_SIZE

    def index_array(self) -> array[int]:
        """Every exported index, in order (8 bytes each)."""
        return index_array_of(self.indexes)

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
        if self.query is not None:
            obj["query"] = self.query
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
            query=_optional_str(obj, "query"),
        )


def _optional_str(obj: Mapping[str, object], key: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise FormatError(f"evidence.{key} must be a string, got {_kind(value)}")
    return value


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
