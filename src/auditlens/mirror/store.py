"""Where mirror files live and how they are opened (paths, pragmas, schema version).

One SQLite file per server + organization under the platform's user data directory
(``<data>/mirrors/<host_port>-<org>-<hash8>.sqlite``). ``AUDITLENS_DATA_DIR`` or an explicit
``base_dir`` overrides the directory, for tests and the demo. The file name carries a hash of the
server URL so two servers with the same host name never share a mirror, and readable parts so a
person can tell files apart.

Only :mod:`auditlens.mirror.writer` opens a mirror for writing (:func:`open_writable`);
everything else uses :func:`open_readonly` (``mode=ro``), as DESIGN.md §5 asks.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from pathlib import Path
from urllib.parse import quote

import platformdirs

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


def mirror_path(server_url: str, organization_id: str, base_dir: Path | None = None) -> Path:
    """The mirror file of one organization on one server (the URL should be normalized)."""
    digest = hashlib.sha256(f"{server_url}\n{organization_id}".encode()).hexdigest()[:8]
    host = re.sub(r"^[a-z]+://", "", server_url)
    readable = re.sub(r"[^A-Za-z0-9.]+", "_", host).strip("_")[:60] or "server"
    org = re.sub(r"[^A-Za-z0-9]+", "_", organization_id).strip("_")[:40] or "org"
    directory = base_dir if base_dir is not None else data_dir() / "mirrors"
    return directory / f"{readable}-{org}-{digest}.sqlite"


def _check_version(conn: sqlite3.Connection, path: Path) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise MirrorVersionError(
            f"The mirror {path} was written by a newer auditlens (schema {version}, this "
            f"version reads up to {SCHEMA_VERSION}); update auditlens or use another mirror."
        )
    return version


def open_writable(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) a mirror for the single writer: WAL, tables, user_version.

    The connection is in autocommit mode (``isolation_level=None``) so the writer controls its
    transactions with explicit BEGIN/COMMIT; it may be used from the sync engine's writer thread.
    Secondary indexes are not created here: the writer does that (bulk loads defer them).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
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
