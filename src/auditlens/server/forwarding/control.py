"""What an Owner or Admin can do to forwarders; shared by the API routes and the CLI.

Each operation validates its input (:class:`ConfigError` naming the bad field), changes the
forwarder and appends the matching ``integration.*`` audit event in one write transaction.
"""

from __future__ import annotations

from typing import Any

from auditlens.core.events import CATEGORIES, EVENT_TYPES, OUTCOMES
from auditlens.server.accounts import AccountError, normalize_email
from auditlens.server.forwarding import registry, store
from auditlens.server.forwarding.destination import ConfigError
from auditlens.server.forwarding.engine import deliver, read_batch
from auditlens.server.forwarding.vault import Vault
from auditlens.server.state import ServerState


def check(
    kind: str, config: dict[str, Any], secret: str | None, *, has_secret: bool = False
) -> dict[str, Any]:
    """The full configuration of a ``kind`` destination (defaults filled in), or ConfigError.

    ``secret`` is a new secret to check; ``has_secret`` says one is already stored. The
    common part (which events, batching, the secret's shape) is checked here so that every
    destination refuses the same mistakes with the same words; the destination module checks
    its own options."""
    try:
        module = registry.module(kind)
    except ValueError as exc:
        raise ConfigError("kind", str(exc)) from None
    if not isinstance(config, dict):
        raise ConfigError("config", "must be an object")
    config = _checked_selection(config)
    _check_secret(module, secret, has_secret)
    try:
        checked: dict[str, Any] = module.check_config(config)
    except ConfigError as exc:
        raise ConfigError(f"config.{exc.field}", exc.reason) from None
    except (TypeError, AttributeError):
        raise ConfigError(
            "config", "a value has the wrong type (see the destination's options)"
        ) from None
    for name, value in checked.items():
        if isinstance(value, bool) and name not in ("verify_tls",):
            raise ConfigError(f"config.{name}", "must not be true/false")
    if secret and module.KIND == "webhook":
        module.secret_key(secret)
    return checked


def _checked_selection(config: dict[str, Any]) -> dict[str, Any]:
    """Check the options every destination shares (which events, how long to batch)."""
    types = config.get("types", [])
    if not isinstance(types, list) or any(
        not isinstance(t, str) or (t not in EVENT_TYPES and t not in CATEGORIES) for t in types
    ):
        raise ConfigError("config.types", "must be a list of event types or categories")
    if config.get("outcome") not in (None, *OUTCOMES):
        raise ConfigError("config.outcome", f"must be one of {', '.join(OUTCOMES)}")
    for name in ("user_email", "task_id", "agent_id"):
        if name in config and (not isinstance(config[name], str) or not config[name]):
            raise ConfigError(f"config.{name}", "must be a non-empty string")
    if config.get("user_email"):
        try:
            config = {**config, "user_email": normalize_email(config["user_email"])}
        except AccountError as exc:
            raise ConfigError("config.user_email", str(exc)) from None
    wait = config.get("max_wait_seconds", 1.0)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 <= wait <= 3600:
        raise ConfigError("config.max_wait_seconds", "must be a number of seconds from 0 to 3600")
    return config


def _check_secret(module: Any, secret: str | None, has_secret: bool) -> None:
    """A new secret must be printable ASCII; a destination that needs one must have one."""
    if secret is not None and not (secret.isascii() and secret.isprintable() and secret):
        raise ConfigError("secret", "must be printable ASCII (a token, key or whsec_ secret)")
    if module.SECRET and not secret and not has_secret:
        raise ConfigError("secret", f"a {module.LABEL} destination needs a secret (token/key)")


def _vault(state: ServerState) -> Vault:
    return Vault.open(state.settings.data_dir)


def add(
    state: ServerState,
    org_id: str,
    *,
    name: str,
    kind: str,
    config: dict[str, Any],
    secret: str | None,
    start: str = "end",
    user_id: str | None,
    **audit: Any,
) -> store.Forwarder:
    """Add a destination, delivering from the log's ``beginning`` or (default) its ``end``."""
    if not isinstance(name, str) or not name or not name.isprintable():
        raise ConfigError("name", "must be a non-empty string without control characters")
    if start not in ("beginning", "end"):
        raise ConfigError("start", "must be 'beginning' or 'end'")
    full = check(kind, config, secret)
    sealed = _vault(state).seal(secret) if secret else None
    with state.db.write() as conn:
        fwd = store.create(
            conn, org_id, name=name, kind=kind, config=full, sealed_secret=sealed, start=start
        )
        store.record_change(
            conn, state.sequencer, fwd, "added", user_id=user_id, **audit, start=start
        )
    return fwd


