"""Sign-in, sync and the command line against the REAL audit server on loopback."""

from __future__ import annotations

import argparse
import io
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from auditlens.client import commands
from auditlens.client.api import AuditApiClient
from auditlens.client.credentials import CredentialStore
from auditlens.client.errors import Forbidden, RateLimited, WrongCredentials
from auditlens.client.session import resume, sign_in
from auditlens.client.sync import SyncStatus
from auditlens.client.trust import TrustStore
from auditlens.core.errors import Code, VerificationError
from auditlens.server import accounts
from auditlens.server.app import create_app
from auditlens.server.embedded import ThreadedServer
from auditlens.server.settings import ServerSettings
from auditlens.server.state import ServerState, open_server

PASSWORD = "correct horse battery"


@dataclass
class Server:
    url: str
    state: ServerState
    org: accounts.Organization
    ingest_key: str
    emails: dict[str, str]

    def ingest(self, count: int, start: int = 0) -> None:
        with AuditApiClient(self.url, self.ingest_key) as client:
            for lo in range(0, count, 1000):
                client.ingest([event(start + i) for i in range(lo, min(count, lo + 1000))])


def event(n: int) -> dict[str, Any]:
    return {
        "type": "agent.action",
        "user_id": None,
        "task_id": f"task-{n % 7}",
        "agent_id": f"agent-{n % 3}",
        "event": {"outcome": "success", "tool": "browser.navigate", "url": f"https://e.com/{n}"},
    }


def start_server(tmp: Path) -> tuple[Server, ThreadedServer]:
    settings = ServerSettings(
        data_dir=tmp,
        login_failure_delay_seconds=0,
        login_max_failures=3,
        sqlite_synchronous="NORMAL",
    )
    state = open_server(settings)
    emails: dict[str, str] = {}
    with state.db.write() as conn:
        org = accounts.create_organization(conn, state.sequencer, "Acme", "business")
        for role in accounts.ROLES:
            user = accounts.create_user(
                conn, org.id, email=f"{role}@acme.test", name=role, role=role, password=PASSWORD
            )
            emails[role] = user.email
        _, ingest_key = accounts.create_api_key(conn, org.id, "platform", "ingest", None)
    running = ThreadedServer(create_app(settings, state)).start()
    return Server(running.url, state, org, ingest_key, emails), running


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv, running = start_server(tmp_path / "server")
    try:
        yield srv
    finally:
        running.stop()
        srv.state.close()


def signed_in(server: Server, role: str = "admin") -> Any:
    attempt = sign_in(server.url, email=server.emails[role], password=PASSWORD)
    return attempt.confirm() if attempt.needs_confirmation else attempt.session


def entries_in(mirror: Path) -> list[tuple[int, bytes]]:
    with sqlite3.connect(mirror) as conn:
        return [(int(i), bytes(r)) for i, r in conn.execute("SELECT idx, raw FROM entries")]


def test_first_sign_in_asks_to_confirm_the_servers_origin_and_key(server: Server) -> None:
    attempt = sign_in(server.url, email=server.emails["admin"], password=PASSWORD)
    assert attempt.needs_confirmation
    assert attempt.origin == server.org.origin and attempt.vkey == server.state.vkey
    assert CredentialStore().load(server.url) is None  # nothing stored before trust
    attempt.confirm(pasted_vkey=server.state.vkey)
    assert CredentialStore().load(server.url) is not None
    assert TrustStore().pin_for(server.url, server.org.id) is not None


def test_initial_then_incremental_sync_moves_only_new_entries(
    server: Server, tmp_path: Path
) -> None:
    server.ingest(700)
    session = signed_in(server)
    engine = session.sync_engine(tmp_path / "mirrors")
    first = engine.run()
    size = first.checkpoint.size  # 700 + the organization's own first event(s)
    assert first.status is SyncStatus.SYNCED and 700 <= size < 710
    assert len(entries_in(engine.mirror_path)) == size
    server.ingest(30, start=700)
    second = engine.run()
    assert (second.previous_size, second.new_entries) == (size, 30)
    assert [i for i, _ in entries_in(engine.mirror_path)] == list(range(size + 30))


