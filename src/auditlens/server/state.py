"""The server's long-lived parts, opened once per process (by the app, the CLI or a test).

:func:`open_server` creates the data directory, the database schema and the log key on first
use, so ``auditlens serve`` on an empty directory and the admin commands behave the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from auditlens.server.db import Database
from auditlens.server.files import prepare_data_dir
from auditlens.server.ratelimit import LoginLimiter
from auditlens.server.sequencer import Sequencer
from auditlens.server.settings import ServerSettings
from auditlens.server.signing import LogSigner, load_or_create_signer


@dataclass
class ServerState:
    settings: ServerSettings
    db: Database
    signer: LogSigner
    sequencer: Sequencer
    limiter: LoginLimiter

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
    except Exception:
        db.dispose()
        raise
    return ServerState(
        settings=settings,
        db=db,
        signer=signer,
        sequencer=Sequencer(db, signer),
        limiter=LoginLimiter(db, settings.login_budgets),
    )
