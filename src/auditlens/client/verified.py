"""The largest checkpoint this client has verified for each log, whatever mirror holds it.

A mirror remembers the history it verified, but a log can be synced into another mirror (``sync
--mirror-dir``, the viewer's own directory, a mirror deleted to start over). Without a record
outside the mirror, a second history under a pinned origin would be accepted there as if new.
So each successful sync records its checkpoint here, and every sync must extend the largest one
recorded for its log (else LOG_FORKED / LOG_TRUNCATED), as well as its mirror's.

One small file per log in ``<config dir>/checkpoints/``, named by origin and key, holding the
signed note verbatim (mode 0600). A note is only ever replaced by a larger one. The file is
re-verified with the pinned key before use: a damaged or foreign one is ignored, never trusted.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from auditlens.client.paths import config_dir, write_private_file
from auditlens.core import note
from auditlens.core.errors import VerificationError


class VerifiedCheckpoints:
    """Read and record the largest verified checkpoint per (origin, vkey)."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or (config_dir() / "checkpoints")

    def path(self, origin: str, vkey: str) -> Path:
        digest = hashlib.sha256(f"{origin}\n{vkey}".encode()).hexdigest()[:8]
        readable = re.sub(r"[^A-Za-z0-9.]+", "_", origin).strip("_")[:80] or "log"
        return self.directory / f"{readable}-{digest}.note"

    def latest(self, origin: str, vkey: str) -> str | None:
        """The recorded signed note of the log, or None (never recorded, or unreadable)."""
        try:
            return self.path(origin, vkey).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def _size(self, origin: str, vkey: str) -> int:
        text = self.latest(origin, vkey)
        if text is None:
            return -1
        try:
            return note.verify_checkpoint(text, vkey, origin).size
        except VerificationError:
            return -1

    def record(self, origin: str, vkey: str, size: int, signed_note: str) -> None:
        """Keep ``signed_note`` (already verified by the caller) if it is larger than the one
        recorded. Two syncs racing may both write; each note is verified, so the worst case is
        keeping the smaller of two consistent checkpoints."""
        if size > self._size(origin, vkey):
            write_private_file(self.path(origin, vkey), signed_note.encode("utf-8"))
