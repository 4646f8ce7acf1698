"""What the client writes is its owner's alone: files 0600, the directories it creates 0700.

A mirror holds every event of a log, and a pins file another local user could replace would
let them re-pin a log; the umask of the process must not decide that.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlens.client.credentials import CredentialStore, StoredCredential
from auditlens.client.trust import Pin, TrustStore
from auditlens.core import note
from auditlens.core.errors import Code, VerificationError
from auditlens.mirror.store import open_writable
from tests.client.fakelog import FakeLog
from tests.client.test_sync import engine_for


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the common default, which made 0644 files in 0755 dirs
    try:
        yield
    finally:
        os.umask(previous)


def test_a_synced_mirror_and_its_wal_are_private_in_private_directories(tmp_path: Path) -> None:
    mirror = tmp_path / "data" / "mirrors" / "log.sqlite"
    log = FakeLog()
    log.append(300)
    engine = engine_for(log, mirror)
    engine.run()
    with sqlite3.connect(mirror) as conn:  # a reader keeps the -wal / -shm files in place
        conn.execute("SELECT count(*) FROM entries").fetchone()
        sides = [mirror.with_name(mirror.name + s) for s in ("-wal", "-shm")]
        assert any(p.exists() for p in sides)
        assert {mode(p) for p in sides if p.exists()} == {0o600}
    assert mode(mirror) == 0o600
    assert mode(mirror.parent) == mode(mirror.parent.parent) == 0o700
    log.entries[3] = log.entries[4]  # a fork: its evidence file is private too
    log.append(1)
    with pytest.raises(VerificationError) as caught:
        engine.run()
    assert caught.value.code is Code.LOG_FORKED
    (evidence,) = mirror.parent.glob("*.fork-*.json")
    assert mode(evidence) == 0o600


def test_a_mirror_an_earlier_version_made_world_readable_is_tightened(tmp_path: Path) -> None:
    mirror = tmp_path / "old.sqlite"
    sqlite3.connect(mirror).close()
    mirror.chmod(0o644)
    open_writable(mirror).close()
    assert mode(mirror) == 0o600


def test_pins_and_accounts_are_private_in_a_private_config_directory(isolated_home: Path) -> None:
    config = isolated_home / "config"
    vkey = note.generate_keys("auditlens.local")[1]
    TrustStore().confirm(Pin("http://127.0.0.1:1", "org_1", "auditlens.local/acme", vkey))
    CredentialStore().save(StoredCredential("http://127.0.0.1:1", "a@b.c", "session", "tok"))
    assert mode(config) == 0o700
    assert mode(config / "pins.json") == mode(config / "accounts.json") == 0o600
    assert not list(config.glob("*.tmp"))
