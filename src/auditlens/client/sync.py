"""The sync engine: fetch, verify and store the organization's log in the mirror.

The data flow is architecture.md §1.

One :meth:`SyncEngine.run`:

1. fetch the latest checkpoint and verify its signature and origin against the PIN (never
   against what the server announces);
2. compare with the largest checkpoint the mirror trusts: smaller -> LOG_TRUNCATED; same size,
   other root -> LOG_FORKED; larger -> a consistency proof must verify, else LOG_FORKED. In
   every failure case both signed notes are kept as evidence in a file beside the mirror
   (:func:`fork_evidence_path`) and nothing is written to the mirror;
3. fetch the new entry bundles (prefetched on threads), re-hash every entry, extend the stored
   compact range and parse each event into its row, streaming the rows into ONE open mirror
   transaction. A partial bundle at the old end is fetched whole again: only its new entries are
   hashed and written, and its old ones must equal the stored bytes (else EVENT_MODIFIED);
4. the root of the extended range must equal the checkpoint's root. If not, the transaction is
   rolled back and the engine locates the culprits by comparing the leaf hashes with the
   server's level-0 hash tiles, reporting EVENT_MODIFIED (or EVENT_REORDERED) at the exact
   indexes when those hashes reproduce the signed root, else over the whole fetched range;
5. commit: entries + checkpoint + tree state + users + meta together.

Entries below the server's ``min_index`` (pruned) cannot be fetched: the frontier at
``min_index`` is read from the hash tiles and authenticated by the root check. The gap is
PRUNED_BY_POLICY (informational) when a verified ``audit.retention_pruned`` event covers it,
else EVENT_MISSING; either way the verified entries are stored and the finding is returned (the
CLI exits non-zero on EVENT_MISSING).

Cancel (the ``cancel`` event) or any failure rolls the transaction back: the mirror is exactly
as before, and a killed process leaves an uncommitted WAL transaction SQLite discards.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from base64 import b64encode
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from hashlib import sha256
from pathlib import Path

import orjson

from auditlens.client.api import AuditApiClient, UserInfo
from auditlens.client.errors import ProtocolError
from auditlens.client.paths import write_private_file
from auditlens.client.tilefetch import EntryTileFetcher, HashTiles
from auditlens.client.trust import Pin, key_changed_error, origin_changed_error
from auditlens.client.verified import VerifiedCheckpoints
from auditlens.core import merkle, note, tiles
from auditlens.core.checkpoint import Checkpoint
from auditlens.core.errors import (
    Code,
    Finding,
    FormatError,
    VerificationError,
    compress_ranges,
    format_ranges,
)
from auditlens.mirror.writer import (
    AppendBatch,
    EntryRow,
    MalformedEntryError,
    MirrorState,
    MirrorWriter,
    UserRow,
    extract_row,
    now_ms,
)

_LEAF_PREFIX = b"\x00"
_TILE_NODE_LEVEL = tiles.TILE_HEIGHT  # the level-8 node = root of one 256-entry tile


class SyncStatus(StrEnum):
    SYNCED = "synced"  # new entries verified and stored
    UP_TO_DATE = "up_to_date"  # the checkpoint was already trusted; users refreshed
    CANCELLED = "cancelled"  # stopped on request; the mirror is unchanged


class SyncPhase(StrEnum):
    CHECKPOINT = "checkpoint"
    CONSISTENCY = "consistency"
    ENTRIES = "entries"
    INDEXES = "indexes"
    COMMIT = "commit"


@dataclass(frozen=True)
class SyncProgress:
    """A snapshot for a progress bar: ``done`` of ``total`` new events, speed and time left."""

    phase: SyncPhase
    done: int
    total: int
    events_per_second: float
    eta_seconds: float | None
    message: str


@dataclass(frozen=True)
class SyncResult:
    """The outcome of one run; ``findings`` holds PRUNED_BY_POLICY / EVENT_MISSING if any."""

    status: SyncStatus
    checkpoint: Checkpoint | None
    checkpoint_note: str | None
    previous_size: int
    new_entries: int
    seconds: float
    findings: tuple[Finding, ...] = field(default=())
    #: seconds per step (fetch_wait, verify, drain, indexes, commit), for benchmarks
    timings: Mapping[str, float] = field(default_factory=dict)

    @property
    def failed_findings(self) -> tuple[Finding, ...]:
        """Findings that are failures (everything but the informational PRUNED_BY_POLICY)."""
        return tuple(f for f in self.findings if not f.code.informational)

    @property
    def events_per_second(self) -> float:
        return self.new_entries / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[SyncProgress], None]


class _CancelledError(Exception):
    pass


class _Rate:
    """Progress bookkeeping: throttled callbacks with speed and time left."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total
        self.start = time.perf_counter()
        self.last = 0.0

    def report(self, phase: SyncPhase, done: int, message: str, *, force: bool = False) -> None:
        if self.callback is None:
            return
        now = time.perf_counter()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        elapsed = now - self.start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 and self.total >= done else None
        self.callback(SyncProgress(phase, done, self.total, rate, eta, message))


