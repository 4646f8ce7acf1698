"""The server's command line: org, user, key, seed, prune, and the embedded demo server."""

from __future__ import annotations

import argparse
import io
import os
import stat
from pathlib import Path

import httpx
import pytest

from auditlens.server import accounts, commands
from auditlens.server.embedded import start_demo_server
from auditlens.server.settings import ServerSettings
from auditlens.server.state import open_server


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="auditlens")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_admin_commands_build_a_working_organization(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = ("--data-dir", str(tmp_path))
    code, out, _ = run(
        capsys, "server", "org", "create", "Initech Inc.", "--plan", "enterprise", *d
    )
    assert code == 0 and "auditlens.local/initech-inc" in out
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-passw0rd\n"))
    code, out, _ = run(
        capsys, "server", "user", "create", "--org", "initech-inc", "--email", "Boss@Initech.test",
        "--role", "owner", "--password-stdin", *d,
    )  # fmt: skip
    assert code == 0 and "boss@initech.test" in out
    code, out, err = run(
        capsys, "server", "key", "create", "--org", "Initech Inc.", "--name", "etl", *d
    )
    assert code == 0 and "shown only once" in err
    key = out.strip()
    code, out, _ = run(capsys, "server", "org", "list", *d)
    assert "initech-inc\tenterprise" in out
    state = open_server(ServerSettings(data_dir=tmp_path))
    try:
        with state.db.read() as conn:
            principal = accounts.resolve_credential(conn, key)
    finally:
        state.close()
    assert principal is not None
    assert (principal.kind, principal.org.slug) == ("ingest_key", "initech-inc")


def test_key_file_is_private_and_vkey_public(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, "server", "org", "list", "--data-dir", str(tmp_path))
    assert stat.S_IMODE(os.stat(tmp_path / "log.key").st_mode) == 0o600
    assert (tmp_path / "log.vkey").read_text().startswith("auditlens.local+")


def test_bad_input_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    d = ("--data-dir", str(tmp_path))
    run(capsys, "server", "org", "create", "Acme", "--plan", "business", *d)
    code, _, err = run(capsys, "server", "org", "create", "Acme", "--plan", "business", *d)
    assert code == 2 and "already exists" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    argv = ["server", "user", "create", "--org", "acme", "--email", "a@acme.test"]
    code, _, err = run(capsys, *argv, "--role", "admin", "--password-stdin", *d)
    assert code == 2 and "at least 8 characters" in err
    with pytest.raises(SystemExit, match="no organization"):
        run(capsys, "server", "key", "create", "--org", "nope", "--name", "x", *d)


def test_seed_then_prune_and_demo_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "server", "seed", "--events", "3000", "--data-dir", str(tmp_path))
    assert code == 0 and "auditlens.local/acme" in out and "password:" in out
    code, out, err = run(capsys, "server", "prune", "--data-dir", str(tmp_path))
    assert code == 0  # demo events span 90 days on an enterprise plan: nothing to prune yet
    assert "nothing to prune" in err
    with start_demo_server(tmp_path, events=3000) as demo:
        r = httpx.post(
            f"{demo.url}/v1/auth/login",
            json={"email": demo.admin_email, "password": demo.admin_password},
        )
        assert r.status_code == 200
        token = r.json()["token"]
        info = httpx.get(
            f"{demo.url}/v1/log/info", headers={"Authorization": f"Bearer {token}"}
        ).json()
        assert info["origin"] == demo.origin and info["vkey"] == demo.vkey
        assert info["size"] >= 3001
        event = {"type": "task.created", "user_id": None, "task_id": "t", "agent_id": None}
        r = httpx.post(
            f"{demo.url}/v1/events",
            json={"events": [{**event, "event": {"outcome": "success"}}]},
            headers={"Authorization": f"Bearer {demo.ingest_key}"},
        )
        assert r.status_code == 201
        member = httpx.post(
            f"{demo.url}/v1/auth/login",
            json={"email": demo.member_email, "password": demo.member_password},
        )
        assert member.status_code == 200


def test_serve_demo_prints_credentials_that_work(tmp_path: Path) -> None:
    import re
    import subprocess
    import sys
    import time

    from tests.server.test_crash import _free_port

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "auditlens.server.commands", "serve", "--demo", "--events", "2000",
         "--data-dir", str(tmp_path), "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        while not lines or not lines[-1].strip().startswith("vkey:"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else "serve exited"
            lines.append(line)
        text = "".join(lines)
        assert "origin: auditlens.local/acme" in text
        admin = re.search(r"admin\s+(\S+)\s+password: (\S+)", text)
        assert admin and re.search(r"owner\s+\S+@\S+", text) and re.search(r"member\s+\S+@", text)
        key = re.search(r"ingest key: (alk_\S+)", text)
        assert key
        vkey = text.split("vkey:")[1].strip()
        assert (tmp_path / "log.vkey").read_text().strip() == vkey
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.post(
                    f"http://127.0.0.1:{port}/v1/auth/login",
                    json={"email": admin[1], "password": admin[2]},
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert r.status_code == 200
        assert r.json()["organization"]["vkey"] == vkey
    finally:
        proc.terminate()
        proc.wait(10)
