"""Session tokens and API keys: in the OS keyring, never in a settings file or a log, unless
the person explicitly chooses otherwise.

One keyring item per server + account: service ``auditlens``, username ``<server URL>|<account>``
(the account is the email for a password sign-in, ``key:<prefix>`` for an API key), password =
a small JSON object holding the secret and its kind. Which account was last used for a server is
kept, without any secret, in ``accounts.json`` in the config directory so a scheduled
``auditlens sync --server URL`` finds its credential.

Where there is no keyring (a server, a scheduler, a container), three explicit alternatives,
looked up in this order by :meth:`CredentialStore.load`:

1. ``AUDITLENS_API_KEY`` (a read API key) or ``AUDITLENS_TOKEN`` (a session token) in the
   environment: used for whatever server the command talks to, stored nowhere. Setting both is
   an error, not a guess.
2. the keyring (or, in the viewer only, this process's memory: see below);
3. ``credentials.json`` in the config directory, written only when the person opts in
   (``auditlens login --credentials-file``), mode 0600 in a 0700 directory. It holds bearer
   secrets in plain text: anyone who can read it as that user can read the audit log.

(``--api-key-file FILE`` on ``login``, ``sync``, ``export`` and ``case-export`` is the fourth: the
command reads the key from the file each time; nothing here is involved.)

When no keyring backend works (the ``fail``/``null`` backends, or a backend that raises, as on a
headless Linux box without a Secret Service), the store keeps credentials in this process's
memory and says so in :attr:`CredentialStore.backend_warning`; the viewer shows that sentence
and keeps its session until it quits. ``auditlens login``, whose process ends at once, refuses
instead (see :attr:`CredentialStore.in_memory`). The fallback is shared by every store in the
process so a sign-in survives until quit.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keyring
import keyring.backend
import keyring.errors
import orjson

from auditlens.client.paths import (
    config_dir,
    normalize_server_url,
    read_json_file,
    write_json_file,
)

ENV_API_KEY = "AUDITLENS_API_KEY"
ENV_TOKEN = "AUDITLENS_TOKEN"
CREDENTIALS_FILE_NAME = "credentials.json"

SERVICE = "auditlens"
NO_KEYRING_WARNING = (
    "No system keyring is available: your session is kept in memory until you quit."
)

CredentialKind = Literal["session", "api_key"]
#: where a loaded credential came from, for messages ("environment" is never stored)
CredentialSource = Literal["keyring", "memory", "file", "environment"]

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
    source: CredentialSource = "keyring"

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return (
            f"StoredCredential(server_url={self.server_url!r}, account={self.account!r}, "
            f"kind={self.kind!r})"
        )


def api_key_account(key: str) -> str:
    """The account name under which an API key is stored: ``key:`` + its non-secret prefix."""
    return "key:" + key[:12]


def read_api_key_file(path: Path) -> str:
    """The API key in ``path`` (its first line): ``--api-key-file`` on login, sync and export.

    ValueError naming the file when it is unreadable or empty, so the command can say which.
    """
    try:
        lines = path.read_text(encoding="utf-8").strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"Cannot read the API key file {path}: {exc}") from None
    if not lines or not lines[0].strip():
        raise ValueError(f"The API key file {path} is empty")
    return lines[0].strip()


def environment_credential(server_url: str) -> StoredCredential | None:
    """The credential ``AUDITLENS_API_KEY`` or ``AUDITLENS_TOKEN`` gives, if one is set.

    ValueError when both are set: which one was meant is not ours to guess.
    """
    key = os.environ.get(ENV_API_KEY, "").strip()
    token = os.environ.get(ENV_TOKEN, "").strip()
    if key and token:
        raise ValueError(f"Both {ENV_API_KEY} and {ENV_TOKEN} are set: unset one of them.")
    server = normalize_server_url(server_url)
    if key:
        return StoredCredential(server, f"env:{ENV_API_KEY}", "api_key", key, source="environment")
    if token:
        return StoredCredential(server, f"env:{ENV_TOKEN}", "session", token, source="environment")
    return None


def _decode(
    server: str, account: str, raw: str, source: CredentialSource
) -> StoredCredential | None:
    try:
        obj = orjson.loads(raw) if isinstance(raw, str) else raw
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
        source=source,
    )


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
        file_path: Path | None = None,
    ) -> None:
        self._backend: keyring.backend.KeyringBackend | None = backend or keyring.get_keyring()
        self._index_path = index_path or (config_dir() / "accounts.json")
        #: the opt-in credentials file (``auditlens login --credentials-file``), beside the index
        self.file_path = file_path or (self._index_path.parent / CREDENTIALS_FILE_NAME)
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

    def save(self, credential: StoredCredential, *, to_file: bool = False) -> None:
        """Store ``credential`` (in the keyring, or in the credentials file when ``to_file``)
        and remember its account as the one to use for its server.

        After a keyring save, check :attr:`in_memory`: a backend can fail on first use.
        """
        server = normalize_server_url(credential.server_url)
        username = f"{server}|{credential.account}"
        value: dict[str, object] = {
            "kind": credential.kind,
            "secret": credential.secret,
            "expires_at": credential.expires_at,
            "organization_id": credential.organization_id,
        }
        if to_file:
            self._write_file_entry(username, value)
        else:
            self._set(username, orjson.dumps(value).decode())
            if not self.in_memory:
                self._write_file_entry(username, None)  # no stale copy left on disk
        index = read_json_file(self._index_path)
        index[server] = {
            "account": credential.account,
            "kind": credential.kind,
            "organization_id": credential.organization_id,
        }
        write_json_file(self._index_path, index)

    def _file_entries(self) -> dict[str, object]:
        entries = read_json_file(self.file_path).get("credentials")
        return entries if isinstance(entries, dict) else {}

    def _write_file_entry(self, username: str, value: dict[str, object] | None) -> None:
        entries = self._file_entries()
        if value is None:
            if username not in entries:
                return
            del entries[username]
        else:
            entries[username] = value
        write_json_file(self.file_path, {"version": 1, "credentials": entries})

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
        """The credential for ``server_url``: the environment's, else the stored one of its
        current account (or ``account``) from the keyring or the credentials file; or None.
        ValueError when the environment sets both variables."""
        server = normalize_server_url(server_url)
        if account is None:
            from_env = environment_credential(server)
            if from_env is not None:
                return from_env
        account = account or self.current_account(server)
        if account is None:
            return None
        username = f"{server}|{account}"
        raw = self._get(username)
        if raw is not None:
            return _decode(server, account, raw, "memory" if self.in_memory else "keyring")
        in_file = self._file_entries().get(username)
        if isinstance(in_file, dict):
            return _decode(server, account, orjson.dumps(in_file).decode(), "file")
        return None

    def delete(self, server_url: str, account: str | None = None) -> bool:
        """Remove the credential (sign out); True when something was stored."""
        server = normalize_server_url(server_url)
        account = account or self.current_account(server)
        if account is None:
            return False
        username = f"{server}|{account}"
        existed = self._get(username) is not None or username in self._file_entries()
        self._delete(username)
        self._write_file_entry(username, None)
        index = read_json_file(self._index_path)
        entry = index.get(server)
        if isinstance(entry, dict) and entry.get("account") == account:
            del index[server]
            write_json_file(self._index_path, index)
        return existed
