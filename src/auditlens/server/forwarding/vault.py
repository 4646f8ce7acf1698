"""Forwarder secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key in the data directory.

Why a key file and not the database: a copy of the database (a backup, a replica, a dump handed
to support) must not carry usable SIEM tokens. The key file ``forwarding.key`` is created with
mode 0600 atomically (a complete temporary file linked to its name, see :func:`_create_key`)
and refused when others can read it. Every server process that shares one PostgreSQL database
needs the same key file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_FILE = "forwarding.key"


class SecretUnreadableError(RuntimeError):
    """A stored secret cannot be decrypted with this data directory's key."""


class Vault:
    """Encrypts and decrypts forwarder secrets with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def open(cls, data_dir: Path) -> Vault:
        """Load ``<data_dir>/forwarding.key``, creating it (mode 0600) on first use."""
        path = Path(data_dir) / KEY_FILE
        if not path.exists():
            _create_key(path)
        if os.name == "posix":
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise PermissionError(
                    f"forwarding key {path} is accessible by other users (mode {mode:o}); "
                    f"run: chmod 600 {path}"
                )
        return cls(path.read_bytes().strip())

    def seal(self, secret: str) -> bytes:
        return self._fernet.encrypt(secret.encode("utf-8"))

    def open_secret(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise SecretUnreadableError(
                "a forwarder secret cannot be decrypted: this data directory's forwarding.key "
                "is not the one it was stored with; set the secret again"
            ) from None


def _create_key(path: Path) -> None:
    """Write a new key to a private temporary file, then link it to ``path`` (atomic).

    Why not create ``path`` itself exclusively and write into it: ``serve --workers N`` starts
    processes together, and one that finds the file between another's create and write reads
    an empty key. A link publishes only a complete, fsynced file; when another process linked
    first (FileExistsError), its key is the one every process uses."""
    fd, temp = tempfile.mkstemp(prefix=f".{KEY_FILE}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(Fernet.generate_key() + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return  # another process won: read its key
        _fsync_dir(path.parent)
    finally:
        os.unlink(temp)


def _fsync_dir(directory: Path) -> None:
    """Make the new directory entry durable (a crash must not leave secrets sealed with a key
    whose file disappears); a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
