"""`auditlens login` says no with a reason, and a refused login keeps nothing.

Each refusal runs the real command against `auditlens serve --demo` with a fresh home, then
checks that no pin and no credential were written: a login that failed must not leave a
half-trusted log or a live session behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.cli import DemoProcess, client_env, run_cli


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    home = tmp_path_factory.mktemp("refusals")
    process = DemoProcess.start(home / "server", client_env(home), events=50)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def other_key(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The verifier key of another demo server: same origin name, a different signing key."""
    home = tmp_path_factory.mktemp("other")
    process = DemoProcess.start(home / "server", client_env(home), events=5)
    process.stop()
    return process.vkey


def _stored(home: Path) -> list[str]:
    """Everything a login could have kept: pins, mirrors and the test keyring's entries."""
    kept = [str(p.relative_to(home)) for p in (home / "config").rglob("pins*.json")]
    keyring = home / "keyring.json"
    if keyring.exists():
        kept += [f"keyring:{name}" for name in json.loads(keyring.read_text() or "{}")]
    return kept


def test_a_member_is_told_only_owners_and_admins_read_the_log(
    server: DemoProcess, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    done = run_cli(
        env,
        *("login", "--server", server.url, "--email", server.member_email),
        *("--vkey", server.vkey),
        stdin=server.member_password + "\n",
        check=2,
    )
    assert "only Owners and Admins can" in done.stderr
    assert server.member_email in done.stderr
    assert _stored(tmp_path) == []


def test_first_contact_without_a_terminal_needs_the_key_or_yes(
    server: DemoProcess, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    done = run_cli(
        env,
        *("login", "--server", server.url, "--email", server.admin_email),
        stdin=server.admin_password + "\n",
        check=2,
    )
    assert "First contact" in done.stdout and server.vkey in done.stdout
    assert "Not trusted" in done.stderr and "--vkey" in done.stderr
    assert _stored(tmp_path) == []


def test_a_key_that_is_not_the_servers_is_refused_as_untrusted(
    server: DemoProcess, other_key: str, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    done = run_cli(
        env,
        *("login", "--server", server.url, "--email", server.admin_email, "--vkey", other_key),
        stdin=server.admin_password + "\n",
        check=1,
    )
    assert "UNTRUSTED_KEY" in done.stderr
    assert "Signed in" not in done.stdout
    assert _stored(tmp_path) == []


def test_a_key_for_a_log_already_trusted_must_be_the_pinned_one(
    server: DemoProcess, other_key: str, tmp_path: Path
) -> None:
    env = client_env(tmp_path)
    login = ("login", "--server", server.url, "--email", server.admin_email)
    run_cli(env, *login, "--vkey", server.vkey, stdin=server.admin_password + "\n")
    kept = _stored(tmp_path)
    assert kept, "a successful login keeps a pin and a credential"
    done = run_cli(env, *login, "--vkey", other_key, stdin=server.admin_password + "\n", check=1)
    assert "UNTRUSTED_KEY" in done.stderr and "is not the key" in done.stderr
    assert _stored(tmp_path) == kept
