"""The sync engine: fetch, verify and store the organization's log in the mirror.

The data flow is architecture.md §1; what a sync guarantees while large, killed or resumed is
architecture.md §4, "Sync: verified steps, resume, and the start-up re-check".

One :meth:`SyncEngine.run`:

1. fetch the latest checkpoint and verify its signature and origin against the PIN (never
   against what the server announces);
2. check that it extends what this client trusts (:mod:`auditlens.client.log_consistency`):
   smaller -> LOG_TRUNCATED; same size, other root -> LOG_FORKED; larger -> a consistency proof
   must verify, else LOG_FORKED. Both signed notes are then kept as evidence beside the mirror
   and nothing is written;
3. fetch the new entry bundles (prefetched on threads), re-hash every entry, extend the compact
   range and parse each event into its row (:mod:`auditlens.client.entry_check`). A partial
   bundle at the old end is fetched whole again: only its new entries are hashed and written,
   and its old ones must equal the stored bytes (else EVENT_MODIFIED);
4. store them, only once verified against the checkpoint being synced:

   - **a new mirror** is built beside its path (:meth:`MirrorWriter.build`) in steps of
     :data:`STEP` entries. A step commits only after a consistency proof from the step's root
     to the checkpoint verifies, so every committed entry is proven to be in the signed tree;
     the note the steps were verified against is kept with them (``pending_checkpoint``). A
     killed, cancelled or failed build resumes from its last committed step, after checking
     that the server's new checkpoint extends that note. The last step's root must equal the
     checkpoint's root; then the indexes are built, the checkpoint recorded, and the file is
     published by an atomic rename. Nobody sees the mirror before it is whole;
   - **an increment** of a published mirror is one transaction, committed after the root of
     the extended range equals the checkpoint's root;

   on a mismatch the engine locates the culprits with the server's level-0 hash tiles, and
   reports EVENT_MODIFIED (or EVENT_REORDERED) at the exact indexes when those hashes
   reproduce the signed tree, else over the step's whole range.

Entries below the server's ``min_index`` (pruned) cannot be fetched: the frontier at
``min_index`` is read from the hash tiles and authenticated by the root check. The gap is
PRUNED_BY_POLICY (informational) when a verified ``audit.retention_pruned`` event covers it,
else EVENT_MISSING; either way the verified entries are stored and the finding is returned (the
CLI exits non-zero on EVENT_MISSING).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from auditlens.client.api import AuditApiClient, UserInfo
from auditlens.client.entry_check import (
    check_old_entries,
    decode_bundle,
    dump_gaps,
    hash_and_parse,
    load_gaps,
    locate_mismatch,
    malformed_error,
    pruned_finding,
)
from auditlens.client.fork_evidence import (
    FORK_EVIDENCE_FORMAT,
    fork_evidence_path,
    keep_fork_evidence,
)
from auditlens.client.log_consistency import LogConsistency
from auditlens.client.sync_progress import (
    ProgressCallback,
    Rate,
    SyncPhase,
    SyncProgress,
    SyncResult,
    SyncStatus,
)
from auditlens.client.tilefetch import EntryTileFetcher, HashTiles
from auditlens.client.trust import Pin
from auditlens.client.verified import VerifiedCheckpoints
from auditlens.core import merkle, note, tiles
from auditlens.core.checkpoint import Checkpoint
from auditlens.core.errors import Code, Finding, VerificationError
from auditlens.mirror.recheck import mark_rechecked
from auditlens.mirror.store import is_published
from auditlens.mirror.writer import (
    AppendBatch,
    DuplicateEventError,
    MirrorState,
    MirrorWriter,
    UserRow,
    now_ms,
)

__all__ = [
    "FORK_EVIDENCE_FORMAT",
    "STEP",
    "ProgressCallback",
    "SyncEngine",
    "SyncPhase",
    "SyncProgress",
    "SyncResult",
    "SyncStatus",
    "fork_evidence_path",
    "keep_fork_evidence",
]

#: Entries per verified step of a new mirror (a multiple of the 256-entry tile): what a killed
#: sync can lose is at most one step, and each step costs one consistency proof.
STEP = 65_536

#: Meta key of the signed note a new mirror's committed steps were verified against.
PENDING_CHECKPOINT = "pending_checkpoint"


class _CancelledError(Exception):
    pass


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
        writer_thread: bool = True,
        verified: VerifiedCheckpoints | None = None,
        step: int = STEP,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        if step <= 0 or step % tiles.TILE_WIDTH:
            raise ValueError(f"a sync step must be a positive multiple of {tiles.TILE_WIDTH}")
        self.client = client
        self.verified = verified
        self.mirror_path = mirror_path
        self.pin = pin
        self.organization_name = organization_name
        self.fetch_workers = fetch_workers
        self.fetch_window = fetch_window
        self.writer_thread = writer_thread
        self.step = step
        #: ms since the epoch for ``last_sync_at`` and ``verified_at`` (fixed in tests that
        #: compare two mirrors byte for byte)
        self.clock = clock
        self.checks = LogConsistency(client, pin, mirror_path, verified)

    # -- entry point -------------------------------------------------------------------------------

    def run(
        self,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> SyncResult:
        """Sync once. Raises VerificationError (a verification code) or an ApiError on failure;
        on cancel returns status CANCELLED. In every case but SYNCED/UP_TO_DATE the published
        mirror is unchanged (a new mirror keeps its verified steps to resume from)."""
        cancel = cancel or threading.Event()
        started = time.perf_counter()
        building = not is_published(self.mirror_path)
        with MirrorWriter(self.mirror_path, building=building) as writer:
            state = writer.state()
            self.checks.check_identity(state.meta.get("vkey"), state.meta.get("origin"))
            rate = Rate(progress, 0)
            rate.report(SyncPhase.CHECKPOINT, 0, "Fetching the signed checkpoint", force=True)
            cp_note = self.client.checkpoint()
            cp = note.verify_checkpoint(cp_note, self.pin.vkey, self.pin.origin)
            trusted = state.checkpoint_note or state.meta.get(PENDING_CHECKPOINT) or None
            self.checks.check(trusted, cp, cp_note, rate, mirror="this mirror verified")
            if cancel.is_set():
                return self._cancelled(state, started)
            users = self.client.users()
            meta = self._meta()
            if state.checkpoint_note is not None and cp.size == state.size:
                writer.write_meta(meta)
                self._write_users(writer, state, users)
                if writer.building:  # finished before a crash, not yet published
                    writer.publish()
                self.checks.remember(cp, cp_note)
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
                    writer, state, cp, cp_note, users, meta, progress, cancel
                )
            except _CancelledError:
                return self._cancelled(state, started)
            if writer.building:
                writer.publish()
                if state.size == 0:  # every entry verified by this very run
                    mark_rechecked(self.mirror_path, cp.size)
            self.checks.remember(cp, cp_note)
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

    def _meta(self) -> dict[str, str]:
        meta = {
            "server_url": self.pin.server_url,
            "origin": self.pin.origin,
            "vkey": self.pin.vkey,
            "organization_id": self.pin.organization_id,
            "last_sync_at": str(self.clock()),
        }
        if self.organization_name:
            meta["organization_name"] = self.organization_name
        return meta

    def _write_users(
        self, writer: MirrorWriter, state: MirrorState, users: Sequence[UserInfo]
    ) -> None:
        with writer.begin(0, bulk=False) as batch:
            batch.commit(
                checkpoint_note=state.checkpoint_note,
                checkpoint_size=state.size,
                checkpoint_root=state.checkpoint_root,
                frontier=state.frontier,
                users=[UserRow(u.id, u.email, u.name, u.role) for u in users],
                verified_at=self.clock(),
            )

    # -- the entries ------------------------------------------------------------------------------

    def _append(  # noqa: PLR0917 (the one loop of a sync, read top to bottom)
        self,
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
        first_sync = state.checkpoint_note is None and PENDING_CHECKPOINT not in state.meta
        gaps = load_gaps(state.meta.get("gaps"))
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
        # Rewritten with the same value on every commit, so that a resumed build writes the
        # same rows in the same order as an uninterrupted one (the same file, byte for byte).
        meta["base_size"] = str(start) if first_sync else state.meta.get("base_size", "0")
        meta["min_index"] = str(min_index)
        meta["gaps"] = dump_gaps(gaps)

        total = cp.size - start
        rate = Rate(progress, total)
        refs = tiles.tiles_for_range(None, start, cp.size, cp.size)
        old_first = (start // tiles.TILE_WIDTH) * tiles.TILE_WIDTH
        stored_old = writer.raw_entries(old_first, start) if old_first < start else {}
        fetcher = EntryTileFetcher(
            self.client, refs, window=self.fetch_window, workers=self.fetch_workers, cancel=cancel
        )
        step = self.step if writer.building else total
        timings = {"fetch_wait": 0.0, "verify": 0.0}
        done = 0
        batch: AppendBatch | None = None
        try:
            batch = writer.begin(total, threaded=self.writer_thread)
            step_base, leaves = crange.copy(), bytearray()
            prune_events: list[int] = []
            malformed: list[tuple[int, str]] = []
            step_end = min(cp.size, (start // step + 1) * step) if step else cp.size
            waited = time.perf_counter()
            for ref, data in fetcher:
                got = time.perf_counter()
                timings["fetch_wait"] += got - waited
                if cancel.is_set():
                    raise _CancelledError
                raws = decode_bundle(ref, data)
                first = ref.n * tiles.TILE_WIDTH
                skip = max(0, start - first)
                if skip:
                    check_old_entries(first, raws[:skip], stored_old)
                rows, tile_nodes, texts = hash_and_parse(
                    raws, first, skip, crange, leaves, prune_events, malformed
                )
                batch.add(rows, texts)
                batch.add_tile_hashes(tile_nodes)
                done += len(raws) - skip
                rate.report(SyncPhase.ENTRIES, done, f"Verified {done:,} of {total:,} events")
                if crange.size == step_end < cp.size:
                    self._verify_step(step_base, crange, bytes(leaves), malformed, cp)
                    meta[PENDING_CHECKPOINT] = cp_note
                    batch.commit_step(crange.size, crange.hashes, meta)
                    step_base, leaves = crange.copy(), bytearray()
                    step_end = min(cp.size, step_end + step)
                waited = time.perf_counter()
                timings["verify"] += waited - got
            fetcher.close()
            if cancel.is_set():
                raise _CancelledError
            rate.report(
                SyncPhase.ENTRIES, done, f"Verified {done:,} of {total:,} events", force=True
            )
            self._verify_last_step(step_base, crange, bytes(leaves), malformed, cp)
            if pruned is not None:
                findings.append(pruned_finding(pruned, prune_events))
            if writer.building:
                meta[PENDING_CHECKPOINT] = ""  # the checkpoint itself is recorded now
            self._commit(batch, cp, cp_note, crange, users, meta, rate, done, cancel)
        except BaseException as exc:
            fetcher.close()
            if batch is not None:
                batch.rollback()
            if isinstance(exc, DuplicateEventError):
                raise VerificationError(
                    Code.EVENT_INSERTED,
                    f"The log holds an event id more than once ({exc}); a replayed event was "
                    "inserted. Nothing was stored.",
                ) from None
            raise
        timings.update(batch.timings)
        return findings, done, timings

    def _verify_last_step(
        self,
        base: merkle.CompactRange,
        crange: merkle.CompactRange,
        leaves: bytes,
        malformed: Sequence[tuple[int, str]],
        cp: Checkpoint,
    ) -> None:
        """All the entries must fold to the signed root itself (no proof needed at the end);
        a mismatch is located to the first tile that differs."""
        if crange.root() != cp.root:
            raise locate_mismatch(
                HashTiles(self.client, cp.size),
                base,
                leaves,
                lambda candidate: candidate.root() == cp.root,
                cp.size,
            )
        if malformed:
            raise malformed_error(malformed)

    def _verify_step(
        self,
        base: merkle.CompactRange,
        crange: merkle.CompactRange,
        leaves: bytes,
        malformed: Sequence[tuple[int, str]],
        cp: Checkpoint,
    ) -> None:
        """The entries up to ``crange.size`` must be a prefix of the signed tree ``cp``: a
        consistency proof from their root to the checkpoint's root must verify."""
        proof = self.client.consistency_proof(crange.size, cp.size)

        def reproduces(candidate: merkle.CompactRange) -> bool:
            try:
                merkle.verify_consistency(candidate.size, cp.size, proof, candidate.root(), cp.root)
            except VerificationError as exc:
                if exc.code is not Code.LOG_FORKED:
                    raise
                return False
            return True

        if not reproduces(crange):
            tiles_of_cp = HashTiles(self.client, cp.size)
            raise locate_mismatch(tiles_of_cp, base, leaves, reproduces, cp.size)
        if malformed:
            raise malformed_error(malformed)

    def _commit(  # noqa: PLR0917 (the last batch of a sync)
        self,
        batch: AppendBatch,
        cp: Checkpoint,
        cp_note: str,
        crange: merkle.CompactRange,
        users: Sequence[UserInfo],
        meta: dict[str, str],
        rate: Rate,
        done: int,
        cancel: threading.Event,
    ) -> None:
        """Record the checkpoint with the last entries; a new mirror builds its indexes here."""
        if cancel.is_set():
            raise _CancelledError

        def on_index(i: int, n: int) -> None:
            if cancel.is_set():
                raise _CancelledError
            rate.report(
                SyncPhase.INDEXES, done, f"Building search indexes ({i + 1}/{n})", force=True
            )

        rate.report(SyncPhase.COMMIT, done, "Saving to the mirror", force=True)
        batch.commit(
            checkpoint_note=cp_note,
            checkpoint_size=cp.size,
            checkpoint_root=cp.root,
            frontier=crange.hashes,
            users=[UserRow(u.id, u.email, u.name, u.role) for u in users],
            meta=meta,
            rebuild_progress=on_index,
            build_indexes=True if batch.building else None,
            verified_at=self.clock(),
        )