class SyncEngine:
    """Syncs one organization's log from ``client`` into the mirror at ``mirror_path``.

    ``pin`` is the trusted (origin, vkey) of the organization (see :mod:`auditlens.client.trust`).
    ``verified``, when given, holds the largest checkpoint this client verified for the log in
    any mirror: a new checkpoint must extend it too, and a successful run records its own.
    Run it on a worker thread; ``run`` blocks and is not re-entrant for one mirror.
    """

    def __init__(
        self,
        client: AuditApiClient,
        mirror_path: Path,
        pin: Pin,
        *,
        organization_name: str = "",
        fetch_workers: int = 2,
        fetch_window: int = 12,
        writer_thread: bool = False,
        verified: VerifiedCheckpoints | None = None,
    ) -> None:
        self.client = client
        self.verified = verified
        self.mirror_path = mirror_path
        self.pin = pin
        self.organization_name = organization_name
        self.fetch_workers = fetch_workers
        self.fetch_window = fetch_window
        self.writer_thread = writer_thread

    # -- entry point -------------------------------------------------------------------------------

    def run(
        self,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncResult:
        """Sync once. Raises VerificationError (a §4 code) or an ApiError on failure; on cancel
        returns status CANCELLED. In every case but SYNCED/UP_TO_DATE the mirror is unchanged."""
        cancel = cancel or threading.Event()
        started = time.perf_counter()
        with MirrorWriter(self.mirror_path) as writer:
            state = writer.state()
            self._check_mirror_identity(state)
            rate = _Rate(progress, 0)
            rate.report(SyncPhase.CHECKPOINT, 0, "Fetching the signed checkpoint", force=True)
            cp_note = self.client.checkpoint()
            cp = note.verify_checkpoint(cp_note, self.pin.vkey, self.pin.origin)
            self._check_against_trusted(state, cp, cp_note, rate)
            if cancel.is_set():
                return self._cancelled(state, started)
            users = self._fetch_users()
            meta = self._meta(state)
            if state.checkpoint_note is not None and cp.size == state.size:
                writer.write_meta(meta)
                self._write_users(writer, state, cp, cp_note, users)
                self._remember(cp, cp_note)
                return SyncResult(
                    SyncStatus.UP_TO_DATE,
                    cp,
                    cp_note,
                    state.size,
                    0,
                    time.perf_counter() - started,
                )
            try:
                findings, stored, timings = self._append(
                    writer=writer,
                    state=state,
                    cp=cp,
                    cp_note=cp_note,
                    users=users,
                    meta=meta,
                    progress=progress,
                    cancel=cancel,
                )
            except _CancelledError:
                return self._cancelled(state, started)
            self._remember(cp, cp_note)
            return SyncResult(
                SyncStatus.SYNCED,
                cp,
                cp_note,
                state.size,
                stored,
                time.perf_counter() - started,
                tuple(findings),
                timings,
            )

    # -- steps -------------------------------------------------------------------------------

    def _cancelled(self, state: MirrorState, started: float) -> SyncResult:
        return SyncResult(
            SyncStatus.CANCELLED, None, None, state.size, 0, time.perf_counter() - started
        )

    def _check_mirror_identity(self, state: MirrorState) -> None:
        """A mirror created under another key or origin must not be extended under this pin."""
        vkey, origin = state.meta.get("vkey"), state.meta.get("origin")
        if vkey is not None and vkey != self.pin.vkey:
            raise key_changed_error(self.pin.server_url, vkey, self.pin.vkey)
        if origin is not None and origin != self.pin.origin:
            raise origin_changed_error(
                Pin(self.pin.server_url, self.pin.organization_id, origin, vkey or ""),
                self.pin.origin,
            )

    def _check_against_trusted(
        self,
        state: MirrorState,
        cp: Checkpoint,
        cp_note: str,
        rate: _Rate,
    ) -> None:
        """``cp`` must extend what this mirror verified, and what this client verified for the
        log in any mirror (:class:`VerifiedCheckpoints`)."""
        if state.checkpoint_note is not None and state.checkpoint_root is not None:
            self._check_extends(
                state.checkpoint_note,
                state.size,
                state.checkpoint_root,
                cp,
                cp_note,
                rate,
                "this mirror verified",
            )
        known_note = self.verified.latest(self.pin.origin, self.pin.vkey) if self.verified else None
        if known_note is None or known_note in (state.checkpoint_note, cp_note):
            return
        try:
            known = note.verify_checkpoint(known_note, self.pin.vkey, self.pin.origin)
        except VerificationError:
            return  # not signed by the pinned key: a damaged file proves nothing either way
        if state.checkpoint_note is None or known.size > state.size:
            self._check_extends(
                known_note,
                known.size,
                known.root,
                cp,
                cp_note,
                rate,
                "this client verified earlier (in any mirror)",
            )

    def _check_extends(  # noqa: PLR0917 (one check, told what it compares)
        self,
        trusted_note: str,
        trusted_size: int,
        trusted_root: bytes,
        cp: Checkpoint,
        cp_note: str,
        rate: _Rate,
        verifier: str,
    ) -> None:
        """LOG_TRUNCATED / LOG_FORKED (with evidence kept) unless ``cp`` extends the tree of
        ``trusted_note``; ``verifier`` says who verified that one ("this mirror verified")."""
        if cp.size < trusted_size:
            detail = (
                f"The server's signed checkpoint has {cp.size} entries, fewer than the "
                f"{trusted_size} {verifier}: the log was truncated or rolled back."
            )
            kept = self._keep_evidence(Code.LOG_TRUNCATED, detail, trusted_note, cp_note)
            raise VerificationError(
                Code.LOG_TRUNCATED, detail + kept, ranges=[(cp.size, trusted_size - 1)]
            )
        if cp.size == trusted_size:
            if cp.root != trusted_root:
                detail = (
                    f"The log {cp.origin} has two different signed trees of size {cp.size}: "
                    f"the one {verifier} and the one the server presents now. The log "
                    "forked."
                )
                kept = self._keep_evidence(Code.LOG_FORKED, detail, trusted_note, cp_note)
                raise VerificationError(Code.LOG_FORKED, detail + kept)
            return
        if trusted_size == 0:
            return  # the empty tree is a prefix of every tree
        rate.report(
            SyncPhase.CONSISTENCY, 0, "Checking consistency with the trusted log", force=True
        )
        proof = self.client.consistency_proof(trusted_size, cp.size)
        try:
            merkle.verify_consistency(trusted_size, cp.size, proof, trusted_root, cp.root)
        except VerificationError as exc:
            if exc.code is not Code.LOG_FORKED:
                raise
            detail = (
                f"The server's checkpoint of size {cp.size} does not extend the checkpoint of "
                f"size {trusted_size} {verifier} ({exc.message}): the log forked."
            )
            kept = self._keep_evidence(Code.LOG_FORKED, detail, trusted_note, cp_note, proof)
            raise VerificationError(Code.LOG_FORKED, detail + kept) from None

    def _remember(self, cp: Checkpoint, cp_note: str) -> None:
        """Record ``cp`` as verified for the log, for every later sync in any mirror."""
        if self.verified is not None:
            self.verified.record(self.pin.origin, self.pin.vkey, cp.size, cp_note)

    def _keep_evidence(
        self,
        code: Code,
        detail: str,
        trusted_note: str,
        conflicting_note: str,
        proof: Sequence[bytes] | None = None,
    ) -> str:
        """Write both signed notes beside the mirror; return a sentence saying where."""
        path = keep_fork_evidence(
            self.mirror_path,
            code=code,
            detail=detail,
            pin=self.pin,
            trusted_note=trusted_note,
            conflicting_note=conflicting_note,
            consistency_proof=proof,
        )
        return f" Both signed checkpoints are kept as evidence in {path}; the mirror is unchanged."

    def _fetch_users(self) -> list[UserInfo]:
        return self.client.users()

    def _meta(self, state: MirrorState) -> dict[str, str]:
        meta = {
            "server_url": self.pin.server_url,
            "origin": self.pin.origin,
            "vkey": self.pin.vkey,
            "organization_id": self.pin.organization_id,
            "last_sync_at": str(now_ms()),
        }
        if self.organization_name:
            meta["organization_name"] = self.organization_name
        return meta

    def _write_users(
        self,
        writer: MirrorWriter,
        state: MirrorState,
        cp: Checkpoint,
        cp_note: str,
        users: Sequence[UserInfo],
    ) -> None:
        with writer.begin(0, bulk=False) as batch:
            batch.commit(
                checkpoint_note=state.checkpoint_note or cp_note,
                checkpoint_size=state.size,
                checkpoint_root=state.checkpoint_root or cp.root,
                frontier=state.frontier,
                users=[UserRow(u.id, u.email, u.name, u.role) for u in users],
            )

    # -- the entries ------------------------------------------------------------------------------

    def _append(
        self,
        *,
        writer: MirrorWriter,
        state: MirrorState,
        cp: Checkpoint,
        cp_note: str,
        users: Sequence[UserInfo],
        meta: dict[str, str],
        progress: ProgressCallback | None,
        cancel: threading.Event,
    ) -> tuple[list[Finding], int, dict[str, float]]:
        """Fetch, verify and store the new entries; returns (findings, stored, timings)."""
        findings: list[Finding] = []
        start = state.size
        crange = merkle.CompactRange.from_state(state.size, state.frontier)
        first_sync = state.checkpoint_note is None
        gaps = _load_gaps(state.meta.get("gaps"))
        min_index = self.client.log_info().min_index if start < cp.size else 0
        pruned: tuple[int, int] | None = None
        if min_index > start:
            # Bodies below min_index are gone: take the frontier there from the hash tiles.
            # The root check below authenticates it together with every fetched leaf.
            jump = min(min_index, cp.size)
            crange = merkle.CompactRange.from_state(
                jump, HashTiles(self.client, cp.size).frontier(jump)
            )
            pruned = (start, jump - 1)
            gaps.append((start, jump, crange.hashes))
            start = jump
        if first_sync:
            meta["base_size"] = str(start)
        meta["min_index"] = str(min_index)
        meta["gaps"] = _dump_gaps(gaps)

        total = cp.size - start
        rate = _Rate(progress, total)
        refs = tiles.tiles_for_range(None, start, cp.size, cp.size)
        leaves = bytearray()  # this sync's leaf hashes, to locate a mismatch
        prune_events: list[int] = []
        malformed: list[tuple[int, str]] = []
        done = 0
        base = crange.copy()
        old_first = (start // tiles.TILE_WIDTH) * tiles.TILE_WIDTH
        stored_old = writer.raw_entries(old_first, start) if old_first < start else {}
        fetcher = EntryTileFetcher(
            self.client, refs, window=self.fetch_window, workers=self.fetch_workers, cancel=cancel
        )
        batch = writer.begin(total, threaded=self.writer_thread)
        timings = {"fetch_wait": 0.0, "verify": 0.0}
        try:
            waited = time.perf_counter()
            for ref, data in fetcher:
                got = time.perf_counter()
                timings["fetch_wait"] += got - waited
                if cancel.is_set():
                    raise _CancelledError
                raws = self._decode_bundle(ref, data)
                first = ref.n * tiles.TILE_WIDTH
                skip = max(0, start - first)
                if skip:
                    _check_old_entries(first, raws[:skip], stored_old)
                rows, tile_nodes = _hash_and_parse(
                    raws, first, skip, crange, leaves, prune_events, malformed
                )
                batch.add(rows)
                batch.add_tile_hashes(tile_nodes)
                done += len(raws) - skip
                rate.report(SyncPhase.ENTRIES, done, f"Verified {done:,} of {total:,} events")
                waited = time.perf_counter()
                timings["verify"] += waited - got
            fetcher.close()
            if cancel.is_set():
                raise _CancelledError
            rate.report(
                SyncPhase.ENTRIES, done, f"Verified {done:,} of {total:,} events", force=True
            )
            if crange.root() != cp.root:
                raise self._locate_mismatch(base, cp, bytes(leaves))
            if malformed:
                more = f" (and {len(malformed) - 1} more)" if len(malformed) > 1 else ""
                raise VerificationError(
                    Code.PROOF_MALFORMED,
                    f"The signed log holds entries that are not valid events: "
                    f"{malformed[0][1]}{more}. Nothing was stored.",
                    indexes=[i for i, _ in malformed],
                )
            if pruned is not None:
                findings.append(_pruned_finding(pruned, prune_events))
            self._commit(
                batch=batch,
                cp=cp,
                cp_note=cp_note,
                crange=crange,
                users=users,
                meta=meta,
                rate=rate,
                done=done,
                cancel=cancel,
            )
        except BaseException:
            fetcher.close()
            batch.rollback()
            raise
        timings.update(batch.timings)
        return findings, done, timings

    def _decode_bundle(self, ref: tiles.TileRef, data: bytes) -> list[bytes]:
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

    def _locate_mismatch(
        self, base: merkle.CompactRange, cp: Checkpoint, leaves: bytes
    ) -> VerificationError:
        """Name the entries whose bytes do not hash to what the signed tree holds."""
        start, end = base.size, cp.size
        whole = VerificationError(
            Code.EVENT_MODIFIED,
            f"The entries {start}-{end - 1} do not hash to the root of the signed checkpoint "
            f"of size {cp.size}: at least one was modified. Nothing was stored.",
            ranges=[(start, end - 1)],
        )
        try:
            recorded = HashTiles(self.client, cp.size).leaf_hashes(start, end)
        except Exception:
            return whole
        ours = [leaves[i : i + 32] for i in range(0, len(leaves), 32)]
        if len(ours) != len(recorded):
            return whole
        bad = [start + i for i, (a, b) in enumerate(zip(ours, recorded, strict=True)) if a != b]
        if not bad:
            return whole
        # The recorded hashes are evidence only if they reproduce the signed root.
        check = base.copy()
        check.extend(recorded)
        if check.root() != cp.root:
            return whole
        where = format_ranges(compress_ranges(bad))
        if len(bad) > 1 and {ours[i - start] for i in bad} == {recorded[i - start] for i in bad}:
            return VerificationError(
                Code.EVENT_REORDERED,
                f"The server served entries {where} in a different order than its signed "
                f"checkpoint of size {cp.size} records them. Nothing was stored.",
                indexes=bad,
            )
        return VerificationError(
            Code.EVENT_MODIFIED,
            f"The server served entries whose bytes differ from what its signed checkpoint of "
            f"size {cp.size} records (indexes {where}). Nothing was stored.",
            indexes=bad,
        )

    def _commit(
        self,
        *,
        batch: AppendBatch,
        cp: Checkpoint,
        cp_note: str,
        crange: merkle.CompactRange,
        users: Sequence[UserInfo],
        meta: dict[str, str],
        rate: _Rate,
        done: int,
        cancel: threading.Event,
    ) -> None:
        if cancel.is_set():
            raise _CancelledError

        def on_index(i: int, n: int) -> None:
            if cancel.is_set():
                raise _CancelledError
            rate.report(
                SyncPhase.INDEXES, done, f"Building search indexes ({i + 1}/{n})", force=True
            )

        rate.report(SyncPhase.COMMIT, done, "Saving to the mirror", force=True)
        try:
            batch.commit(
                checkpoint_note=cp_note,
                checkpoint_size=cp.size,
                checkpoint_root=cp.root,
                frontier=crange.hashes,
                users=[UserRow(u.id, u.email, u.name, u.role) for u in users],
                meta=meta,
                rebuild_progress=on_index,
            )
        except sqlite3.IntegrityError as exc:
            raise VerificationError(
                Code.EVENT_INSERTED,
                f"The log holds an event id more than once ({exc}); a replayed event was "
                "inserted. Nothing was stored.",
            ) from None


# -- hot loop -----------------------------------------------------------------------------------


def _hash_and_parse(  # noqa: PLR0917 (the hot loop: positional on purpose)
    raws: Sequence[bytes],
    first: int,
    skip: int,
    crange: merkle.CompactRange,
    leaves: bytearray,
    prune_events: list[int],
    malformed: list[tuple[int, str]],
) -> tuple[list[EntryRow], list[tuple[int, bytes]]]:
    """Hash entries ``raws[skip:]`` (leaf ``first + i``) into ``crange`` and build their rows.

    Returns the rows and the completed level-8 nodes (the roots of whole tiles). An entry that
    is not a valid event is recorded in ``malformed`` and hashing goes on: whether its bytes are
    the signed ones (else EVENT_MODIFIED) is decided by the root check, which comes first.
    """
    rows: list[EntryRow] = []
    tile_nodes: list[tuple[int, bytes]] = []
    loads = orjson.loads
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
    return rows, tile_nodes


# -- evidence of a fork ---------------------------------------------------------------------------

FORK_EVIDENCE_FORMAT = "auditlens-fork-evidence/1"


def fork_evidence_path(mirror_path: Path, trusted_note: str, conflicting_note: str) -> Path:
    """``<mirror stem>.fork-<hash12>.json`` beside the mirror; the hash is over both notes, so
    seeing the same conflict again names the same file."""
    digest = sha256(f"{trusted_note}\n\n{conflicting_note}".encode()).hexdigest()[:12]
    return mirror_path.with_name(f"{mirror_path.stem}.fork-{digest}.json")


def keep_fork_evidence(
    mirror_path: Path,
    *,
    code: Code,
    detail: str,
    pin: Pin,
    trusted_note: str,
    conflicting_note: str,
    consistency_proof: Sequence[bytes] | None = None,
) -> Path:
    """Write the evidence of LOG_FORKED / LOG_TRUNCATED as one self-contained JSON file.

    Two checkpoints signed by the same key for the same origin that cannot both be true are
    proof, for anyone holding the key, that the log's operator presented two histories: the
    file holds both signed notes verbatim, the origin and key, where and when it was seen, and
    the consistency proof the server offered (if any). It is written once (mode 0600, atomic)
    and never into the mirror, which stays exactly as it was.
    """
    path = fork_evidence_path(mirror_path, trusted_note, conflicting_note)
    if path.exists():
        return path
    record = {
        "format": FORK_EVIDENCE_FORMAT,
        "code": str(code),
        "detail": detail,
        "detected_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "origin": pin.origin,
        "vkey": pin.vkey,
        "server_url": pin.server_url,
        "organization_id": pin.organization_id,
        "mirror": mirror_path.name,
        "trusted_checkpoint": trusted_note,
        "conflicting_checkpoint": conflicting_note,
        "consistency_proof": (
            None
            if consistency_proof is None
            else [b64encode(h).decode() for h in consistency_proof]
        ),
    }
    write_private_file(path, orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n")
    return path


# -- gaps (pruned ranges never held by this mirror) ------------------------------------------------

_Gaps = list[tuple[int, int, list[bytes]]]


def _load_gaps(text: str | None) -> _Gaps:
    if not text:
        return []
    try:
        items = orjson.loads(text)
        return [(int(a), int(b), [bytes.fromhex(h) for h in hs]) for a, b, hs in items]
    except (orjson.JSONDecodeError, TypeError, ValueError):
        raise ProtocolError("The mirror's record of pruned ranges is damaged") from None


def _dump_gaps(gaps: _Gaps) -> str:
    return orjson.dumps([[a, b, [h.hex() for h in hs]] for a, b, hs in gaps]).decode()


def _check_old_entries(first: int, raws: Sequence[bytes], stored: dict[int, bytes]) -> None:
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


def _pruned_finding(pruned: tuple[int, int], prune_events: Sequence[int]) -> Finding:
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
