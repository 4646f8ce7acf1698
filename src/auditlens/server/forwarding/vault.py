"""Forwarder secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with a key in the data directory.

Why a key file and not the database: a copy of the database (a backup, a replica, a dump handed
to support) must not carry usable SIEM tokens. The key file ``forwarding.key`` is created with
mode 0600 by an exclusive create, like the log key, and refused when others can read it. Every
server process that shares one PostgreSQL database needs the same key file.
"""

from __future__ import annotations

import os
import stat
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
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key() + b"\n")
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
