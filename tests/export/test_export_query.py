"""``auditlens export --query``: the query bar's line as an export's filter."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from auditlens.export.commands import register
from tests.export.logs import MemoryLog
from tests.export.mirrors import build_mirror

LOG = MemoryLog(120, seed=11)


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="auditlens")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(list(argv))
    return int(args.handler(args))


def exported(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_bytes())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mirror(LOG, tmp_path_factory.mktemp("m") / "m.sqlite")


@pytest.mark.parametrize(
    ("query", "options"),
    [
        (
            "type:agent,approval outcome:failure",
            ["--type", "agent,approval", "--outcome", "failure"],
        ),
        ("type:agent OR type:task", ["--type", "agent", "--type", "task"]),
        (
            'user:usr_* after:2020-01-01 before:"2100-01-01 00:00 UTC"',
            [
                "--user-email",
                "usr_*",
                "--since",
                "2020-01-01T00:00:00Z",
                "--until",
                "2100-01-01T00:00:00.000Z",
            ],
        ),
    ],
)
def test_a_query_exports_exactly_what_the_same_options_do(
    mirror: Path, tmp_path: Path, query: str, options: list[str]
) -> None:
    common = ["export", "--mirror", str(mirror), "--format", "json", "--no-record"]
    by_query, by_options = tmp_path / "q.json", tmp_path / "o.json"
    assert run(*common, "--out", str(by_query), "--query", query) == 0
    assert run(*common, "--out", str(by_options), *options) == 0
    a, b = exported(by_query), exported(by_options)
    assert a["events"] and a["events"] == b["events"]
    assert a["evidence"]["filter"] == b["evidence"]["filter"]
    assert a["evidence"]["query"] == query  # the line as typed, as information
    assert "query" not in b["evidence"]
    assert run("verify", str(by_query), "--vkey", LOG.vkey) == 0


def test_the_query_line_is_reported_as_information_and_never_decides_a_verdict(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "q.json"
    common = ["export", "--mirror", str(mirror), "--format", "json", "--no-record"]
    assert run(*common, "--out", str(out), "--query", "type:agent") == 0
    capsys.readouterr()
    assert run("verify", str(out), "--vkey", LOG.vkey) == 0
    assert "query as typed (information, not attested): type:agent" in capsys.readouterr().out
    data = exported(out)
    data["evidence"]["query"] = "type:task"  # the line is no claim: editing it changes nothing
    out.write_text(json.dumps(data))
    assert run("verify", str(out), "--vkey", LOG.vkey, "--json") == 0
    assert json.loads(capsys.readouterr().out)["query"] == "type:task"
    data["evidence"]["query"] = 7
    out.write_text(json.dumps(data))
    assert run("verify", str(out), "--vkey", LOG.vkey) == 1
    assert "evidence.query must be a string" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--query", "usr:x"], "unknown qualifier"),
        (["--query", "type:agent timeout"], "free text"),
        (["--query=-type:auth"], "excluded value"),
        (["--query", "idx:1..5"], "log positions"),
        (["--query", "type:agent", "--outcome", "failure"], "not both"),
    ],
)
def test_a_query_the_evidence_cannot_state_is_a_usage_error(
    mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    out = tmp_path / "x.json"
    code = run("export", "--mirror", str(mirror), "--format", "json", "--out", str(out), *argv)
    assert code == 2
    assert says in capsys.readouterr().err
    assert not out.exists()


def test_a_mirror_snapshot_refuses_excluded_values(mirror: Path) -> None:
    from auditlens.mirror.filter import EventFilter
    from auditlens.mirror.snapshot import MirrorSnapshot

    with pytest.raises(ValueError, match="excluded values"):
        MirrorSnapshot(mirror, EventFilter(exclude=frozenset({("type", "auth")})))
