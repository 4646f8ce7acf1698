"""Server configuration: one frozen dataclass, built by the CLI, tests or the embedded demo.

Decisions:

* The data directory holds what must stay with one server: the log signing key (``log.key``,
  mode 0600), its public verifier key (``log.vkey``) and, unless ``database_url`` says
  otherwise, the SQLite database ``auditlens.db``.
* ``server_name`` is the Ed25519 key name and the first half of every origin
  (``<server_name>/<org-slug>``); it must be a valid signed-note key name (no ``+``, no spaces).
* Durability: SQLite runs in WAL mode with ``synchronous=FULL`` by default, so a 201 answer to
  ``POST /v1/events`` means the batch survives even a power cut; the cost is one fsync per
  batch (never per event). ``NORMAL`` survives a process kill but not a power cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditlens.server.ratelimit import LoginBudgets

DEFAULT_SERVER_NAME = "auditlens.local"
DATABASE_FILE = "auditlens.db"
KEY_FILE = "log.key"
VKEY_FILE = "log.vkey"


@dataclass(frozen=True)
class ServerSettings:
    """Everything the server needs to start; defaults are safe for a single-machine server."""

    data_dir: Path
    database_url: str | None = None
    server_name: str = DEFAULT_SERVER_NAME
    session_ttl_seconds: int = 12 * 3600
    """Lifetime of a login token; the token stops working after it (no sliding renewal)."""
    login_max_failures: int = 5
    """Failed logins per email and source within ``login_window_seconds`` before 429."""
    login_source_max_failures: int = 20
    """Failed logins per source (any email) within the window before 429."""
    login_total_max_failures: int = 1000
    """Failed logins of all sources within the window before sources that failed get 429."""
    login_window_seconds: int = 15 * 60
    password_check_workers: int = 0
    """Threads that check passwords (argon2id, ~64 MiB each); 0: one per core."""
    password_check_queue: int = 0
    """Logins that may wait for a password thread before 503; 0: four per worker."""
    idempotency_ttl_seconds: int = 24 * 3600
    """How long an ``Idempotency-Key`` receipt replays its batch; later it is forgotten."""
    login_failure_delay_seconds: float = 0.25
    """Extra delay per recent failure before answering a failed login (capped at 2 s)."""
    max_request_bytes: int = 16 * 1024 * 1024
    """Largest request body accepted (413 beyond); 1000 events of realistic size take ~0.6 MB."""
    sqlite_synchronous: str = "FULL"
    retention_interval_seconds: float = 0.0
    """How often the running server prunes by retention policy (0: only ``auditlens server
    prune`` does)."""
    forwarding: str = "thread"
    """Where SIEM forwarders run: ``thread``, ``process`` (``auditlens serve``) or ``off``."""
    forwarding_scan_seconds: float = 1.0

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(Path(self.data_dir) / DATABASE_FILE).resolve()}"

    @property
    def login_budgets(self) -> LoginBudgets:
        return LoginBudgets(
            per_pair=self.login_max_failures,
            per_source=self.login_source_max_failures,
            total=self.login_total_max_failures,
            window_seconds=self.login_window_seconds,
        )

    @property
    def key_path(self) -> Path:
        return Path(self.data_dir) / KEY_FILE

    @property
    def vkey_path(self) -> Path:
        return Path(self.data_dir) / VKEY_FILE
