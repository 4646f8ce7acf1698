"""Where mirror files live and how they are opened (paths, pragmas, schema version).

One SQLite file per LOG, named by its identity, the signed origin and its verifier key, under
the platform's user data directory (``<data>/mirrors/<origin>-<hash8>.sqlite``, the hash over
origin and key). The same log reached through another URL or under another organization id
therefore syncs into the same file, whose history every new checkpoint must extend.
``AUDITLENS_DATA_DIR`` or an explicit ``base_dir`` overrides the directory, for tests and the
demo.

Earlier versions named a mirror by server URL and organization id
(``<host_port>-<org>-<hash8>.sqlite``, :func:`mirror_path`). Such a file is not moved (another
process may have it open): :func:`find_log_mirror` keeps using it for its log as long as no
file of the new layout exists, after checking that it holds that log (its ``meta``).

Mirror files are created mode 0600, in directories created mode 0700 (:func:`open_writable`).

Only :mod:`auditlens.mirror.writer` opens a mirror for writing (:func:`open_writable`, and
:func:`open_partial` for a new mirror being built beside its final path); everything else uses
:func:`open_readonly` (``mode=ro``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote

import platformdirs

from auditlens.client.paths import PRIVATE_FILE_MODE, make_private_dir
from auditlens.mirror.schema import SCHEMA_VERSION, table_ddl

APP_NAME = "auditlens"


class MirrorVersionError(RuntimeError):
    """The mirror file was written by a newer auditlens (its schema version is unknown here)."""


def data_dir() -> Path:
    """The viewer's data directory (``AUDITLENS_DATA_DIR`` overrides the platform default)."""
    override = os.environ.get("AUDITLENS_DATA_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _mirrors_dir(base_dir: Path | None) -> Path:
    return base_dir if base_dir is not None else data_dir() / "mirrors"


def log_mirror_path(origin: str, vkey: str, base_dir: Path | None = None) -> Path:
    """The mirror file of the log with this origin and key (the file of the current layout)."""
    digest = hashlib.sha256(f"{origin}\n{vkey}".encode()).hexdigest()[:8]
    readable = re.sub(r"[^A-Za-z0-9.]+", "_", origin).strip("_")[:80] or "log"
    return _mirrors_dir(base_dir) / f"{readable}-{digest}.sqlite"


def find_log_mirror(
    origin: str,
    vkey: str,
    legacy_locations: Iterable[tuple[str, str]] = (),
    base_dir: Path | None = None,
) -> Path:
    """The mirror of a log: its file if one exists, else a file of the earlier layout made for
    one of ``legacy_locations`` (server URL, organization id) that holds this very log, else
    the path where its file will be created."""
    current = log_mirror_path(origin, vkey, base_dir)
    if current.exists():
        return current
    for server_url, organization_id in legacy_locations:
        legacy = mirror_path(server_url, organization_id, base_dir)
        if legacy.exists() and _identity(legacy) == (origin, vkey):
            return legacy
    return current


def _identity(path: Path) -> tuple[str | None, str | None]:
    """The (origin, vkey) a mirror file was synced under, from its meta; Nones if unknown."""
    try:
        conn = open_readonly(path)
    except (OSError, sqlite3.Error, MirrorVersionError):
        return None, None
    try:
        rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('origin', 'vkey')"))
    except sqlite3.Error:
        return None, None
    finally:
        conn.close()
    return rows.get("origin"), rows.get("vkey")


def mirror_path(server_url: str, organization_id: str, base_dir: Path | None = None) -> Path:
    """The mirror file of the EARLIER layout: one organization on one server (normalized URL).

    Kept to find mirrors made by earlier versions; new mirrors use :func:`log_mirror_path`.
    """
    digest = hashlib.sha256(f"{server_url}\n{organization_id}".encode()).hexdigest()[:8]
    host = re.sub(r"^[a-z]+://", "", server_url)
    readable = re.sub(r"[^A-Za-z0-9.]+", "_", host).strip("_")[:60] or "server"
    org = re.sub(r"[^A-Za-z0-9]+", "_", organization_id).strip("_")[:40] or "org"
    return _mirrors_dir(base_dir) / f"{readable}-{org}-{digest}.sqlite"


def _check_version(conn: sqlite3.Connection, path: Path) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise MirrorVersionError(
            f"The mirror {path} was written by a newer auditlens (schema {version}, this "
            f"version reads up to {SCHEMA_VERSION}); update auditlens or use another mirror."
        )
    return version


def _make_private(path: Path) -> None:
    """Create the mirror file mode 0600 (in a 0700 directory when this creates it) before
    SQLite opens it, and take group and other access away from a file an earlier version made.

    SQLite gives the ``-wal`` and ``-shm`` files the mode of the database file, so they follow.
    A mirror holds every event of a log: only its owner may read it.
    """
    make_private_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE)
    try:
        if os.fstat(fd).st_mode & 0o077:
            os.fchmod(fd, PRIVATE_FILE_MODE)
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        with contextlib.suppress(FileNotFoundError):
            if side.stat().st_mode & 0o077:
                os.chmod(side, PRIVATE_FILE_MODE)