def test_an_entry_edited_in_the_server_database_is_event_modified_and_not_stored(
    server: Server, tmp_path: Path
) -> None:
    server.ingest(100)
    session = signed_in(server)
    engine = session.sync_engine(tmp_path / "mirrors")
    engine.run()
    before = entries_in(engine.mirror_path)
    server.ingest(100, start=100)
    with server.state.db.write() as conn:
        conn.exec_driver_sql("DROP TRIGGER entries_prune_only")
        body = conn.execute(
            sa.text("SELECT body FROM entries WHERE org_id = :o AND idx = 150"),
            {"o": server.org.id},
        ).scalar_one()
        forged = bytes(body).replace(b"e.com/", b"evil.com/")
        conn.execute(
            sa.text("UPDATE entries SET body = :b WHERE org_id = :o AND idx = 150"),
            {"b": forged, "o": server.org.id},
        )
    with pytest.raises(VerificationError) as caught:
        engine.run()
    assert caught.value.code is Code.EVENT_MODIFIED
    assert caught.value.indexes == [150]
    assert entries_in(engine.mirror_path) == before


def test_a_member_is_told_only_owners_and_admins_read_audit_logs(
    server: Server, tmp_path: Path
) -> None:
    server.ingest(5)
    session = signed_in(server, "member")
    with pytest.raises(Forbidden, match="Only Owners and Admins can read audit logs"):
        session.sync_engine(tmp_path / "mirrors").run()


def test_a_wrong_password_is_wrong_credentials(server: Server) -> None:
    with pytest.raises(WrongCredentials):
        sign_in(server.url, email=server.emails["admin"], password="nope")


def test_repeated_failures_are_rate_limited_with_a_wait(server: Server) -> None:
    with pytest.raises(RateLimited) as caught:
        for _ in range(10):
            try:
                sign_in(server.url, email=server.emails["owner"], password="nope")
            except WrongCredentials:
                continue
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


def test_resume_uses_the_stored_session_and_pin(server: Server) -> None:
    signed_in(server).close()
    session = resume(server.url)
    assert session.identity.organization.id == server.org.id
    session.close()


# -- the command line --------------------------------------------------------------------------


def run_cli(argv: list[str], stdin: str = "", monkeypatch: pytest.MonkeyPatch | None = None) -> int:
    parser = argparse.ArgumentParser(prog="auditlens")
    commands.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    if monkeypatch is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    result: int = args.handler(args)
    return result


def test_cli_login_sync_logout(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.ingest(300)
    login = ["login", "--server", server.url, "--email", server.emails["admin"]]
    assert run_cli([*login, "--vkey", server.state.vkey], PASSWORD + "\n", monkeypatch) == 0
    assert server.state.vkey in capsys.readouterr().out
    mirror_dir = tmp_path / "cli-mirrors"
    assert run_cli(["sync", "--mirror-dir", str(mirror_dir), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"Verified 30\d new events", out)
    assert re.search(re.escape(server.org.origin) + r"\n30\d\n", out)  # the checkpoint note
    assert run_cli(["logout"]) == 0
    assert run_cli(["sync", "--mirror-dir", str(mirror_dir)]) == 2
    assert "not signed in" in capsys.readouterr().err


def test_cli_login_refuses_without_confirmation_when_not_interactive(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    login = ["login", "--server", server.url, "--email", server.emails["admin"]]
    assert run_cli(login, PASSWORD + "\n", monkeypatch) == 2
    assert "--vkey" in capsys.readouterr().err
    assert CredentialStore().load(server.url) is None


def test_cli_sync_exits_1_with_the_code_when_verification_fails(
    server: Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server.ingest(10)
    login = ["login", "--server", server.url, "--email", server.emails["admin"], "--yes"]
    assert run_cli(login, PASSWORD + "\n", monkeypatch) == 0
    mirror_dir = tmp_path / "cli-mirrors"
    assert run_cli(["sync", "--mirror-dir", str(mirror_dir), "--quiet"]) == 0
    server.ingest(10, start=10)
    with server.state.db.write() as conn:
        conn.exec_driver_sql("DROP TRIGGER entries_prune_only")
        conn.execute(
            sa.text("UPDATE entries SET body = :b WHERE org_id = :o AND idx = 15"),
            {"b": b"{}", "o": server.org.id},
        )
    capsys.readouterr()
    assert run_cli(["sync", "--mirror-dir", str(mirror_dir), "--quiet"]) == 1
    assert capsys.readouterr().err.startswith("EVENT_MODIFIED")
