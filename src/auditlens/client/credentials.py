"""Session tokens and API keys in the OS keyring, never in a settings file or a log.

One keyring item per server + account: service ``auditlens``, username ``<server URL>|<account>``
(the account is the email for a password sign-in, ``key:<prefix>`` for an API key), password =
a small JSON object holding the secret and its kind. Which account was last used for a server is
kept, without any secret, in ``accounts.json`` in the config directory so a scheduled
``auditlens sync --server URL`` finds its credential.

When no keyring backend works (the ``fail``/``null`` backends, or a backend that raises, as on a
headless Linux box without a Secret Service), the store keeps credentials in this process's
memory and says so in :attr:`CredentialStore.backend_warning`; the UI shows that sentence. The
fallback is shared by every store in the process so a sign-in survives until quit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keyring
import keyring.backend
import keyring.errors
import orjson

from auditlens.client.api import normalize_server_url
from auditlens.client.paths import config_dir, read_json_file, write_json_file

SERVICE = "auditlens"
NO_KEYRING_WARNING = (
    "No system keyring is available: your session is kept in memory until you quit."
)

CredentialKind = Literal["session", "api_key"]

_memory: dict[str, str] = {}
_memory_lock = threading.Lock()


@dataclass(frozen=True)
class StoredCredential:
    """A credential for one server + account; ``secret`` is the bearer token or API key."""

    server_url: str
    account: str
    kind: CredentialKind
    secret: str
    expires_at: str | None = None
    organization_id: str | None = None

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return (
            f"StoredCredential(server_url={self.server_url!r}, account={self.account!r}, "
            f"kind={self.kind!r})"
        )


def api_key_account(key: str) -> str:
    """The account name under which an API key is stored: ``key:`` + its non-secret prefix."""
    return "key:" + key[:12]


def _is_working(backend: keyring.backend.KeyringBackend) -> bool:
    from keyring.backends import chainer, fail, null

    if isinstance(backend, fail.Keyring | null.Keyring):
        return False
    return not (isinstance(backend, chainer.ChainerBackend) and not backend.backends)


class CredentialStore:
    """Store, load and delete credentials in the keyring (or in memory when there is none)."""

    def __init__(
        self,
        backend: keyring.backend.KeyringBackend | None = None,
        index_path: Path | None = None,
    ) -> None:
        self._backend: keyring.backend.KeyringBackend | None = backend or keyring.get_keyring()
        self._index_path = index_path or (config_dir() / "accounts.json")
        self.backend_warning: str | None = None
        if not _is_working(self._backend):
            self._use_memory()

    @property
    def in_memory(self) -> bool:
        """True when credentials last only until the process ends."""
        return self._backend is None

    def _use_memory(self) -> None:
        self._backend = None
        self.backend_warning = NO_KEYRING_WARNING

    # -- the keyring (or memory) -------------------------------------------------------------

    def _set(self, username: str, value: str) -> None:
        if self._backend is not None:
            try:
                self._backend.set_password(SERVICE, username, value)
                return
            except Exception:  # any backend failure (D-Bus, locked, denied) -> memory
                self._use_memory()
        with _memory_lock:
            _memory[username] = value

    def _get(self, username: str) -> str | None:
        if self._backend is not None:
            try:
                return self._backend.get_password(SERVICE, username)
            except Exception:
                self._use_memory()
        with _memory_lock:
            return _memory.get(username)

    def _delete(self, username: str) -> None:
        with _memory_lock:
            _memory.pop(username, None)
        if self._backend is not None:
            try:
                self._backend.delete_password(SERVICE, username)
            except keyring.errors.PasswordDeleteError:
                pass  # nothing stored: deleting is idempotent
            except Exception:
                self._use_memory()

    # -- public API ------------------------------------------------------------------------------

    def save(self, credential: StoredCredential) -> None:
        """Store ``credential`` and remember its account as the one to use for its server."""
        server = normalize_server_url(credential.server_url)
        value = orjson.dumps(
            {
                "kind": credential.kind,
                "secret": credential.secret,
                "expires_at": credential.expires_at,
                "organization_id": credential.organization_id,
            }
        ).decode()
        self._set(f"{server}|{credential.account}", value)
        index = read_json_file(self._index_path)
        index[server] = {
            "account": credential.account,
            "kind": credential.kind,
            "organization_id": credential.organization_id,
        }
        write_json_file(self._index_path, index)

    def current_account(self, server_url: str) -> str | None:
        """The account last saved for ``server_url`` (no secret involved), if any."""
        entry = read_json_file(self._index_path).get(normalize_server_url(server_url))
        if isinstance(entry, dict) and isinstance(entry.get("account"), str):
            return str(entry["account"])
        return None

    def servers(self) -> list[str]:
        """Servers that have a remembered account, in the order they were first saved."""
        return list(read_json_file(self._index_path))

    def load(self, server_url: str, account: str | None = None) -> StoredCredential | None:
        """The stored credential for ``server_url`` (its current account by default), or None."""
        server = normalize_server_url(server_url)
        account = account or self.current_account(server)
        if account is None:
            return None
        raw = self._get(f"{server}|{account}")
        if raw is None:
            return None
        try:
            obj = orjson.loads(raw)
            kind = obj["kind"]
            secret = obj["secret"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None  # not ours or damaged: treat as signed out, never echo it
        if kind not in ("session", "api_key") or not isinstance(secret, str):
            return None
        return StoredCredential(
            server_url=server,
            account=account,
            kind=kind,
            secret=secret,
            expires_at=obj.get("expires_at"),
            organization_id=obj.get("organization_id"),
        )

    def delete(self, server_url: str, account: str | None = None) -> bool:
        """Remove the credential (sign out); True when something was stored."""
        server = normalize_server_url(server_url)
        account = account or self.current_account(server)
        if account is None:
            return False
        username = f"{server}|{account}"
        existed = self._get(username) is not None
        self._delete(username)
        index = read_json_file(self._index_path)
        entry = index.get(server)
        if isinstance(entry, dict) and entry.get("account") == account:
            del index[server]
            write_json_file(self._index_path, index)
        return existed
