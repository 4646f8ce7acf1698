"""Tables, indexes and the append-only triggers of the server database (SQLAlchemy Core).

One schema serves SQLite and PostgreSQL. Every organization has its own log, so every log table
leads with ``org_id``.

Decisions:

* ``entries`` keeps, beside the exact canonical bytes (``body``), the columns the filters need
  (``ts``, ``type``, ``category``, ``user_id``, ``task_id``, ``agent_id``, ``outcome``). Because
  timestamps never decrease with the index, *index order is time order*: every filter index is
  ``(org_id, <column>, idx)`` and a time window is turned into an index window first, so any
  filter's page is one index range scan. The category has its own column and index (a
  ``type LIKE 'agent.%'`` range cannot be read in index order: measured, 2 s on a large log).
* ``leaf_hash`` is stored with the entry (level 0 of the tree). ``tree_nodes`` keeps the full
  nodes at heights 8, 16, 24, ... (the tlog-tiles levels 1, 2, 3, ...); the nodes in between
  are computed from at most 128 stored hashes when a proof needs them.
* ``organizations`` holds the sequencer state (``tree_size``, the compact-range ``frontier``,
  ``last_ts``) and ``min_index`` (entries below it have been pruned).
* The database refuses to change history (:func:`install_triggers`): entries, tree nodes and
  checkpoints cannot be deleted, tree nodes and checkpoints cannot be updated, and the only
  update an entry accepts is setting ``body`` to NULL (pruning) when its index is below its
  organization's ``min_index`` with every other column unchanged. ``tree_size`` and
  ``min_index`` never decrease and an origin never changes; PostgreSQL also refuses TRUNCATE.
* ``min_index`` rises only under a signed record of it: the raise is refused unless the log
  already holds (inside its signed size) an ``audit.retention_pruned`` event whose
  ``event.min_index`` is the new value and ``event.previous_min_index`` the old one. So
  pruning is, in one transaction: append that event (the sequencer signs a checkpoint
  covering it), raise ``min_index`` (a multiple of 256), then NULL the bodies below it. Erasing
  bodies by hand needs a trigger dropped first, and ``auditlens server verify`` then reports
  it (:mod:`.integrity`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

SCHEMA_VERSION = 1

metadata = sa.MetaData()

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

organizations = sa.Table(
    "organizations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("plan", sa.String(16), nullable=False),
    sa.Column("origin", sa.Text, nullable=False, unique=True),
    sa.Column("tree_size", BigInt, nullable=False, default=0),
    sa.Column("frontier", sa.LargeBinary, nullable=False, default=b""),
    sa.Column("last_ts", BigInt, nullable=False, default=0),
    sa.Column("min_index", BigInt, nullable=False, default=0),
    sa.Column("created_at", BigInt, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_at", BigInt, nullable=False),
    sa.Index("ix_users_org_email", "org_id", "email"),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
    sa.Column("user_id", sa.String(64), sa.ForeignKey("users.id"), nullable=False),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("created_at", BigInt, nullable=False),
    sa.Column("expires_at", BigInt, nullable=False),
    sa.Index("ix_sessions_user", "user_id", "expires_at"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("key_hash", sa.LargeBinary(32), nullable=False, unique=True),
    sa.Column("created_by", sa.String(64), sa.ForeignKey("users.id"), nullable=True),
    sa.Column("created_at", BigInt, nullable=False),
    sa.Column("revoked_at", BigInt, nullable=True),
    sa.Index("ix_api_keys_org", "org_id", "created_at"),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("idx", BigInt, nullable=False),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("ts", BigInt, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("user_id", sa.Text, nullable=True),
    sa.Column("task_id", sa.Text, nullable=True),
    sa.Column("agent_id", sa.Text, nullable=True),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=True),
    sa.PrimaryKeyConstraint("org_id", "idx", name="pk_entries"),
    sa.Index("ix_entries_ts", "org_id", "ts", "idx"),
    sa.Index("ix_entries_category", "org_id", "category", "idx"),
    sa.Index("ix_entries_type", "org_id", "type", "idx"),
    sa.Index("ix_entries_user", "org_id", "user_id", "idx"),
    sa.Index("ix_entries_task", "org_id", "task_id", "idx"),
    sa.Index("ix_entries_agent", "org_id", "agent_id", "idx"),
    sa.Index("ix_entries_outcome", "org_id", "outcome", "idx"),
)

tree_nodes = sa.Table(
    "tree_nodes",
    metadata,
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("idx", BigInt, nullable=False),
    sa.Column("hash", sa.LargeBinary(32), nullable=False),
    sa.PrimaryKeyConstraint("org_id", "level", "idx", name="pk_tree_nodes"),
)

checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("size", BigInt, nullable=False),
    sa.Column("root", sa.LargeBinary(32), nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", BigInt, nullable=False),
    sa.PrimaryKeyConstraint("org_id", "size", name="pk_checkpoints"),
)

ingest_receipts = sa.Table(
    "ingest_receipts",
    metadata,
    sa.Column("org_id", sa.String(64), nullable=False),
    sa.Column("key", sa.String(128), nullable=False),
    sa.Column("body_sha256", sa.LargeBinary(32), nullable=False),
    sa.Column("first_index", BigInt, nullable=False),
    sa.Column("last_index", BigInt, nullable=False),
    sa.Column("created_at", BigInt, nullable=False),
    sa.PrimaryKeyConstraint("org_id", "key", name="pk_ingest_receipts"),
)

forwarders = sa.Table(
    "forwarders",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("org_id", sa.String(64), sa.ForeignKey("organizations.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("secret", sa.LargeBinary, nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("cursor", BigInt, nullable=False),
    sa.Column("generation", BigInt, nullable=False, default=0),
    sa.Column("last_success_at", BigInt, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("last_error_at", BigInt, nullable=True),
    sa.Column("created_at", BigInt, nullable=False),
    sa.Column("updated_at", BigInt, nullable=False),
    sa.Index("ix_forwarders_org", "org_id", "created_at"),
)
"""Log forwarding destinations (see :mod:`auditlens.server.forwarding`): ``cursor`` is the next
log index to deliver; ``generation`` changes on replay so a batch in flight cannot undo it."""

forwarder_dead_letters = sa.Table(
    "forwarder_dead_letters",
    metadata,
    sa.Column("forwarder_id", sa.String(64), nullable=False),
    sa.Column("idx", BigInt, nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", BigInt, nullable=False),
    sa.PrimaryKeyConstraint("forwarder_id", "idx", name="pk_forwarder_dead_letters"),
)

APPEND_ONLY_MESSAGE = "auditlens: the audit log is append-only"

RETENTION_EVENT = "audit.retention_pruned"

_PRUNE_UNSIGNED = (
    f"{APPEND_ONLY_MESSAGE}: min_index rises only with a signed {RETENTION_EVENT} event "
    "recording the new value"
)

_PRUNE_ONLY = (
    f"{APPEND_ONLY_MESSAGE}: an entry can only lose its body, by retention pruning below min_index"
)

_ENTRY_KEPT_COLUMNS = (
    "org_id",
    "idx",
    "id",
    "ts",
    "type",
    "category",
    "user_id",
    "task_id",
    "agent_id",
    "outcome",
    "leaf_hash",
)

_SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER IF NOT EXISTS entries_no_delete BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: entries cannot be deleted'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS entries_prune_only BEFORE UPDATE ON entries
    WHEN NOT (NEW.body IS NULL
      AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in _ENTRY_KEPT_COLUMNS)}
      AND OLD.idx < (SELECT min_index FROM organizations WHERE id = OLD.org_id))
    BEGIN SELECT RAISE(ABORT, '{_PRUNE_ONLY}'); END""",
    *(
        f"""CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table}
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: {table} cannot be changed'); END"""
        for table in ("tree_nodes", "checkpoints")
        for op in ("UPDATE", "DELETE")
    ),
    f"""CREATE TRIGGER IF NOT EXISTS organizations_log_forward BEFORE UPDATE ON organizations
    WHEN NEW.tree_size < OLD.tree_size OR NEW.min_index < OLD.min_index
      OR NEW.origin IS NOT OLD.origin OR NEW.id IS NOT OLD.id
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: a log never shrinks or changes origin');
    END""",
    f"""CREATE TRIGGER IF NOT EXISTS organizations_prune_signed
    BEFORE UPDATE OF min_index ON organizations
    WHEN NEW.min_index > OLD.min_index AND NOT EXISTS (
      SELECT 1 FROM entries e
      WHERE e.org_id = NEW.id AND e.type = '{RETENTION_EVENT}'
        AND e.idx >= NEW.min_index AND e.idx < NEW.tree_size AND e.body IS NOT NULL
        AND json_extract(CAST(e.body AS TEXT), '$.event.min_index') = NEW.min_index
        AND json_extract(CAST(e.body AS TEXT), '$.event.previous_min_index') = OLD.min_index
        AND EXISTS (SELECT 1 FROM checkpoints c WHERE c.org_id = NEW.id AND c.size > e.idx))
    BEGIN SELECT RAISE(ABORT, '{_PRUNE_UNSIGNED}'); END""",
    f"""CREATE TRIGGER IF NOT EXISTS organizations_no_delete BEFORE DELETE ON organizations
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}: organizations cannot be deleted'); END""",
]

