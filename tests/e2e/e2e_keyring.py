"""A keyring backend that keeps items in a JSON file, for the whole-flow tests' subprocesses.

``auditlens login``, ``sync`` and ``export`` run as separate processes in tests/e2e, so the
session token must outlive each of them, yet the test must never touch the person's real
keyring. keyring loads this class from ``PYTHON_KEYRING_BACKEND=e2e_keyring.FileKeyring`` (the
test puts this directory on ``PYTHONPATH``); the file is ``AUDITLENS_E2E_KEYRING_FILE``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keyring.backend
from keyring.errors import PasswordDeleteError

FILE_ENV = "AUDITLENS_E2E_KEYRING_FILE"


class FileKeyring(keyring.backend.KeyringBackend):
    """Passwords in a JSON file named by ``AUDITLENS_E2E_KEYRING_FILE`` (tests only)."""

    priority = 1

    @property
    def _path(self) -> Path:
        return Path(os.environ[FILE_ENV])

    def _load(self) -> dict[str, str]:
        try:
            data: dict[str, str] = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return data

    def _save(self, items: dict[str, str]) -> None:
        self._path.write_text(json.dumps(items), encoding="utf-8")

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\n{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        items = self._load()
        items[f"{service}\n{username}"] = password
        self._save(items)

    def delete_password(self, service: str, username: str) -> None:
        items = self._load()
        if items.pop(f"{service}\n{username}", None) is None:
            raise PasswordDeleteError("not found")
        self._save(items)
