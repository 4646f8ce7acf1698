"""Inputs that once made ``verify`` answer like a usage error: every file gets a report.

Only the command line may give exit 2 (usage) or 3 (no trusted key); whatever a file holds,
``verify --vkey`` answers 0 or 1 with a report, and ``--json`` always prints one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditlens.export.writer import ExportOptions, export
from tests.export.logs import MemoryLog
from tests.export.test_commands import run

LOG = MemoryLog(30, seed=4)


@pytest.fixture
def reindented(tmp_path: Path) -> dict:
    path = tmp_path / "e.json"
    export(LOG.snapshot(), ExportOptions("json", path, {}))
    return json.loads(path.read_text())


def _verify_json(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = run("verify", str(path), "--vkey", LOG.vkey, "--json")
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize(
    ("value", "words"),
    [(2**60, "outside ±(2^53−1)"), (2**70, "out of range"), (-(2**64), "out of range")],
)
def test_a_huge_integer_in_a_reindented_export_is_event_modified(
    reindented: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: int, words: str
) -> None:
    reindented["events"][3]["event"]["duration"] = value
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(reindented, indent=2))
    code, report = _verify_json(path, capsys)
    assert code == 1
    [finding] = report["findings"]
    assert finding["code"] == "EVENT_MODIFIED" and finding["ranges"] == [[3, 3]]
    assert words in finding["message"]
    assert "fraction" not in finding["message"]


def test_a_huge_integer_in_a_streamed_export_is_out_of_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.json"
    export(LOG.snapshot(), ExportOptions("json", path, {}))
    lines = path.read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b'"event":{', b'"event":{"n":1180591620717411303424,', 1)
    path.write_bytes(b"\n".join(lines))
    code, report = _verify_json(path, capsys)
    assert code == 1
    assert "out of range" in report["findings"][0]["message"]


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize("name", ["export.{fmt}", "export.data"])
def test_a_missing_sidecar_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, name: str
) -> None:
    path = tmp_path / name.format(fmt=fmt)
    export(LOG.snapshot(), ExportOptions(fmt, path, {}))  # type: ignore[arg-type]
    Path(f"{path}.evidence.json").unlink()
    code, report = _verify_json(path, capsys)
    assert code == 1
    [finding] = report["findings"]
    assert f"the evidence sidecar {path.name}.evidence.json is missing" in finding["message"]
    assert "not a valid JSON" not in finding["message"]


def test_a_pdf_says_it_carries_no_evidence_and_points_to_the_html_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n%%EOF\n")
    code = run("verify", str(path), "--vkey", LOG.vkey)
    out = capsys.readouterr().out
    assert code == 1
    assert "a PDF carries no evidence" in out and "HTML task report" in out
    code, report = _verify_json(path, capsys)
    assert code == 1 and report["kind"] == "pdf"


def test_the_report_names_the_log_and_key_first_and_whether_they_were_pinned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.json"
    export(LOG.snapshot(), ExportOptions("json", path, {}))
    assert run("verify", str(path), "--vkey", LOG.vkey) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith(f"  LOG: {LOG.origin}   (NOT pinned: the origin the file names")
    assert lines[2] == "  KEY: auditlens.test   (trusted: the key you gave)"
    assert run("verify", str(path), "--vkey", LOG.vkey, "--origin", LOG.origin) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"  LOG: {LOG.origin}   (pinned: the origin you required)"
    assert run("verify", str(path), "--vkey", LOG.vkey, "--origin", "other.test/x") == 1


def test_a_reader_failure_nobody_foresaw_is_still_a_report_with_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from auditlens.export import verify

    path = tmp_path / "e.json"
    export(LOG.snapshot(), ExportOptions("json", path, {}))

    def broken(*args: object) -> object:
        raise KeyError("surprise")

    monkeypatch.setattr(verify, "read_json", broken)
    code, report = _verify_json(path, capsys)
    assert code == 1 and report["status"] == "failed"
    assert "could not be read as an export (KeyError" in report["findings"][0]["message"]