_PG_TRIGGERS = [
    f"""CREATE OR REPLACE FUNCTION auditlens_refuse() RETURNS trigger AS $$
    BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}: % on % refused', TG_OP, TG_TABLE_NAME; END;
    $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION auditlens_entries_prune_only() RETURNS trigger AS $$
    BEGIN
      IF NEW.body IS NULL
         AND {" AND ".join(f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _ENTRY_KEPT_COLUMNS)}
         AND OLD.idx < (SELECT min_index FROM organizations WHERE id = OLD.org_id) THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION '{_PRUNE_ONLY}';
    END;
    $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION auditlens_org_forward() RETURNS trigger AS $$
    BEGIN
      IF NEW.tree_size < OLD.tree_size OR NEW.min_index < OLD.min_index
         OR NEW.origin IS DISTINCT FROM OLD.origin OR NEW.id IS DISTINCT FROM OLD.id THEN
        RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}: a log never shrinks or changes origin';
      END IF;
      RETURN NEW;
    END;
    $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION auditlens_org_prune_signed() RETURNS trigger AS $$
    BEGIN
      IF NOT EXISTS (
        SELECT 1 FROM entries e
        WHERE e.org_id = NEW.id AND e.type = '{RETENTION_EVENT}'
          AND e.idx >= NEW.min_index AND e.idx < NEW.tree_size AND e.body IS NOT NULL
          AND convert_from(e.body, 'UTF8')::jsonb #> '{{event,min_index}}'
              = to_jsonb(NEW.min_index)
          AND convert_from(e.body, 'UTF8')::jsonb #> '{{event,previous_min_index}}'
              = to_jsonb(OLD.min_index)
          AND EXISTS (SELECT 1 FROM checkpoints c WHERE c.org_id = NEW.id AND c.size > e.idx))
      THEN
        RAISE EXCEPTION '{_PRUNE_UNSIGNED}';
      END IF;
      RETURN NEW;
    END;
    $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE TRIGGER organizations_prune_signed
    BEFORE UPDATE OF min_index ON organizations
    FOR EACH ROW WHEN (NEW.min_index > OLD.min_index)
    EXECUTE FUNCTION auditlens_org_prune_signed()""",
    """CREATE OR REPLACE TRIGGER entries_prune_only BEFORE UPDATE ON entries
    FOR EACH ROW EXECUTE FUNCTION auditlens_entries_prune_only()""",
    """CREATE OR REPLACE TRIGGER organizations_log_forward BEFORE UPDATE ON organizations
    FOR EACH ROW EXECUTE FUNCTION auditlens_org_forward()""",
    *(
        f"""CREATE OR REPLACE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
        FOR EACH STATEMENT EXECUTE FUNCTION auditlens_refuse()"""
        for table, ops in (
            ("entries", ("DELETE", "TRUNCATE")),
            ("tree_nodes", ("UPDATE", "DELETE", "TRUNCATE")),
            ("checkpoints", ("UPDATE", "DELETE", "TRUNCATE")),
            ("organizations", ("DELETE", "TRUNCATE")),
        )
        for op in ops
    ),
]


def install_triggers(conn: Connection) -> None:
    """Create (or re-create) the triggers that make the log append-only in the database."""
    statements = _PG_TRIGGERS if conn.dialect.name == "postgresql" else _SQLITE_TRIGGERS
    for statement in statements:
        conn.execute(sa.text(statement))


def create_schema(conn: Connection) -> None:
    """Create every table, index and trigger that is missing; record the schema version.

    Refuses a database written by a newer auditlens (a higher schema version).
    """
    metadata.create_all(conn, checkfirst=True)
    install_triggers(conn)
    row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).first()
    if row is None:
        conn.execute(sa.insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
    elif int(row[0]) > SCHEMA_VERSION:
        raise RuntimeError(
            f"the database has schema version {row[0]}, newer than this auditlens "
            f"({SCHEMA_VERSION}); upgrade auditlens"
        )
