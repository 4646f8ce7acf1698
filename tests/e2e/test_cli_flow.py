"""The whole flow through the real command line, as a person or a cron job runs it.

`auditlens serve --demo` in a subprocess; events ingested over HTTP with the printed ingest key;
`auditlens login` (password on stdin, vkey pinned out of band), `sync`, `export` in each format
and `verify --vkey`, each its own process, sharing only the config and data directories and a
file-backed test keyring. Then the attacks: each export edited (exit 1 with its code), and an
entry of the server's database edited behind its back (the next sync exits 1 with
EVENT_MODIFIED and the mirror is unchanged).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.cli import DemoProcess, client_env, run_cli

DEMO_EVENTS = 3000


@dataclass
class Stack:
    """A running demo server and the environment every CLI process of the flow shares."""

    url: str
    env: dict[str, str]
    home: Path
    server_dir: Path
    vkey: str
    admin_email: str
    admin_password: str
    ingest_key: str
    synced_size: int = 0

    def run(
        self, *args: str, stdin: str = "", check: int | None = 0
    ) -> subprocess.CompletedProcess[str]:
        return run_cli(self.env, *args, stdin=stdin, check=check)

    def ingest(self, events: list[dict[str, object]]) -> dict[str, object]:
        answer = httpx.post(
            f"{self.url}/v1/events",
            json={"events": events},
            headers={"Authorization": f"Bearer {self.ingest_key}"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        body: dict[str, object] = answer.json()
        return body

    def mirror(self) -> Path:
        (path,) = (self.home / "data" / "mirrors").glob("*.sqlite")
        return path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("e2e")
    env = client_env(home)
    server_dir = home / "server"
    server = DemoProcess.start(server_dir, env, events=DEMO_EVENTS)
    try:
        yield Stack(
            url=server.url,
            env=env,
            home=home,
            server_dir=server_dir,
            vkey=server.vkey,
            admin_email=server.admin_email,
            admin_password=server.admin_password,
            ingest_key=server.ingest_key,
        )
    finally:
        server.stop()


def _events(n: int, tag: str) -> list[dict[str, object]]:
    return [
        {
            "type": "agent.action",
            "user_id": "usr_e2e",
            "task_id": f"tsk_e2e_{tag}",
            "agent_id": "agt_e2e",
            "event": {
                "outcome": "success",
                "tool": "file.write",
                "path": f"/work/{tag}/{i}.txt",
                "duration_ms": 10 + i,
                "request": {"ip": "203.0.113.7", "user_agent": "e2e"},
            },
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def synced(stack: Stack) -> Stack:
    """Ingest a few events, sign in pinning the vkey given out of band, sync once."""
    last = stack.ingest(_events(5, "first"))["last_index"]
    assert isinstance(last, int) and last >= DEMO_EVENTS + 4
    login = stack.run(
        "login",
        "--server",
        stack.url,
        "--email",
        stack.admin_email,
        "--vkey",
        stack.vkey,
        stdin=stack.admin_password + "\n",
    )
    assert stack.vkey in login.stdout and "Signed in" in login.stdout
    assert stack.admin_password not in login.stdout + login.stderr
    done = stack.run("sync", "--server", stack.url, "--quiet")
    size = re.search(r"auditlens\.local/acme\n(\d+)\n", done.stdout)  # the verified checkpoint
    assert size is not None and int(size.group(1)) > last, done.stdout
    stack.synced_size = int(size.group(1))
    return stack


def _verify(stack: Stack, path: Path) -> tuple[int, dict[str, object]]:
    done = stack.run("verify", str(path), "--vkey", stack.vkey, "--json", check=None)
    report: dict[str, object] = json.loads(done.stdout)
    return done.returncode, report


def _codes(report: dict[str, object]) -> set[str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return {f["code"] for f in findings}


@pytest.fixture(scope="module")
def exports(synced: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("exports")
    paths = {}
    for fmt in ("json", "csv", "ndjson"):
        path = out / f"agent-actions.{fmt}"
        args = ["--server", synced.url, "--format", fmt, "--out", str(path), "--type", "agent"]
        synced.run("export", *args, *(["--no-record"] if fmt != "json" else []))
        paths[fmt] = path
    return paths


def test_a_synced_mirror_holds_every_event_of_the_log(synced: Stack) -> None:
    with sqlite3.connect(f"file:{synced.mirror()}?mode=ro", uri=True) as conn:
        count, last = conn.execute("SELECT count(*), max(idx) FROM entries").fetchone()
        paths = conn.execute(
            "SELECT raw FROM entries WHERE task_id = 'tsk_e2e_first' ORDER BY idx"
        ).fetchall()
    assert (count, last) == (synced.synced_size, synced.synced_size - 1)
    assert [json.loads(raw)["event"]["path"] for (raw,) in paths] == [
        f"/work/first/{i}.txt" for i in range(5)
    ]


@pytest.mark.parametrize("fmt", ["json", "csv", "ndjson"])
def test_each_export_verifies_offline_with_the_servers_key(
    fmt: str, exports: dict[str, Path], synced: Stack
) -> None:
    code, report = _verify(synced, exports[fmt])
    assert (code, report["status"], report["findings"]) == (0, "verified", [])
    assert isinstance(report["events"], int) and report["events"] > 5
    assert report["origin"] == "auditlens.local/acme"


def test_without_the_key_an_export_is_not_verified(exports: dict[str, Path], synced: Stack) -> None:
    done = synced.run("verify", str(exports["json"]), check=3)
    assert "NOT VERIFIED" in done.stdout


def test_a_json_export_with_an_edited_event_fails_with_event_modified(
    exports: dict[str, Path], synced: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "edited.json"
    data = exports["json"].read_bytes()
    assert b'"path":"/work/first/2.txt"' in data
    path.write_bytes(data.replace(b"/work/first/2.txt", b"/work/first/9.txt", 1))
    code, report = _verify(synced, path)
    assert (code, _codes(report)) == (1, {"EVENT_MODIFIED"})


def test_a_csv_export_with_an_edited_cell_fails_with_file_modified(
    exports: dict[str, Path], synced: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "edited.csv"
    shutil.copy(
        exports["csv"].with_name(exports["csv"].name + ".evidence.json"),
        path.with_name("edited.csv.evidence.json"),
    )
    data = exports["csv"].read_bytes()
    assert b',"success",' in data
    path.write_bytes(data.replace(b',"success",', b',"failure",', 1))
    code, report = _verify(synced, path)
    assert code == 1
    assert _codes(report) == {"FILE_MODIFIED", "EVENT_MODIFIED"}


def test_an_ndjson_export_with_a_removed_line_fails_with_event_missing(
    exports: dict[str, Path], synced: Stack, tmp_path: Path
) -> None:
    path = tmp_path / "edited.ndjson"
    shutil.copy(
        exports["ndjson"].with_name(exports["ndjson"].name + ".evidence.json"),
        path.with_name("edited.ndjson.evidence.json"),
    )
    lines = exports["ndjson"].read_bytes().split(b"\n")
    removed = json.loads(lines[1])
    path.write_bytes(b"\n".join(lines[:1] + lines[2:]))
    code, report = _verify(synced, path)
    assert (code, _codes(report)) == (1, {"FILE_MODIFIED", "EVENT_MISSING"})
    findings = report["findings"]
    assert isinstance(findings, list)
    missing = next(f for f in findings if f["code"] == "EVENT_MISSING")
    with sqlite3.connect(f"file:{synced.mirror()}?mode=ro", uri=True) as conn:
        (idx,) = conn.execute("SELECT idx FROM entries WHERE id = ?", (removed["id"],)).fetchone()
    assert missing["ranges"] == [[idx, idx]]


def _mirror_state(path: Path) -> tuple[int, str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        digest = hashlib.sha256()
        rows = conn.execute("SELECT idx, raw FROM entries ORDER BY idx").fetchall()
        for idx, raw in rows:
            digest.update(idx.to_bytes(8, "big") + bytes(raw))
        (size,) = conn.execute("SELECT max(size) FROM checkpoints").fetchone()
    return size, digest.hexdigest()


def _edit_server_entry(stack: Stack, idx: int, old: bytes, new: bytes) -> bytes:
    """Change entry ``idx`` in the server's database file, as an attacker with the file would
    (dropping the append-only trigger first); return the original body."""
    with sqlite3.connect(stack.server_dir / "auditlens.db", timeout=30) as conn:
        conn.execute("DROP TRIGGER IF EXISTS entries_prune_only")
        (org,) = conn.execute("SELECT id FROM organizations WHERE slug = 'acme'").fetchone()
        (body,) = conn.execute(
            "SELECT body FROM entries WHERE org_id = ? AND idx = ?", (org, idx)
        ).fetchone()
        original = bytes(body)
        assert old in original, (idx, original)
        conn.execute(
            "UPDATE entries SET body = ? WHERE org_id = ? AND idx = ?",
            (original.replace(old, new, 1), org, idx),
        )
    return original


def _put_back(stack: Stack, idx: int, original: bytes) -> None:
    with sqlite3.connect(stack.server_dir / "auditlens.db", timeout=30) as conn:
        conn.execute(
            "UPDATE entries SET body = ? WHERE idx = ? AND org_id = "
            "(SELECT id FROM organizations WHERE slug = 'acme')",
            (original, idx),
        )


def test_an_entry_edited_in_the_server_database_stops_the_next_sync(synced: Stack) -> None:
    before = _mirror_state(synced.mirror())
    first = synced.ingest(_events(20, "second"))["first_index"]
    assert isinstance(first, int)
    target = first + 7
    original = _edit_server_entry(synced, target, b"/work/second/7.txt", b"/work/second/x.txt")
    try:
        done = synced.run("sync", "--server", synced.url, "--quiet", check=1)
    finally:
        _put_back(synced, target, original)
    assert done.stderr.startswith("EVENT_MODIFIED"), done.stderr
    assert str(target) in done.stderr
    assert _mirror_state(synced.mirror()) == before


def test_an_already_mirrored_entry_edited_in_the_partial_last_tile_stops_the_next_sync(
    synced: Stack,
) -> None:
    # The mirror ends inside a 256-entry tile; the next sync fetches that tile whole again, and
    # its old entries must be the bytes already verified.
    before = _mirror_state(synced.mirror())
    target = before[0] - 1
    assert before[0] % 256, "the mirror must end inside a tile for this test"
    synced.ingest(_events(3, "third"))
    original = _edit_server_entry(synced, target, b'"outcome":"success"', b'"outcome":"failure"')
    try:
        done = synced.run("sync", "--server", synced.url, "--quiet", check=1)
    finally:
        _put_back(synced, target, original)
    assert done.stderr.startswith("EVENT_MODIFIED"), done.stderr
    assert str(target) in done.stderr
    assert _mirror_state(synced.mirror()) == before


def test_verify_expects_the_origin_pinned_for_the_key(
    exports: dict[str, Path], synced: Stack, tmp_path: Path
) -> None:
    # The flow's own pins hold this key for auditlens.local/acme: that is the log expected.
    done = synced.run("verify", str(exports["json"]), "--vkey", synced.vkey)
    assert "auditlens.local/acme, pinned" in done.stderr
    # An investigator who trusts this server's key only for another organization's log must
    # not see this export verify as if it were that log's.
    config = tmp_path / "config"
    config.mkdir()
    (config / "pins.json").write_text(
        json.dumps(
            {"version": 2, "logs": {"auditlens.local/globex": {"vkey": synced.vkey}}, "servers": {}}
        ),
        encoding="utf-8",
    )
    env = {**synced.env, "AUDITLENS_CONFIG_DIR": str(config)}
    args = ("verify", str(exports["json"]), "--vkey", synced.vkey, "--json")
    refused = run_cli(env, *args, check=1)
    assert _codes(json.loads(refused.stdout)) == {"ORIGIN_MISMATCH"}
    run_cli(env, *args, "--origin", "auditlens.local/acme", check=0)  # the documented override


def test_sync_recheck_full_re_hashes_every_entry_of_the_mirror(synced: Stack) -> None:
    done = synced.run("sync", "--server", synced.url, "--quiet", "--recheck", "full")
    checked = re.search(
        r"Re-check \(full\): ([\d,]+) of ([\d,]+) entries re-hashed, ok=True", done.stdout
    )
    assert checked is not None, done.stdout
    assert checked.group(1) == checked.group(2)
