"""The server's log key: one Ed25519 signer key per server, kept in the data directory.

Decisions:

* The signer key lives in ``<data-dir>/log.key``, created with mode 0600 by an exclusive
  create (never overwritten, never world-readable even for an instant); ``log.vkey`` beside it
  holds the public verifier key so an admin can hand it to auditors out of band (also 0600,
  like everything in the private data directory; ``serve`` prints it).
* The key name is the server name. A key file whose name differs from the configured server
  name is refused: silently signing under another name would break every client's pin.
* A key file readable by group or others is refused on POSIX systems, like ssh does.
* The key text never appears in an exception or a log line.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from auditlens.core import note
from auditlens.core.checkpoint import Checkpoint
from auditlens.core.errors import FormatError
from auditlens.server.files import private_dir, tighten, write_private


@dataclass(frozen=True)
class LogSigner:
    """Signs checkpoints with the server key; knows its public ``vkey``."""

    signer: note.SignerKey
    vkey: str

    @property
    def name(self) -> str:
        return self.signer.name

    def sign_checkpoint(self, origin: str, size: int, root: bytes) -> str:
        """Return the signed note of the checkpoint ``(origin, size, root)``."""
        return note.sign_checkpoint(Checkpoint(origin, size, root), self.signer)


def load_or_create_signer(key_path: Path, vkey_path: Path, server_name: str) -> LogSigner:
    """Load the signer key at ``key_path``, generating it (mode 0600) on first start."""
    private_dir(key_path.parent)
    if not key_path.exists():
        skey, vkey = note.generate_keys(server_name)
        try:
            write_private(key_path, skey + "\n", exclusive=True)
        except FileExistsError:
            pass  # another process won the race; read its key below
        else:
            write_private(vkey_path, vkey + "\n")
    if os.name == "posix":
        mode = stat.S_IMODE(key_path.stat().st_mode)
        if mode & 0o077:
            raise PermissionError(
                f"log key {key_path} is accessible by other users (mode {mode:o}); "
                f"run: chmod 600 {key_path}"
            )
    try:
        signer = note.parse_skey(key_path.read_text(encoding="ascii"))
    except (FormatError, UnicodeDecodeError) as exc:
        raise ValueError(f"log key {key_path} is not a valid signer key: {exc}") from None
    if signer.name != server_name:
        raise ValueError(
            f"log key {key_path} is for server name {signer.name!r}, but the server is "
            f"configured as {server_name!r}; start with --server-name {signer.name}"
        )
    vkey = signer.verifier.vkey
    if not vkey_path.exists() or vkey_path.read_text(encoding="ascii").strip() != vkey:
        write_private(vkey_path, vkey + "\n")
    tighten(vkey_path)
    return LogSigner(signer, vkey)