def change(
    state: ServerState,
    fwd: store.Forwarder,
    *,
    name: str | None = None,
    config: dict[str, Any] | None = None,
    secret: str | None = None,
    user_id: str | None,
    **audit: Any,
) -> store.Forwarder:
    """Change the name, configuration (merged over the current one) and/or secret."""
    values: dict[str, Any] = {}
    if name is not None:
        if not name.isprintable():
            raise ConfigError("name", "must be a non-empty string without control characters")
        values["name"] = name
    if config is not None or secret is not None:
        merged = {**fwd.config, **(config or {})}
        values["config"] = check(fwd.kind, merged, secret, has_secret=fwd.secret is not None)
    if secret:
        values["secret"] = _vault(state).seal(secret)
    if fwd.state == "failed":
        values["state"] = "active"  # a corrected configuration deserves another try
    with state.db.write() as conn:
        updated = store.update(conn, fwd, **values)
        if config is not None or name is not None:
            store.record_change(
                conn,
                state.sequencer,
                updated,
                "changed",
                user_id=user_id,
                **audit,
                fields=sorted([*(config or {})] + (["name"] if name is not None else [])),
            )
        if secret:
            store.record_change(
                conn, state.sequencer, updated, "secret_changed", user_id=user_id, **audit
            )
    return updated


def set_state(
    state: ServerState, fwd: store.Forwarder, new: str, *, user_id: str | None, **audit: Any
) -> store.Forwarder:
    """Pause (``paused``) or resume (``active``) a forwarder."""
    with state.db.write() as conn:
        updated = store.update(conn, fwd, state=new, last_error=None, last_error_at=None)
        action = "paused" if new == "paused" else "resumed"
        store.record_change(conn, state.sequencer, updated, action, user_id=user_id, **audit)
    return updated


def check_replay(state: ServerState, fwd: store.Forwarder, from_index: int) -> None:
    """ConfigError unless ``from_index`` is a log index to replay from (0 to the log's size)."""
    with state.db.read() as conn:
        size, _ = store.log_size(conn, fwd.org_id)
    if not 0 <= from_index <= size:
        raise ConfigError("from_index", f"must be from 0 to the log's size {size}")


def replay(
    state: ServerState, fwd: store.Forwarder, from_index: int, *, user_id: str | None, **audit: Any
) -> store.Forwarder:
    """Deliver again from log index ``from_index`` (backfilling a new SIEM)."""
    with state.db.write() as conn:
        size, _ = store.log_size(conn, fwd.org_id)
        if not 0 <= from_index <= size:
            raise ConfigError("from_index", f"must be from 0 to the log's size {size}")
        updated = store.update(conn, fwd, cursor=from_index)
        store.record_change(
            conn,
            state.sequencer,
            updated,
            "replayed",
            user_id=user_id,
            **audit,
            from_index=from_index,
        )
    return updated


def remove(state: ServerState, fwd: store.Forwarder, *, user_id: str | None, **audit: Any) -> None:
    with state.db.write() as conn:
        store.record_change(conn, state.sequencer, fwd, "removed", user_id=user_id, **audit)
        store.delete(conn, fwd)


def test(state: ServerState, fwd: store.Forwarder) -> str:
    """Send the log's newest entry (with its checkpoint) once, cursor untouched; say how it went.

    Raises a :class:`~.destination.DeliveryError` when the destination does not accept it."""
    vault = _vault(state)
    with state.db.read() as conn:
        size, _ = store.log_size(conn, fwd.org_id)
        probe = store.Forwarder(**{**fwd.__dict__, "cursor": max(0, size - 1), "config": {}})
        batch, _, _ = read_batch(conn, probe, 1)
    if not batch.records:
        return "the log is empty (or its newest entry was pruned): nothing to send"
    secret = vault.open_secret(fwd.secret) if fwd.secret is not None else None
    destination = registry.module(fwd.kind).connect(fwd.config, secret)
    try:
        dead = deliver(destination, batch)
    finally:
        destination.close()
    rec = batch.records[0]
    if dead:
        return f"the destination refused entry {rec.index} as malformed: {dead[0][2]}"
    return f"delivered entry {rec.index} ({rec.id}) with the checkpoint of size {size}"
