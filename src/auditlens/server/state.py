"""The server's long-lived parts, opened once per process (by the app, the CLI or a test).

:func:`open_server` creates the data directory, the database schema and the log key on first
use, so ``auditlens serve`` on an empty directory and the admin commands behave the same. It
also recomputes every organization's sequencer state from the stored tree
(:func:`.sequencer.repair_state`): a corrupted cache is logged and rewritten; a log that cannot
be extended safely is logged as an error, keeps serving reads and refuses appends (503).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import sqlalchemy as sa

from auditlens.server.db import Database
from auditlens.server.files import prepare_data_dir
from auditlens.server.queries import derive_cursor_key
from auditlens.server.ratelimit import LoginLimiter
from auditlens.server.schema import organizations
from auditlens.server.sequencer import LogStateError, Sequencer, repair_state
from auditlens.server.settings import ServerSettings
from auditlens.server.signing import LogSigner, load_or_create_signer


@dataclass
class ServerState:
    settings: ServerSettings
    db: Database
    signer: LogSigner
    sequencer: Sequencer
    limiter: LoginLimiter
    cursor_key: bytes
    """HMAC key of audit-log cursors, derived from the log key (see :mod:`.queries`)."""

    @property
    def vkey(self) -> str:
        return self.signer.vkey

    def close(self) -> None:
        self.db.dispose()


def open_server(settings: ServerSettings) -> ServerState:
    """Open (creating on first use) the data directory, database, schema and log key."""
    prepare_data_dir(settings)
    signer = load_or_create_signer(settings.key_path, settings.vkey_path, settings.server_name)
    db = Database(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        db.create_schema()
        _recompute_sequencer_states(db)
    except Exception:
        db.dispose()
        raise
    return ServerState(
        settings=settings,
        db=db,
        signer=signer,
        sequencer=Sequencer(db, signer),
        limiter=LoginLimiter(db, settings.login_budgets),
        cursor_key=derive_cursor_key(signer.signer.sign),
    )


def _recompute_sequencer_states(db: Database) -> None:
    log = logging.getLogger("auditlens.server")
    with db.read() as conn:
        orgs = conn.execute(sa.select(organizations.c.id, organizations.c.origin)).all()
    for org_id, origin in orgs:
        try:
            repair_state(db, org_id)
        except LogStateError as exc:
            log.error("%s: %s; it refuses appends until repaired", origin, exc.reason)
