"""Does the server's signed checkpoint extend what this client already trusts for the log?

A new checkpoint must extend the one the mirror verified (or, for a mirror still being built,
the one its committed steps were verified against), and the largest one this client verified
for the log in any mirror (:class:`~auditlens.client.verified.VerifiedCheckpoints`). A smaller
one is LOG_TRUNCATED; the same size with another root, or a consistency proof that fails, is
LOG_FORKED. In every failure both signed notes are kept as evidence in a file beside the mirror
(:mod:`auditlens.client.fork_evidence`) and nothing is written to the mirror.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from auditlens.client.api import AuditApiClient
from auditlens.client.fork_evidence import keep_fork_evidence
from auditlens.client.sync_progress import Rate, SyncPhase
from auditlens.client.trust import Pin, key_changed_error, origin_changed_error
from auditlens.client.verified import VerifiedCheckpoints
from auditlens.core import merkle, note
from auditlens.core.checkpoint import Checkpoint
from auditlens.core.errors import Code, VerificationError


class LogConsistency:
    """The checks of one sync against the trusted history of the pinned log."""

    def __init__(
        self,
        client: AuditApiClient,
        pin: Pin,
        mirror_path: Path,
        verified: VerifiedCheckpoints | None,
    ) -> None:
        self.client = client
        self.pin = pin
        self.mirror_path = mirror_path
        self.verified = verified

    def check_identity(self, vkey: str | None, origin: str | None) -> None:
        """A mirror created under another key or origin must not be extended under this pin."""
        if vkey is not None and vkey != self.pin.vkey:
            raise key_changed_error(self.pin.server_url, vkey, self.pin.vkey)
        if origin is not None and origin != self.pin.origin:
            raise origin_changed_error(
                Pin(self.pin.server_url, self.pin.organization_id, origin, vkey or ""),
                self.pin.origin,
            )

    def check(
        self, trusted_note: str | None, cp: Checkpoint, cp_note: str, rate: Rate, *, mirror: str
    ) -> None:
        """``cp`` must extend ``trusted_note`` (what ``mirror`` says of it, e.g. "this mirror
        verified") and what this client verified for the log in any mirror."""
        trusted: Checkpoint | None = None
        if trusted_note is not None:
            trusted = note.verify_checkpoint(trusted_note, self.pin.vkey, self.pin.origin)
            self.check_extends(trusted_note, trusted, cp, cp_note, rate, mirror)
        known_note = self.verified.latest(self.pin.origin, self.pin.vkey) if self.verified else None
        if known_note is None or known_note in (trusted_note, cp_note):
            return
        try:
            known = note.verify_checkpoint(known_note, self.pin.vkey, self.pin.origin)
        except VerificationError:
            return  # not signed by the pinned key: a damaged file proves nothing either way
        if trusted is None or known.size > trusted.size:
            self.check_extends(
                known_note, known, cp, cp_note, rate, "this client verified earlier (in any mirror)"
            )

    def check_extends(  # noqa: PLR0917 (one check, told what it compares)
        self,
        trusted_note: str,
        trusted: Checkpoint,
        cp: Checkpoint,
        cp_note: str,
        rate: Rate,
        verifier: str,
    ) -> None:
        """LOG_TRUNCATED / LOG_FORKED (with evidence kept) unless ``cp`` extends ``trusted``;
        ``verifier`` says who verified that one ("this mirror verified")."""
        if cp.size < trusted.size:
            detail = (
                f"The server's signed checkpoint has {cp.size} entries, fewer than the "
                f"{trusted.size} {verifier}: the log was truncated or rolled back."
            )
            kept = self._keep_evidence(Code.LOG_TRUNCATED, detail, trusted_note, cp_note)
            raise VerificationError(
                Code.LOG_TRUNCATED, detail + kept, ranges=[(cp.size, trusted.size - 1)]
            )
        if cp.size == trusted.size:
            if cp.root != trusted.root:
                detail = (
                    f"The log {cp.origin} has two different signed trees of size {cp.size}: "
                    f"the one {verifier} and the one the server presents now. The log "
                    "forked."
                )
                kept = self._keep_evidence(Code.LOG_FORKED, detail, trusted_note, cp_note)
                raise VerificationError(Code.LOG_FORKED, detail + kept)
            return
        if trusted.size == 0:
            return  # the empty tree is a prefix of every tree
        rate.report(
            SyncPhase.CONSISTENCY, 0, "Checking consistency with the trusted log", force=True
        )
        proof = self.client.consistency_proof(trusted.size, cp.size)
        try:
            merkle.verify_consistency(trusted.size, cp.size, proof, trusted.root, cp.root)
        except VerificationError as exc:
            if exc.code is not Code.LOG_FORKED:
                raise
            detail = (
                f"The server's checkpoint of size {cp.size} does not extend the checkpoint of "
                f"size {trusted.size} {verifier} ({exc.message}): the log forked."
            )
            kept = self._keep_evidence(Code.LOG_FORKED, detail, trusted_note, cp_note, proof)
            raise VerificationError(Code.LOG_FORKED, detail + kept) from None

    def remember(self, cp: Checkpoint, cp_note: str) -> None:
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