def open_writable(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) a mirror for the single writer: WAL, tables, user_version.

    The connection is in autocommit mode (``isolation_level=None``) so the writer controls its
    transactions with explicit BEGIN/COMMIT; it may be used from the sync engine's writer thread.
    Secondary indexes are not created here: the writer does that (bulk loads defer them).
    """
    _make_private(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    try:
        version = _check_version(conn, path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: index builds sort in memory
        conn.execute("PRAGMA threads=2")  # lets CREATE INDEX sort on a helper thread
        if version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            for ddl in table_ddl():
                conn.execute(ddl)
            if version > 0:  # an older mirror: upgraded in place (auditlens.mirror.migrate)
                from auditlens.mirror.migrate import upgrade

                upgrade(conn, version)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("COMMIT")
    except BaseException:
        conn.close()
        raise
    return conn


def is_published(path: Path) -> bool:
    """True when ``path`` is a mirror holding a verified checkpoint (a sync extends it); False
    when there is no file, or only an empty one (a sync builds a new mirror for it)."""
    if not path.exists():
        return False
    conn = open_readonly(path)
    try:
        return conn.execute("SELECT 1 FROM checkpoints LIMIT 1").fetchone() is not None
    except sqlite3.OperationalError:  # no tables yet
        return False
    finally:
        conn.close()


def partial_path(path: Path) -> Path:
    """Where a new mirror for ``path`` is built until it is published (``<name>.partial``)."""
    return path.with_name(path.name + ".partial")


def open_partial(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the partial file of a new mirror for ``path``.

    A rollback journal, not WAL: nobody reads this file, and the rows a step appends land in
    new pages at the end of the file, which the journal does not copy, so each row is written
    about once (WAL writes it twice). ``synchronous=NORMAL`` syncs the journal and the file at
    each step's COMMIT, so a crash leaves the last committed step. A partial file that is not a
    mirror of this schema (damaged, or left by another version) is replaced by a fresh one.
    """
    partial = partial_path(path)
    try:
        return _open_partial(partial)
    except (sqlite3.DatabaseError, MirrorVersionError):
        for suffix in ("", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                partial.with_name(partial.name + suffix).unlink()
        return _open_partial(partial)


def _open_partial(partial: Path) -> sqlite3.Connection:
    _make_private(partial)
    conn = sqlite3.connect(partial, isolation_level=None, check_same_thread=False, timeout=30.0)
    try:
        version = _check_version(conn, partial)
        if 0 < version < SCHEMA_VERSION:
            raise MirrorVersionError(f"{partial} was left by an older auditlens")
        conn.execute("PRAGMA journal_mode=TRUNCATE")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute("PRAGMA cache_size=-65536")
        conn.execute("PRAGMA threads=2")
        if version == 0:
            conn.execute("BEGIN IMMEDIATE")
            for ddl in table_ddl():
                conn.execute(ddl)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            conn.execute("COMMIT")
        conn.execute("SELECT count(*) FROM tree_state").fetchone()  # a damaged file fails here
    except BaseException:
        conn.close()
        raise
    return conn


def open_readonly(path: Path) -> sqlite3.Connection:
    """Open an existing mirror read-only (``mode=ro``); FileNotFoundError when there is none."""
    if not path.exists():
        raise FileNotFoundError(f"There is no mirror at {path}: sync first")
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    # Readers lend one connection to one thread at a time, but a cursor left in a reference
    # cycle can be collected later on ANY thread; with the statement cache its statement may be
    # the one another thread is stepping on the same connection. Without the cache each cursor
    # owns its statement (defensive: preparing costs microseconds against queries of ms).
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, cached_statements=0)
    try:
        version = _check_version(conn, path)
    except BaseException:
        conn.close()
        raise
    if 0 < version < SCHEMA_VERSION:  # written by an older auditlens: upgrade it once, reopen
        from auditlens.mirror.migrate import upgrade_file

        conn.close()
        upgrade_file(path)
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, cached_statements=0)
    return conn
