"""Private files: the server's data directory, database and key files belong to its user only.

The database holds argon2 password hashes and every event; the key file signs the log. So:

* Every directory the server creates for its data is mode 0700, and the data directory itself
  is tightened to 0700 at each start (it is the server's own directory, never a shared one).
* The SQLite database and its ``-wal``/``-shm`` companions are mode 0600. The database file is
  created empty with that mode before SQLite opens it (SQLite gives its companion files the
  mode of the database file), and an existing one that is looser is tightened.
* Key files are created 0600 by :func:`write_private` (an exclusive create with the mode set at
  creation, so they are never readable by others even for an instant).
* Nothing here runs on Windows, where POSIX modes mean nothing; there the user profile's ACLs
  protect the data directory.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlalchemy as sa

from auditlens.server.settings import ServerSettings

DIR_MODE = 0o700
FILE_MODE = 0o600
_POSIX = os.name == "posix"


def private_dir(path: Path) -> None:
    """Create ``path`` and its missing parents with mode 0700; tighten ``path`` itself."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        if _POSIX:
            os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask
    if _POSIX and stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, DIR_MODE)


def tighten(path: Path) -> None:
    """Make an existing file 0600 if group or others may access it."""
    if _POSIX and path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077:
        os.chmod(path, FILE_MODE)


def write_private(path: Path, text: str, *, exclusive: bool = False) -> None:
    """Write ``text`` to ``path`` as a 0600 file (``exclusive``: fail if it exists)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(text)
    tighten(path)


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite URL, or None for another database."""
    url = sa.make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def prepare_data_dir(settings: ServerSettings) -> None:
    """Create the data directory (0700) and the SQLite database file (0600) before first use."""
    private_dir(Path(settings.data_dir))
    db = sqlite_path(settings.resolved_database_url)
    if db is None:
        return
    if not db.parent.exists():
        private_dir(db.parent)
    if not db.exists():
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for companion in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        tighten(companion)
