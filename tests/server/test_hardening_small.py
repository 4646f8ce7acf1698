"""Smaller hardening findings: private files, owned read keys, ``Allow`` on 405, exact OpenAPI."""

from __future__ import annotations

import argparse
import os
import stat
from pathlib import Path

import pytest

from auditlens.server import accounts, commands
from auditlens.server.settings import ServerSettings
from auditlens.server.state import open_server
from tests.server.conftest import Api


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="auditlens")
    commands.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    code = args.handler(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_server_data_is_private_to_its_user(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "srv" / "data"
        state = open_server(ServerSettings(data_dir=data))
        with state.db.write() as conn:
            accounts.create_organization(conn, state.sequencer, "Acme", "business")
        state.close()
    finally:
        os.umask(old)
    assert _mode(data) == 0o700
    assert _mode(data.parent) == 0o700
    files = sorted(p for p in data.iterdir())
    assert {p.name for p in files} >= {"auditlens.db", "log.key", "log.vkey"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o600 for p in files}


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    state = open_server(ServerSettings(data_dir=tmp_path / "d"))
    state.close()
    db = tmp_path / "d" / "auditlens.db"
    os.chmod(db, 0o644)
    os.chmod(tmp_path / "d", 0o755)
    open_server(ServerSettings(data_dir=tmp_path / "d")).close()
    assert _mode(db) == 0o600
    assert _mode(tmp_path / "d") == 0o700


def test_read_key_without_an_owner_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ("--data-dir", str(tmp_path))
    run(capsys, "server", "org", "create", "Acme", "--plan", "business", *d)
    code, out, err = run(
        capsys, "server", "key", "create", "--org", "acme", "--name", "r", "--scope", "read", *d
    )
    assert code == 2 and out == ""
    assert "--user" in err


def test_read_key_acts_as_the_named_owner(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    d = ("--data-dir", str(tmp_path))
    run(capsys, "server", "org", "create", "Acme", "--plan", "business", *d)
    for email, role in (("boss@acme.test", "admin"), ("pat@acme.test", "member")):
        monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-passw0rd\n"))
        run(
            capsys, "server", "user", "create", "--org", "acme", "--email", email,
            "--role", role, "--password-stdin", *d,
        )  # fmt: skip
    base = ("server", "key", "create", "--org", "acme", "--name", "r", "--scope", "read")
    code, _, err = run(capsys, *base, "--user", "pat@acme.test", *d)
    assert code == 2 and "member" in err
    code, _, err = run(capsys, *base, "--user", "nobody@acme.test", *d)
    assert code == 2 and "no user" in err
    code, out, _ = run(capsys, *base, "--user", "Boss@acme.test", *d)
    assert code == 0
    state = open_server(ServerSettings(data_dir=tmp_path))
    try:
        with state.db.read() as conn:
            principal = accounts.resolve_credential(conn, out.strip())
    finally:
        state.close()
    assert principal is not None and principal.can_read
    assert principal.user is not None and principal.user.email == "boss@acme.test"


def test_a_read_key_needs_an_owner_in_the_accounts_layer(tmp_path: Path) -> None:
    state = open_server(ServerSettings(data_dir=tmp_path))
    try:
        with state.db.write() as conn:
            org = accounts.create_organization(conn, state.sequencer, "Acme", "business")
            with pytest.raises(accounts.AccountError, match="owner"):
                accounts.create_api_key(conn, org.id, "r", "read", None)
    finally:
        state.close()


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/api-keys", {"GET", "POST"}),
        ("DELETE", "/v1/health", {"GET"}),
        ("GET", "/v1/auth/login", {"POST"}),
        ("PATCH", "/v1/api-keys/key_x", {"DELETE"}),
        ("OPTIONS", "/v1/audit-logs/exports", {"POST"}),
    ],
)
def test_405_names_every_allowed_method(
    api: Api, method: str, path: str, allowed: set[str]
) -> None:
    r = api.http.request(method, path, headers=api.auth("owner"))
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/problem+json"
    assert {m.strip() for m in r.headers["allow"].split(",")} == allowed


def test_openapi_states_the_api_key_scopes(api: Api) -> None:
    schema = api.http.get("/openapi.json").json()
    request = schema["components"]["schemas"]["ApiKeyRequest"]["properties"]["scope"]
    assert request.get("enum") == ["read", "ingest"]


def test_openapi_documents_400_for_every_json_body(api: Api) -> None:
    schema = api.http.get("/openapi.json").json()
    with_body = [
        (path, method, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]
    assert len(with_body) >= 4
    for path, method, operation in with_body:
        assert {"400", "422"} <= set(operation["responses"]), (method, path)
        assert set(operation["responses"]["400"]["content"]) == {"application/problem+json"}
    r = api.http.post(
        "/v1/auth/login", content=b"\xff{", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400


def test_openapi_states_what_the_server_checks_about_parameters(api: Api) -> None:
    import re

    from auditlens.core.tiles import parse_tile_path

    paths = api.http.get("/openapi.json").json()["paths"]

    def parameter(path: str, name: str) -> dict[str, object]:
        found = [p for p in paths[path]["get"]["parameters"] if p["name"] == name]
        assert found, (path, name)
        return found[0]

    assert "below size" in str(parameter("/v1/log/proof/inclusion", "index")["description"])
    assert "not exceed to" in str(parameter("/v1/log/proof/consistency", "from")["description"])
    pattern = parameter("/v1/log/tile/{path}", "path")["schema"]["pattern"]
    for good in ("0/000", "entries/x001/234.p/7", "63/x999/x999/000.p/255"):
        assert re.fullmatch(pattern, good)
        parse_tile_path("tile/" + good)
    for bad in ("64/000", "0/12", "0/000.p/256", "0/000.p/0", "entries", "x/000"):
        assert not re.fullmatch(pattern, bad), bad
    assert api.http.get("/v1/log/tile/0/12", headers=api.auth("admin")).status_code == 400
