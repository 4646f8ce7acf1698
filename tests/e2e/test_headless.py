"""Headless use on a machine without an OS keyring, each command a fresh process.

The keyring backend is keyring's own ``fail`` backend, as on a server without a Secret Service.
`login` must refuse to claim a session it cannot keep, and each documented alternative
(``--credentials-file``, ``AUDITLENS_API_KEY`` / ``AUDITLENS_TOKEN``, ``--api-key-file``) must
carry a login -> sync -> export -> verify through separate processes.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditlens.client.api import AuditApiClient
from tests.e2e.cli import DemoProcess, client_env, run_cli

NO_KEYRING = "keyring.backends.fail.Keyring"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoProcess]:
    home = tmp_path_factory.mktemp("headless-server")
    s = DemoProcess.start(home / "server", client_env(home))
    yield s
    s.stop()


def keyless(home: Path, **extra: str) -> dict[str, str]:
    return client_env(home, PYTHON_KEYRING_BACKEND=NO_KEYRING, **extra)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def password_login(
    env: dict[str, str], server: DemoProcess, *extra: str, check: int | None = 0
) -> tuple[int, str, str]:
    done = run_cli(
        env,
        "login",
        "--server",
        server.url,
        "--email",
        server.admin_email,
        "--vkey",
        server.vkey,
        *extra,
        stdin=server.admin_password + "\n",
        check=check,
    )
    return done.returncode, done.stdout, done.stderr


def sync_export_verify(env: dict[str, str], server: DemoProcess, out: Path, *extra: str) -> None:
    """The investigator's whole flow, each step its own process."""
    synced = run_cli(env, "sync", "--server", server.url, "--quiet", *extra)
    assert "auditlens.local/acme" in synced.stdout
    exported = run_cli(
        env, "export", "--server", server.url, "--format", "json", "--out", str(out), *extra
    )
    assert "Recorded as an audit.exported event" in exported.stdout, exported.stdout
    verified = run_cli(env, "verify", str(out), "--vkey", server.vkey, "--json")
    report = json.loads(verified.stdout)
    assert (report["status"], report["origin"]) == ("verified", "auditlens.local/acme")


def read_api_key(server: DemoProcess) -> str:
    with AuditApiClient(server.url) as client:
        client.login(server.admin_email, server.admin_password)
        created = client.create_api_key("headless e2e", "read")
    assert created.key is not None
    return created.key


def session_token(server: DemoProcess) -> str:
    with AuditApiClient(server.url) as client:
        return client.login(server.admin_email, server.admin_password).token


def test_login_without_a_keyring_refuses_and_names_the_alternatives(
    server: DemoProcess, tmp_path: Path
) -> None:
    env = keyless(tmp_path)
    code, out, err = password_login(env, server, check=None)
    assert code != 0
    assert "Signed in" not in out
    for option in ("--credentials-file", "AUDITLENS_API_KEY", "AUDITLENS_TOKEN", "--api-key-file"):
        assert option in err, err
    assert not (tmp_path / "config" / "credentials.json").exists()
    done = run_cli(env, "sync", "--server", server.url, check=None)
    assert done.returncode == 2 and "login" in done.stderr


def test_an_opt_in_credentials_file_carries_the_whole_flow(
    server: DemoProcess, tmp_path: Path
) -> None:
    env = keyless(tmp_path)
    _, out, _ = password_login(env, server, "--credentials-file")
    assert "Signed in" in out
    credentials = tmp_path / "config" / "credentials.json"
    assert mode(credentials) == 0o600 and mode(credentials.parent) == 0o700
    assert server.admin_password not in credentials.read_text(encoding="utf-8")
    sync_export_verify(env, server, tmp_path / "export.json")
    run_cli(env, "logout", "--server", server.url)
    stored = json.loads(credentials.read_text(encoding="utf-8"))
    assert stored["credentials"] == {}
    assert run_cli(env, "sync", "--server", server.url, check=None).returncode == 2


def test_an_api_key_in_the_environment_carries_the_whole_flow(
    server: DemoProcess, tmp_path: Path
) -> None:
    env = keyless(tmp_path, AUDITLENS_API_KEY=read_api_key(server))
    done = run_cli(env, "login", "--server", server.url, "--vkey", server.vkey)
    assert "Signed in" in done.stdout and "Nothing was stored" in done.stdout
    assert not (tmp_path / "config" / "credentials.json").exists()
    sync_export_verify(env, server, tmp_path / "export.json")


def test_a_session_token_in_the_environment_carries_the_whole_flow(
    server: DemoProcess, tmp_path: Path
) -> None:
    env = keyless(tmp_path, AUDITLENS_TOKEN=session_token(server))
    run_cli(env, "login", "--server", server.url, "--vkey", server.vkey)
    sync_export_verify(env, server, tmp_path / "export.json")


def test_both_variables_set_is_an_error_not_a_guess(server: DemoProcess, tmp_path: Path) -> None:
    env = keyless(tmp_path, AUDITLENS_API_KEY="alk_x", AUDITLENS_TOKEN="tok")
    done = run_cli(env, "login", "--server", server.url, "--vkey", server.vkey, check=2)
    assert "AUDITLENS_API_KEY" in done.stderr and "AUDITLENS_TOKEN" in done.stderr


def test_an_api_key_file_carries_the_whole_flow(server: DemoProcess, tmp_path: Path) -> None:
    """Login, sync and an export recorded on the server: it verifies as attested complete."""
    env = keyless(tmp_path)
    key_file = tmp_path / "read.key"
    key_file.write_text(read_api_key(server) + "\n", encoding="utf-8")
    args = ("--api-key-file", str(key_file))
    done = run_cli(env, "login", "--server", server.url, "--vkey", server.vkey, *args)
    assert "Nothing was stored" in done.stdout
    sync_export_verify(env, server, tmp_path / "export.json", *args)
    assert run_cli(env, "sync", "--server", server.url, check=None).returncode == 2
    missing = run_cli(env, "sync", "--server", server.url, "--api-key-file", "nope", check=2)
    assert "nope" in missing.stderr


def test_a_member_is_told_the_account_cannot_read_the_log(
    server: DemoProcess, tmp_path: Path
) -> None:
    env = keyless(tmp_path)
    done = run_cli(
        env,
        "login",
        "--server",
        server.url,
        "--email",
        server.member_email,
        "--vkey",
        server.vkey,
        "--credentials-file",
        stdin=server.member_password + "\n",
        check=None,
    )
    assert done.returncode != 0
    assert "cannot read the audit log" in done.stderr and "Signed in" not in done.stdout
    assert not (tmp_path / "config" / "credentials.json").exists()
