"""Credentials live in the keyring (or, without one, in memory with a plain warning)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backends import fail

from auditlens.client import credentials as creds_module
from auditlens.client.credentials import (
    NO_KEYRING_WARNING,
    SERVICE,
    CredentialStore,
    StoredCredential,
    api_key_account,
)
from tests.helpers.isolation import MemoryKeyring

URL = "http://127.0.0.1:8765"


@pytest.fixture(autouse=True)
def empty_memory_fallback() -> Iterator[None]:
    creds_module._memory.clear()
    yield
    creds_module._memory.clear()


def session(secret: str = "tok-1", account: str = "ada@example.com") -> StoredCredential:
    return StoredCredential(URL, account, "session", secret, "2030-01-01T00:00:00Z", "org_1")


def test_a_saved_session_is_in_the_keyring_under_the_server_and_email(
    memory_keyring: MemoryKeyring,
) -> None:
    CredentialStore().save(session())
    assert (SERVICE, f"{URL}|ada@example.com") in memory_keyring.items


def test_a_saved_session_loads_back_by_server_url_alone() -> None:
    store = CredentialStore()
    store.save(session())
    loaded = store.load("HTTP://127.0.0.1:8765/")
    assert loaded is not None
    assert (loaded.secret, loaded.kind, loaded.account) == ("tok-1", "session", "ada@example.com")
    assert loaded.organization_id == "org_1"


def test_the_accounts_file_holds_no_secret(isolated_home: Path) -> None:
    CredentialStore().save(session(secret="very-secret-token"))
    text = (isolated_home / "config" / "accounts.json").read_text()
    assert "ada@example.com" in text
    assert "very-secret-token" not in text


def test_delete_signs_out(memory_keyring: MemoryKeyring) -> None:
    store = CredentialStore()
    store.save(session())
    assert store.delete(URL) is True
    assert store.load(URL) is None
    assert memory_keyring.items == {}
    assert store.delete(URL) is False


def test_an_api_key_is_stored_under_its_prefix_not_the_whole_key() -> None:
    key = "alk_read_0123456789abcdef"
    store = CredentialStore()
    store.save(StoredCredential(URL, api_key_account(key), "api_key", key))
    assert api_key_account(key) == "key:alk_read_012"
    loaded = store.load(URL)
    assert loaded is not None and loaded.secret == key and loaded.kind == "api_key"


def test_repr_of_a_credential_hides_the_secret() -> None:
    assert "tok-1" not in repr(session())


def test_without_a_keyring_the_session_is_kept_in_memory_with_a_warning() -> None:
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    store = CredentialStore()
    assert store.in_memory
    assert store.backend_warning == NO_KEYRING_WARNING
    store.save(session())
    other = CredentialStore()  # a second store in the same process sees it
    loaded = other.load(URL)
    assert loaded is not None and loaded.secret == "tok-1"


class BrokenKeyring(MemoryKeyring):
    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError("org.freedesktop.DBus.Error.ServiceUnknown")


def test_a_keyring_that_fails_when_used_falls_back_to_memory() -> None:
    keyring.set_keyring(BrokenKeyring())
    store = CredentialStore()
    assert store.backend_warning is None
    store.save(session())
    assert store.in_memory
    assert store.backend_warning == NO_KEYRING_WARNING
    loaded = store.load(URL)
    assert loaded is not None and loaded.secret == "tok-1"


def test_a_damaged_keyring_item_reads_as_signed_out(memory_keyring: MemoryKeyring) -> None:
    store = CredentialStore()
    store.save(session())
    memory_keyring.items[(SERVICE, f"{URL}|ada@example.com")] = "not json"
    assert store.load(URL) is None


def test_servers_lists_where_someone_is_signed_in() -> None:
    store = CredentialStore()
    store.save(session())
    store.save(StoredCredential("https://audit.example.com", "bo@example.com", "session", "t"))
    assert store.servers() == [URL, "https://audit.example.com"]


# -- headless alternatives: the environment and the opt-in credentials file --------------------


def test_an_api_key_in_the_environment_is_used_for_any_server_and_stored_nowhere(
    monkeypatch: pytest.MonkeyPatch, memory_keyring: MemoryKeyring
) -> None:
    monkeypatch.setenv("AUDITLENS_API_KEY", "alk_env_key")
    loaded = CredentialStore().load(URL)
    assert loaded is not None
    assert (loaded.kind, loaded.secret, loaded.source) == ("api_key", "alk_env_key", "environment")
    assert memory_keyring.items == {}


def test_a_token_in_the_environment_wins_over_the_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    store = CredentialStore()
    store.save(session("stored"))
    monkeypatch.setenv("AUDITLENS_TOKEN", "tok-env")
    loaded = store.load(URL)
    assert loaded is not None and (loaded.kind, loaded.secret) == ("session", "tok-env")


def test_both_variables_set_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDITLENS_API_KEY", "alk_x")
    monkeypatch.setenv("AUDITLENS_TOKEN", "tok")
    with pytest.raises(ValueError, match="unset one"):
        CredentialStore().load(URL)


def test_the_opt_in_file_keeps_a_session_without_a_keyring(isolated_home: Path) -> None:
    store = CredentialStore(backend=fail.Keyring())
    store.save(session("tok-file"), to_file=True)
    creds_module._memory.clear()  # a new process: nothing in memory
    loaded = CredentialStore(backend=fail.Keyring()).load(URL)
    assert loaded is not None and (loaded.secret, loaded.source) == ("tok-file", "file")
    assert CredentialStore(backend=fail.Keyring()).delete(URL)
    assert CredentialStore(backend=fail.Keyring()).load(URL) is None
    assert "tok-file" not in (isolated_home / "config" / "credentials.json").read_text()


def test_saving_to_the_keyring_removes_a_copy_left_in_the_file() -> None:
    CredentialStore().save(session("old"), to_file=True)
    store = CredentialStore()
    store.save(session("new"))
    assert "old" not in store.file_path.read_text()
    loaded = store.load(URL)
    assert loaded is not None and (loaded.secret, loaded.source) == ("new", "keyring")


def test_signing_out_never_ends_a_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from auditlens.client import session as session_module

    monkeypatch.setenv("AUDITLENS_TOKEN", "tok-env")
    called: list[str] = []
    monkeypatch.setattr(
        session_module.AuditApiClient, "logout", lambda self: called.append(self.base_url)
    )
    session_module.sign_out(URL)
    assert called == []
