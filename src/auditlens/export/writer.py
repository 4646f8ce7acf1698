"""Verified exports: stream a verified log copy into JSON, NDJSON or CSV with evidence.

An export is written only if the part of the log copy it comes from still verifies against the
latest trusted checkpoint (size ``N``, root ``R``), and it carries the evidence
(:mod:`auditlens.core.evidence`) for every event in it. One pass does both: the entries that are
re-verified are read in index order and re-hashed, the hashes feed the signed-root check and the
multi-proof at once, and the selected events are written as they pass. Memory stays flat
(chunks of entries; 32 bytes per exported event for the evidence), whatever the size of the
export.

What is re-hashed (verification proportional to the export)
-----------------------------------------------------------
The tree's level-8 nodes are the roots of the 256-entry tiles, and the mirror stores the root of
every complete tile (``tile_hashes``, written by the sync from the entries it verified). The
default mode (``verify="tiles"``) re-hashes, from the stored bytes, every entry of each tile that
holds an exported event and of the last, incomplete tile; every other complete tile contributes
its stored root instead of its 256 entries. These pieces tile ``[0, N)``, so they fold into a
root (the same stack as the multi-proof), which must equal ``R``. Exporting 10 events of a
5-million-entry log then hashes a few thousand entries and ~20,000 stored tile hashes, not five
million entries.

Why this is as strong as re-hashing everything, for what is exported: the root is computed from
the exported events' own bytes, so if it equals the signed ``R``, every piece that went into it
(each exported leaf, each stored tile root, each re-hashed neighbour) is the node the signed tree
has at that position; otherwise SHA-256 would have a collision. A stored tile hash is therefore
never *trusted*: a wrong one (edited, damaged) can only change the computed root, so it can only
make the export FAIL (refused, INCLUSION_FAILED), never let an edited exported event pass. The
same pieces are the evidence's proof nodes (the gaps between exported events are made of stored
tile roots and re-hashed leaves), so the evidence is correct by the same check.

What it deliberately does not do: an entry edited (or lost) in a tile holding no exported event
is not read, so it no longer blocks the export. That is correct for the export (that entry is not
exported and its signed hash is what the proofs use); the mirror as a whole is still checked by
the start-up re-check (:mod:`auditlens.mirror.recheck`) and by ``verify="full"``, which ignores
the stored tile hashes and re-hashes every entry of ``[0, N)`` as before (and refuses such a
mirror). A tile without a stored hash (a mirror written before ``tile_hashes`` existed, or an
incomplete table) is re-hashed from its entries: no stored hashes at all is the full re-hash.

Decisions:

- The data goes to a temporary file in the destination's directory (same file system, so the
  final ``os.replace`` is atomic); the file is fsynced, then renamed. If the root does not match
  the signed checkpoint, an entry is missing, the count changed, the user cancels or anything
  raises, the temporary file is deleted and no export exists: nothing unverified is ever
  published. (The check ends the same pass that writes, so a refused export costs no second
  read of the log.) For CSV and NDJSON the data file is renamed first, then the
  sidecar; a crash between leaves a data file whose sidecar is missing or stale, which the
  verifier reports as FILE_MODIFIED, never as a pass.
- Refusals are :class:`ExportRefusedError` (defined in :mod:`auditlens.core.errors`, since the
  mirror's snapshot raises it too) carrying a finding with a stable code
  (docs/evidence-format.md §11): checkpoint problems keep their code (UNTRUSTED_KEY,
  CHECKPOINT_BAD_SIGNATURE, ORIGIN_MISMATCH), a hole in the re-hashed entries is EVENT_MISSING
  with the range, entries (and stored tile hashes) that do not hash to the signed root are
  INCLUSION_FAILED (re-sync the mirror), a changing count is EVENT_INSERTED/EVENT_MISSING, and
  a server whose completeness record disagrees with the export is EVENTS_OMITTED/EVENTS_ADDED.
- Completeness: with an ``attest`` callback (the server's recording), the export asks for the
  log's ``audit.exported`` record once its events are written and verified (JSON: before the
  evidence is written into the file; CSV/NDJSON: after the data file is complete, so the
  record can carry its SHA-256) and carries it in the evidence. Without one, or when the server
  cannot be reached, the evidence says completeness is not attested and the result says why.
- The written count is checked against the count the snapshot announced before writing, and
  stated in :class:`ExportResult`; never a silent truncation.
- CSV: each chunk's column lists become a pyarrow record batch, which pyarrow's CSV writer
  writes (RFC 4180 quoting, CRLF; :mod:`auditlens.export.sinks`). Cells are derived from the
  verified canonical bytes, not from the mirror's derived columns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from auditlens import __version__
from auditlens.core.checkpoint import Checkpoint
from auditlens.core.completeness import Attestation, Completeness, check_completeness
from auditlens.core.errors import Code, Finding, FormatError, VerificationError
from auditlens.core.errors import ExportRefusedError as ExportRefusedError  # noqa: PLC0414
from auditlens.core.evidence import DataFile, Evidence
from auditlens.core.evidence_builder import EvidenceBuilder
from auditlens.core.merkle import HASH_SIZE
from auditlens.core.note import verify_checkpoint
from auditlens.core.tiles import TILE_HEIGHT, TILE_WIDTH
from auditlens.core.timestamps import format_timestamp
from auditlens.export.columns import CSV_COLUMNS, check_columns
from auditlens.export.layout import (
    ExportFormat,
    sidecar_path,
)
from auditlens.export.sinks import CsvSink, HashingFile, JsonSink, NdjsonSink, Sink
from auditlens.export.tile_plan import verification_plan

Progress = Callable[[int, int], None]
"""``(events written, events to write)``, called after every chunk (from the export thread)."""

VerifyMode = Literal["tiles", "full"]
"""``tiles``: re-hash the exported tiles, stored roots for the others; ``full``: every entry."""


class LogSnapshot(Protocol):
    """A consistent, read-only view of a verified copy of one log (the mirror implements it)."""

    @property
    def origin(self) -> str:
        """The pinned origin of the log."""
        ...

    @property
    def vkey(self) -> str:
        """The pinned verifier key of the log server."""
        ...

    @property
    def checkpoint_note(self) -> str:
        """The latest trusted signed checkpoint (the export proves against it)."""
        ...

    def prefix(self) -> tuple[int, Sequence[bytes]]:
        """Return ``(first stored index, frontier of [0, first))``; ``(0, [])`` if unpruned."""
        ...

    def selected_count(self) -> int:
        """How many events the export will hold (indexes below the checkpoint's size)."""
        ...

    def selected(self) -> Iterator[int]:
        """The exported indexes, ascending, all below the checkpoint's size.

        Each call returns a new iterator over the same indexes (the writer walks them twice:
        once to find the exported tiles, once while writing).
        """
        ...

    def entries(self, start: int, stop: int) -> Iterator[tuple[int, list[bytes]]]:
        """Yield ``(first index, raw entries)`` chunks covering ``[start, stop)`` in order.

        A chunk's entries are consecutive; a hole shows as a chunk starting later than expected.
        """
        ...

    def users(self) -> Mapping[str, str]:
        """The organization's directory, ``user_id -> email`` (for the CSV ``user_email``)."""
        ...


@runtime_checkable
class TileHashSource(Protocol):
    """A snapshot that also has the stored roots of complete 256-entry tiles (the mirror)."""

    def tile_hashes(self, first: int, stop: int) -> Mapping[int, bytes]:
        """Return ``{tile number: stored root}`` for the complete tiles numbered [first, stop).

        Tiles without a stored root are absent (the writer re-hashes their entries). The roots
        need not be trustworthy: see the module docstring.
        """
        ...


class ExportCancelledError(Exception):
    """The user cancelled; the partial file was removed."""


class AttestationUnavailableError(Exception):
    """The server could not attest the export (offline, refused, old server): say why.

    The export is still written, its evidence saying plainly that completeness is not attested.
    """


@dataclass(frozen=True)
class AttestRequest:
    """What the exporter asks the server to attest (``POST /v1/audit-logs/exports``)."""

    format: ExportFormat
    filter: Mapping[str, object]
    tree_size: int
    count: int
    file_name: str
    sha256: str | None = None
    bytes: int | None = None


Attester = Callable[[AttestRequest], Completeness]
"""Records the export on the server and returns the record with its proof; raises
:class:`AttestationUnavailableError` when it cannot."""


@dataclass(frozen=True)
class ExportOptions:
    """What to write: format, destination, the filter as the user gave it, CSV choices."""

    format: ExportFormat
    path: Path
    filter: Mapping[str, object]
    bom: bool = False
    columns: Sequence[str] = CSV_COLUMNS
    verify: VerifyMode = "tiles"
    query: str | None = None
    """The query line the rows were chosen by, recorded in the evidence as information only."""


@dataclass(frozen=True)
class ExportResult:
    """What was written, for the report, the dialog and the ``audit.exported`` event."""

    path: Path
    evidence_path: Path | None
    format: ExportFormat
    count: int
    tree_size: int
    origin: str
    sha256: str
    bytes: int
    filter: Mapping[str, object]
    seconds: float
    evidence_sha256: str | None = None
    rehashed: int = 0
    """Entries re-hashed from the stored bytes to re-verify the export."""
    stored_tiles: int = 0
    """Complete 256-entry tiles whose stored root stood in for their entries."""
    record_index: int | None = None
    """Where the server recorded (and attested) the export; None when it was not attested."""
    completeness_note: str = "Completeness is not attested: the export was not recorded."

    def summary(self) -> str:
        where = f" (evidence: {self.evidence_path})" if self.evidence_path else ""
        return (
            f"Exported {self.count:,} verified event(s) of {self.origin} (checkpoint size "
            f"{self.tree_size:,}) as {self.format} to {self.path}{where}; "
            f"{self.bytes:,} bytes, SHA-256 {self.sha256}, in {self.seconds:.1f} s.\n"
            f"{self.completeness_note}"
        )


def _take(selected: Iterator[int], pending: list[int], stop: int) -> list[int]:
    """Return the selected indexes below ``stop``; ``pending`` holds one look-ahead value."""
    out: list[int] = []
    if pending:
        if pending[0] >= stop:
            return out
        out.append(pending.pop())
    for idx in selected:
        if idx >= stop:
            pending.append(idx)
            break
        out.append(idx)
    return out


def _refuse(code: Code, message: str, ranges: Iterable[tuple[int, int]] = ()) -> ExportRefusedError:
    return ExportRefusedError(Finding.over(code, message, ranges))


def _stored_roots(
    snapshot: LogSnapshot, mode: VerifyMode, prefix_size: int, tree_size: int
) -> Mapping[int, bytes]:
    """The stored tile roots the plan may use: none in ``full`` mode or without a source."""
    if mode == "full" or not isinstance(snapshot, TileHashSource):
        return {}
    first = -(-prefix_size // TILE_WIDTH)  # the first tile wholly above the prefix
    return snapshot.tile_hashes(first, tree_size // TILE_WIDTH)


def _cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise ExportCancelledError("export cancelled; nothing was written")


def _verify_and_write(
    snapshot: LogSnapshot,
    mode: VerifyMode,
    span: tuple[int, int],
    builder: EvidenceBuilder,
    sink: Sink,
    *,
    total: int,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> tuple[int, int]:
    """Feed ``builder`` every piece of ``span`` (``[prefix, N)``), ``sink`` the selected events.

    Pieces are stored tile roots and the leaf hashes of the re-hashed ranges
    (:func:`~auditlens.export.tile_plan.verification_plan`); the caller compares the builder's
    root with the signed one.
    Returns ``(entries re-hashed, stored tile roots used)``.
    """
    prefix_size, size = span
    stored = _stored_roots(snapshot, mode, prefix_size, size)
    exported_tiles = {i // TILE_WIDTH for i in snapshot.selected()} if stored else ()
    selected = iter(snapshot.selected())
    pending: list[int] = []
    rehashed = stored_tiles = 0
    for first, last, node in verification_plan(prefix_size, size, exported_tiles, stored):
        _cancelled(cancel)
        if node is not None:
            if len(node) != HASH_SIZE:
                raise _refuse(
                    Code.INCLUSION_FAILED,
                    f"the local copy's stored hash of tile {first // TILE_WIDTH} (entries "
                    f"{first}-{last - 1}) is {len(node)} bytes, not {HASH_SIZE}: the local copy "
                    "was altered or damaged",
                    [(first, last - 1)],
                )
            builder.add_subtree(TILE_HEIGHT, node)
            stored_tiles += 1
            continue
        expected = first
        for start, raws in snapshot.entries(first, last):
            _cancelled(cancel)
            if start != expected:
                raise _refuse(
                    Code.EVENT_MISSING,
                    f"the local copy lacks entries {expected}-{start - 1} of the signed log",
                    [(expected, start - 1)],
                )
            stop = start + len(raws)
            if stop > last:
                raise ValueError(f"the snapshot returned entries beyond {last}")
            leaves = [hashlib.sha256(b"\x00" + r).digest() for r in raws]
            chosen = _take(selected, pending, stop)
            builder.add(start, leaves, chosen)
            sink.write(chosen, [raws[i - start] for i in chosen])
            expected = stop
            if progress is not None:
                progress(sink.count, total)
        if expected != last:
            raise _refuse(
                Code.EVENT_MISSING,
                f"the local copy lacks entries {expected}-{last - 1} of the signed log",
                [(expected, last - 1)],
            )
        rehashed += last - first
    if pending or next(selected, None) is not None:
        raise ValueError("the snapshot selected indexes outside the checkpoint")
    return rehashed, stored_tiles


def _check_options(options: ExportOptions, path: Path) -> None:
    """ValueError naming the bad option, before anything is read or written."""
    if options.format not in ("json", "ndjson", "csv"):
        raise ValueError(f"unknown export format {options.format!r}; use json, ndjson or csv")
    if options.format == "csv":
        check_columns(options.columns)
    if options.verify not in ("tiles", "full"):
        raise ValueError(f"unknown verify mode {options.verify!r}; use tiles or full")
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name")


def _sink_for(out: HashingFile, options: ExportOptions, snapshot: LogSnapshot) -> Sink:
    if options.format == "json":
        return JsonSink(out)
    if options.format == "ndjson":
        return NdjsonSink(out)
    return CsvSink(out, options.columns, snapshot.users(), options.bom)


def _root_mismatch(cp: Checkpoint, rehashed: int, stored_tiles: int) -> str:
    """Why the export is refused when the local copy does not hash to the signed root."""
    if stored_tiles:
        return (
            f"the {rehashed:,} re-hashed entries of the local copy, with its stored "
            f"hashes of {stored_tiles:,} other tile(s), do not hash to the root "
            f"signed in checkpoint {cp.size} of {cp.origin}: the local copy (an "
            "entry of the exported tiles, or a stored tile hash) was altered or "
            "damaged"
        )
    return (
        f"the {rehashed:,} entries of the local copy do not hash to the root "
        f"signed in checkpoint {cp.size} of {cp.origin}: the local copy was "
        "altered or damaged"
    )


def export(  # noqa: PLR0917 (``now`` is passed by position by existing callers)
    snapshot: LogSnapshot,
    options: ExportOptions,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    now: Callable[[], float] = time.time,
    attest: Attester | None = None,
) -> ExportResult:
    """Write a verified export of ``snapshot``'s selected events; see the module docstring.

    ``attest`` (the server's recording, :func:`auditlens.export.record.attester`) is asked,
    once the events are written and verified, for the log's completeness record; the record is
    checked (signature, inclusion, and that the server's count and digest equal the export's)
    and carried in the evidence. Without it, or when it is unavailable, the evidence says the
    completeness is not attested.

    Raises ExportRefusedError or ExportCancelledError (nothing written), ValueError for bad
    options, OSError when the destination cannot be written.
    """
    started = time.perf_counter()
    path = Path(options.path)
    _check_options(options, path)
    try:
        cp = verify_checkpoint(snapshot.checkpoint_note, snapshot.vkey, snapshot.origin)
    except VerificationError as exc:
        raise ExportRefusedError(exc.finding) from None
    total = snapshot.selected_count()
    prefix_size, prefix = snapshot.prefix()
    builder = EvidenceBuilder(cp.size, prefix_size, prefix)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    tmp = Path(tmp_name)
    side_tmp: Path | None = None
    try:
        with os.fdopen(fd, "wb", buffering=1 << 20) as f:
            out = HashingFile(f)
            sink = _sink_for(out, options, snapshot)
            sink.begin()
            rehashed, stored_tiles = _verify_and_write(
                snapshot,
                options.verify,
                (prefix_size, cp.size),
                builder,
                sink,
                total=total,
                progress=progress,
                cancel=cancel,
            )
            proof = builder.finish()
            del builder  # its copy of the leaf hashes: keep the peak memory down
            if proof.root != cp.root:
                raise _refuse(Code.INCLUSION_FAILED, _root_mismatch(cp, rehashed, stored_tiles))
            if sink.count != total:
                code = Code.EVENT_INSERTED if sink.count > total else Code.EVENT_MISSING
                raise _refuse(code, f"expected {total:,} events but {sink.count:,} matched")
            exported_at = format_timestamp(int(now() * 1000))
            evidence = Evidence(
                auditlens_version=__version__,
                exported_at=exported_at,
                filter=dict(options.filter),
                origin=cp.origin,
                vkey=snapshot.vkey,
                checkpoint=snapshot.checkpoint_note,
                tree_size=cp.size,
                indexes=proof.indexes,
                leaf_hashes=proof.leaf_hashes,
                nodes=proof.nodes,
                query=options.query or None,
            )
            request = AttestRequest(
                options.format, dict(options.filter), cp.size, sink.count, path.name
            )
            if options.format == "json":  # the record goes inside the file: ask first
                evidence, note, record_index = _attested(evidence, attest, request, snapshot)
                sink.end(evidence)
            else:
                sink.end(evidence)
            f.flush()
            os.fsync(f.fileno())
        digest, size = out.sha.hexdigest(), out.size
        evidence_path: Path | None = None
        evidence_digest: str | None = None
        if options.format != "json":
            request = dataclasses.replace(request, sha256=digest, bytes=size)
            evidence, note, record_index = _attested(evidence, attest, request, snapshot)
            evidence = dataclasses.replace(
                evidence,
                data_file=DataFile(
                    name=path.name,
                    format=options.format,
                    sha256=digest,
                    bytes=size,
                    columns=sink.columns(),
                ),
                users=sink.users_seen(),
            )
            evidence_path = sidecar_path(path)
            fd2, side_name = tempfile.mkstemp(
                prefix=f".{evidence_path.name}.", suffix=".part", dir=path.parent
            )
            side_tmp = Path(side_name)
            with os.fdopen(fd2, "wb") as sf:
                side = HashingFile(sf)
                for piece in evidence.json_chunks():
                    side.write(piece)
                side.write(b"\n")
                evidence_digest = side.sha.hexdigest()
                sf.flush()
                os.fsync(sf.fileno())
        os.replace(tmp, path)
        if side_tmp is not None and evidence_path is not None:
            os.replace(side_tmp, evidence_path)
    except BaseException:
        for p in (tmp, side_tmp):
            if p is not None:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
        raise
    return ExportResult(
        path=path,
        evidence_path=evidence_path,
        format=options.format,
        count=sink.count,
        tree_size=cp.size,
        origin=cp.origin,
        sha256=digest,
        bytes=size,
        filter=dict(options.filter),
        seconds=time.perf_counter() - started,
        evidence_sha256=evidence_digest,
        rehashed=rehashed,
        stored_tiles=stored_tiles,
        record_index=record_index,
        completeness_note=note,
    )


def _attested(
    evidence: Evidence, attest: Attester | None, request: AttestRequest, snapshot: LogSnapshot
) -> tuple[Evidence, str, int | None]:
    """``evidence`` with the server's completeness record, a sentence, and the record's index.

    The record is checked before it goes into the file: its checkpoint against the pinned key,
    its inclusion proof, and that it attests exactly the exported events (same filter, size,
    count and digest). A server that counts differently refuses the export (EVENTS_OMITTED or
    EVENTS_ADDED): the local copy does not hold the log's answer, and publishing it would
    publish evidence that fails. The server-side record of the attempt stays in the log.
    """
    if attest is None:
        return evidence, "Completeness is not attested: the export was not recorded.", None
    try:
        completeness = attest(request)
    except AttestationUnavailableError as exc:
        return evidence, f"Completeness is not attested: {exc}", None
    try:
        record_filter = Attestation.parse(completeness.record).filter
    except FormatError as exc:
        raise _refuse(Code.PROOF_MALFORMED, f"the server's record is malformed: {exc}") from None
    attested = dataclasses.replace(evidence, filter=record_filter, completeness=completeness)
    result = check_completeness(
        completeness,
        evidence_filter=record_filter,
        tree_size=evidence.tree_size,
        indexes=evidence.index_array(),
        leaf_hashes=evidence.leaf_hashes,
        outside_filter=(),
        keys=[snapshot.vkey],
        origin=snapshot.origin,
    )
    failures = [f for f in result.findings if not f.code.informational]
    if failures:
        raise ExportRefusedError(
            Finding.over(
                failures[0].code,
                "the server's completeness record does not match this export: "
                + "; ".join(f.message for f in failures),
                failures[0].ranges,
            )
        )
    att = result.attestation
    assert att is not None
    return (
        attested,
        f"Recorded as an audit.exported event at index {completeness.index}, which attests "
        f"the export's completeness: {att.count:,} event(s) match the filter at size "
        f"{att.tree_size:,}, and the export holds exactly those.",
        completeness.index,
    )
