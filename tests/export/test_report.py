"""The task report: written only from re-verified events; `auditlens verify` checks it.

Real mirror files (signed checkpoint), the real export writer, the real CLI handler.
"""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pytest

from auditlens.export import commands
from auditlens.export.report import prepare_report, save_html
from auditlens.export.report_html import ReportInput, extract_report, render_report
from auditlens.export.verify import verify_file
from auditlens.export.writer import ExportRefusedError
from tests.export.trail_seed import RUNNING, TASK, seeded_mirror
from tests.ui.mirror_factory import BuiltMirror

FIXED_NOW = 1_772_366_400.0  # 2026-03-01T12:00:00Z


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> BuiltMirror:
    return seeded_mirror(tmp_path_factory.mktemp("report") / "m.sqlite")


@pytest.fixture(scope="module")
def report(mirror: BuiltMirror) -> ReportInput:
    return prepare_report(mirror.path, TASK, now=lambda: FIXED_NOW)


def verify_cli(path: Path, vkey: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(["verify", str(path), "--vkey", vkey])
    code = args.handler(args)
    return code, capsys.readouterr().out


def test_report_holds_the_tasks_verified_events(report: ReportInput, mirror: BuiltMirror) -> None:
    assert len(report.events) == 41
    assert report.evidence.tree_size == mirror.size
    assert dict(report.evidence.filter) == {"task_id": TASK}
    assert report.generated_at == "2026-03-01T12:00:00.000Z"
    assert set(report.users) == {"usr_alice", "usr_bob", "usr_carol"}


def test_report_states_time_filter_summary_people_and_how_to_verify(
    report: ReportInput, tmp_path: Path, mirror: BuiltMirror
) -> None:
    path = tmp_path / "r.html"
    written = save_html(report, path)
    text = path.read_text(encoding="utf-8")
    assert written.bytes == len(path.read_bytes()) and written.events == 41
    assert "2026-03-01T12:00:00.000Z (UTC)" in text
    assert f"task_id={TASK}" in text
    assert "FAILED" in text and "Touches production on a Friday" in text
    assert "carol@acme.test" in text and "bob@acme.test" in text
    assert "auditlens verify" in text and mirror.vkey in text
    assert "<link" not in text and "src=" not in text  # self-contained: no external asset
    assert 'id="auditlens-evidence"' in text and '"format":"auditlens-evidence/2"' in text


def test_saved_report_verifies_with_auditlens_verify(
    report: ReportInput, tmp_path: Path, mirror: BuiltMirror, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.html"
    save_html(report, path)
    code, out = verify_cli(path, mirror.vkey, capsys)
    assert code == 0, out
    assert "[PASS] visible report" in out and "VERIFIED: all 41 event(s)" in out


def test_report_is_recognised_without_the_html_suffix(
    report: ReportInput, tmp_path: Path, mirror: BuiltMirror
) -> None:
    path = tmp_path / "report.txt"
    save_html(report, path)
    assert verify_file(path, [mirror.vkey]).report.status == "verified"


def test_edited_visible_text_fails_as_file_modified(
    report: ReportInput, tmp_path: Path, mirror: BuiltMirror, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.html"
    save_html(report, path)
    data = path.read_bytes()
    head, _sep, tail = data.partition(b"Touches production on a Friday")
    path.write_bytes(head + b"Approved, all fine" + tail)  # only the visible timeline changes
    code, out = verify_cli(path, mirror.vkey, capsys)
    assert code == 1
    assert "FILE_MODIFIED" in out and "[FAIL] visible report" in out


def test_edited_embedded_event_fails_as_event_modified(
    report: ReportInput, tmp_path: Path, mirror: BuiltMirror
) -> None:
    path = tmp_path / "r.html"
    save_html(report, path)
    data = path.read_bytes()
    start = data.index(b'id="auditlens-events"')
    original = b'"reason":"Touches production on a Friday"'
    at = data.index(original, start)
    edited = data[:at] + b'"reason":"Touches production on a Monday"' + data[at + len(original) :]
    path.write_bytes(edited)
    codes = {f.code for f in verify_file(path, [mirror.vkey]).report.failures}
    assert "EVENT_MODIFIED" in codes


def test_report_with_a_removed_step_fails_as_event_missing(
    report: ReportInput, tmp_path: Path, mirror: BuiltMirror
) -> None:
    shorter = ReportInput(
        task_id=report.task_id,
        generated_at=report.generated_at,
        auditlens_version=report.auditlens_version,
        users=report.users,
        events=list(report.events[:5]) + list(report.events[6:]),
        evidence=report.evidence,
    )
    path = tmp_path / "r.html"
    path.write_bytes(render_report(shorter))
    result = verify_file(path, [mirror.vkey]).report
    assert [f.code for f in result.failures] == ["EVENT_MISSING"]


def test_report_checked_with_another_key_is_untrusted(report: ReportInput, tmp_path: Path) -> None:
    from auditlens.core.note import generate_keys

    path = tmp_path / "r.html"
    save_html(report, path)
    _, other = generate_keys("someone.else")
    assert {f.code for f in verify_file(path, [other]).report.failures} == {"UNTRUSTED_KEY"}


def test_no_report_from_a_mirror_that_does_not_verify(tmp_path: Path) -> None:
    built = seeded_mirror(tmp_path / "m.sqlite")
    conn = sqlite3.connect(built.path)
    conn.execute("UPDATE entries SET raw = CAST(? AS BLOB) WHERE idx = 3", (b'{"x":1}',))
    conn.commit()
    conn.close()
    with pytest.raises(ExportRefusedError) as caught:
        prepare_report(built.path, TASK)
    assert caught.value.code == "INCLUSION_FAILED"


def test_a_running_task_report_says_so(mirror: BuiltMirror) -> None:
    report = prepare_report(mirror.path, RUNNING)
    assert b"RUNNING (no end event yet)" in render_report(report)


def test_an_unknown_task_has_no_report(mirror: BuiltMirror) -> None:
    with pytest.raises(ValueError, match="no event"):
        prepare_report(mirror.path, "tsk_nobody")


def test_event_text_cannot_close_the_data_block(report: ReportInput) -> None:
    hostile = report.events[-2].replace(b"Touches production", b"</script><b>x</b>&")
    crafted = ReportInput(
        task_id=report.task_id,
        generated_at=report.generated_at,
        auditlens_version=report.auditlens_version,
        users=report.users,
        events=[*report.events[:-2], hostile, report.events[-1]],
        evidence=report.evidence,
    )
    data = render_report(crafted)
    assert data.count(b"</script>") == 3  # only the three data blocks close
    parts = extract_report(data)
    denied = parts.events[-2]
    assert isinstance(denied, dict)
    assert denied["event"]["reason"].startswith("</script><b>x</b>&")


def test_refusals_read_as_denied_in_their_own_colour(report: ReportInput) -> None:
    from auditlens.export.report_html import PALETTE

    text = render_report(report).decode()
    row = next(line for line in text.splitlines() if "DENIED by carol@acme.test" in line)
    assert '<td class="denied">denied</td>' in text[text.index(row) :].split("</tr>")[0]
    assert row.startswith('<tr class="deny">')
    denied, failure = PALETTE["denied"][0], PALETTE["failure"][0]
    assert denied != failure
    assert f"td.denied {{ color: {denied};" in text and f"td.failure {{ color: {failure};" in text
    assert "3 failed, 1 denied, 2 approvals" in text
