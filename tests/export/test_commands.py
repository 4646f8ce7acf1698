"""``auditlens verify`` and ``auditlens export`` as a person or a script runs them."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditlens.client.api import AuditApiClient
from auditlens.core.summaries import verdict_of
from auditlens.export.commands import register
from auditlens.export.writer import ExportOptions, export
from tests.e2e.cli import DemoProcess, client_env, run_cli
from tests.export.files import ExportFile
from tests.export.logs import MemoryLog
from tests.export.mirrors import build_mirror

LOG = MemoryLog(120, seed=11)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="auditlens")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


@pytest.fixture
def csv_export(tmp_path: Path) -> Path:
    path = tmp_path / "export.csv"
    export(LOG.snapshot(list(range(0, 120, 2))), ExportOptions("csv", path, {}))
    return path


def test_verify_with_the_trusted_key_exits_0_and_says_verified(
    csv_export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("verify", str(csv_export), "--vkey", LOG.vkey) == 0
    out = capsys.readouterr().out
    assert "VERIFIED" in out
    assert "[PASS] data file SHA-256" in out


def test_verify_reads_the_key_from_a_file(csv_export: Path, tmp_path: Path) -> None:
    key = tmp_path / "server.vkey"
    key.write_text(LOG.vkey + "\n")
    assert run("verify", str(csv_export), "--vkey-file", str(key)) == 0


def test_verify_accepts_the_sidecar_as_the_file(csv_export: Path) -> None:
    sidecar = csv_export.with_name(csv_export.name + ".evidence.json")
    assert run("verify", str(sidecar), "--vkey", LOG.vkey) == 0


def test_verify_without_a_key_is_not_verified_and_exits_3(
    csv_export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("verify", str(csv_export)) == 3
    assert "NOT VERIFIED" in capsys.readouterr().out


def test_verify_of_a_tampered_export_exits_1_with_codes_and_indexes_in_json(
    csv_export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ex = ExportFile(csv_export, "csv")
    records = ex.records()
    del records[5]
    ex.write_records(records)
    assert run("verify", str(csv_export), "--vkey", LOG.vkey, "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "failed"
    by_code = {f["code"]: f["ranges"] for f in report["findings"]}
    assert by_code["EVENT_MISSING"] == [[10, 10]]
    assert "FILE_MODIFIED" in by_code


def test_verify_pins_the_origin_when_asked(csv_export: Path) -> None:
    assert run("verify", str(csv_export), "--vkey", LOG.vkey, "--origin", "x.test/other") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verify", "/nonexistent/export.json", "--vkey", LOG.vkey], "does not exist"),
        (["verify", "EXPORT", "--vkey", "not a key"], "key"),
    ],
)
def test_verify_usage_errors_exit_2(
    argv: list[str], message: str, csv_export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(csv_export) if a == "EXPORT" else a for a in argv]
    assert run(*argv) == 2
    assert message in capsys.readouterr().err


def test_verify_needs_neither_qt_nor_sqlalchemy(csv_export: Path) -> None:
    code = (
        "import sys\n"
        "from auditlens.export.commands import run_verify\n"
        "import argparse\n"
        f"a = argparse.Namespace(file={str(csv_export)!r}, vkey={LOG.vkey!r}, vkey_file=None,"
        " origin=None, json=True)\n"
        "rc = run_verify(a)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in"
        " ('PySide6', 'sqlalchemy', 'httpx', 'pandas', 'pyarrow')]\n"
        "assert rc == 0, rc\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_export_command_writes_a_verified_export_from_a_mirror(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = build_mirror(LOG, tmp_path / "m.sqlite")
    out = tmp_path / "failures.ndjson"
    code = run(
        "export",
        "--mirror",
        str(mirror),
        "--format",
        "ndjson",
        "--out",
        str(out),
        "--outcome",
        "failure",
        "--type",
        "agent,approval",
    )
    assert code == 0
    said = capsys.readouterr().out
    assert "verified event(s)" in said
    events = [json.loads(x) for x in out.read_bytes().splitlines()]
    assert events and all(e["event"]["outcome"] == "failure" for e in events)
    assert {e["type"].split(".")[0] for e in events} <= {"agent", "approval"}
    assert run("verify", str(out), "--vkey", LOG.vkey) == 0


def test_export_command_refuses_an_edited_mirror_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlite3

    mirror = build_mirror(LOG, tmp_path / "m.sqlite")
    with sqlite3.connect(mirror) as conn:
        conn.execute(
            "UPDATE entries SET raw = CAST(replace(raw, 'usr_', 'usr_X') AS BLOB) WHERE idx = 3"
        )
    out = tmp_path / "x.json"
    assert run("export", "--mirror", str(mirror), "--format", "json", "--out", str(out)) == 1
    assert "INCLUSION_FAILED" in capsys.readouterr().err
    assert not out.exists()


def test_export_command_rejects_a_bad_time_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = build_mirror(LOG, tmp_path / "m.sqlite")
    code = run(
        "export",
        "--mirror",
        str(mirror),
        "--format",
        "csv",
        "--out",
        str(tmp_path / "a.csv"),
        "--since",
        "yesterday",
    )
    assert code == 2
    assert "auditlens export:" in capsys.readouterr().err


# -- `auditlens export --server` filters, each command a fresh process against a demo server --


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[DemoProcess, dict[str, str]]]:
    """A demo server, and a client environment signed in to it (a read key) and synced."""
    home = tmp_path_factory.mktemp("export-cli")
    server = DemoProcess.start(home / "server", client_env(home))
    try:
        with AuditApiClient(server.url) as client:
            client.login(server.admin_email, server.admin_password)
            key = client.create_api_key("export cli tests", "read").key
        assert key is not None
        env = client_env(home, AUDITLENS_API_KEY=key)
        run_cli(env, "login", "--server", server.url, "--vkey", server.vkey)
        run_cli(env, "sync", "--server", server.url, "--quiet")
        yield server, env
    finally:
        server.stop()


def export_and_verify(
    served: tuple[DemoProcess, dict[str, str]], out: Path, *filters: str
) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """Export with ``filters`` in a fresh process, verify in another: (stdout, events, report)."""
    server, env = served
    exported = run_cli(
        env, "export", "--server", server.url, "--format", "ndjson", "--out", str(out), *filters
    )
    verified = run_cli(
        env, "verify", str(out), "--vkey", server.vkey, "--origin", "auditlens.local/acme", "--json"
    )
    events = [json.loads(line) for line in out.read_bytes().splitlines()]
    return exported.stdout, events, json.loads(verified.stdout)


def test_outcome_denied_exports_the_refusals_and_the_server_attests_them(
    served: tuple[DemoProcess, dict[str, str]], tmp_path: Path
) -> None:
    said, events, report = export_and_verify(served, tmp_path / "d.ndjson", "--outcome", "denied")
    assert events and {verdict_of(e) for e in events} == {"denied"}
    assert "attests the export's completeness" in said, said
    assert report["status"] == "verified"
    assert report["completeness"] == "complete"
    # ... and failures leave the refusals out.
    _, failures, report = export_and_verify(served, tmp_path / "f.ndjson", "--outcome", "failure")
    assert failures and {verdict_of(e) for e in failures} == {"failure"}
    assert report["completeness"] == "complete"


def test_a_task_prefix_is_attested(
    served: tuple[DemoProcess, dict[str, str]], tmp_path: Path
) -> None:
    _, everything, _ = export_and_verify(served, tmp_path / "all.ndjson", "--no-record")
    task = next(e["task_id"] for e in everything if e["task_id"])
    prefix = task[:-1] + "*"
    _, events, report = export_and_verify(served, tmp_path / "t.ndjson", "--task-id", prefix)
    expected = [e for e in everything if (e["task_id"] or "").startswith(task[:-1])]
    assert [e["id"] for e in events] == [e["id"] for e in expected]
    assert report["status"] == "verified"
    assert report["completeness"] == "complete"


@pytest.mark.parametrize("exact", [True, False])
def test_an_ip_filter_exports_but_says_its_completeness_is_not_attested(
    served: tuple[DemoProcess, dict[str, str]], tmp_path: Path, exact: bool
) -> None:
    _, everything, _ = export_and_verify(served, tmp_path / "all.ndjson", "--no-record")
    ips = [ip for e in everything if (ip := (e["event"].get("request") or {}).get("ip"))]
    ip = ips[0] if exact else ips[0].rsplit(".", 1)[0] + ".*"
    said, events, report = export_and_verify(served, tmp_path / "ip.ndjson", "--ip", ip)
    head = ip.rstrip("*")
    expected = [
        e
        for e in everything
        if ((e["event"].get("request") or {}).get("ip") or "").startswith(head)
        and (exact is False or e["event"]["request"]["ip"] == ip)
    ]
    assert events and [e["id"] for e in events] == [e["id"] for e in expected]
    assert "Completeness is not attested" in said and "request addresses" in said, said
    assert report["status"] == "verified"
    assert report["completeness"] == "not attested"


def test_an_outcome_the_format_does_not_define_is_a_usage_error(
    served: tuple[DemoProcess, dict[str, str]], tmp_path: Path
) -> None:
    server, env = served
    done = run_cli(
        env,
        "export",
        "--server",
        server.url,
        "--format",
        "json",
        "--out",
        str(tmp_path / "x.json"),
        "--outcome",
        "refused",
        check=2,
    )
    assert "--outcome" in done.stderr and "denied" in done.stderr
    assert not (tmp_path / "x.json").exists()
