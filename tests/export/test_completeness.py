"""Completeness (evidence v2): the log attests the filter and count, and verify holds them to it.

``LogServer`` (tests/export/attest.py) plays the server's part over a MemoryLog;
tests/server/test_export_attestation.py checks the real route computes the same answer, and
test_completeness_server.py uses the real server end to end.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from auditlens.core.canonical import canonicalize_event
from auditlens.core.completeness import Completeness
from auditlens.core.errors import Code
from auditlens.export.commands import exit_code, render
from auditlens.export.verify import verify_file
from auditlens.export.writer import (
    AttestationUnavailableError,
    AttestRequest,
    ExportOptions,
    ExportRefusedError,
    export,
)
from tests.export import attest
from tests.export.attest import LogServer
from tests.export.files import ExportFile
from tests.export.logs import MemoryLog
from tests.spec.spec_verifier import verify as spec_verify

FORMATS = ("json", "ndjson", "csv")
LOG = MemoryLog(120, seed=11)
FILTER = {"task_id": "tsk_3", "type": "agent"}


def matching(flt: dict[str, object]) -> list[int]:
    return attest.matching(LOG, flt)


def write(
    fmt: str, path: Path, selected: list[int], flt: dict[str, object], **kw: object
) -> ExportFile:
    export(LOG.snapshot(selected, chunk=16), ExportOptions(fmt, path, flt), **kw)  # type: ignore[arg-type]
    return ExportFile(path, fmt)


def codes(ex: ExportFile) -> dict[Code, list[int]]:
    out: dict[Code, list[int]] = {}
    for f in verify_file(ex.path, [LOG.vkey]).report.findings:
        out.setdefault(f.code, []).extend(f.indexes)
    return out


@pytest.fixture(params=FORMATS)
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_an_attested_export_verifies_as_complete(fmt: str, tmp_path: Path) -> None:
    server = LogServer(LOG)
    ex = write(fmt, tmp_path / f"e.{fmt}", matching(FILTER), FILTER, attest=server)
    freport = verify_file(ex.path, [LOG.vkey])
    report = freport.report
    assert report.findings == [] and report.status == "verified"
    assert report.completeness_status == "complete"
    assert exit_code(freport) == 0
    assert ex.evidence()["format"] == "auditlens-evidence/2"
    assert ex.evidence()["filter"] == {"task_id": "tsk_3", "type": ["agent"]}
    text = render(freport)
    assert "COMPLETE:" in text and "NOT ATTESTED" not in text
    assert text.splitlines()[1].startswith(f"  LOG: {LOG.origin}")
    assert text.splitlines()[2].startswith("  KEY: auditlens.test")
    [request] = server.requests
    assert (request.count, request.tree_size) == (len(matching(FILTER)), LOG.size)
    if fmt != "json":
        assert request.sha256 is not None  # the data file is complete before it is recorded


def _transplant(ex: ExportFile, honest: ExportFile) -> None:
    """Give ``ex`` the honest export's record (and filter): an attacker rebuilding evidence."""
    obj = ex.evidence()
    good = honest.evidence()
    obj["completeness"], obj["filter"] = good["completeness"], good["filter"]
    ex.write_evidence(obj)


def test_removing_an_event_and_rebuilding_the_evidence_is_events_omitted(
    fmt: str, tmp_path: Path
) -> None:
    chosen = matching(FILTER)
    honest = write(fmt, tmp_path / f"h.{fmt}", chosen, FILTER, attest=LogServer(LOG))
    partial = write(fmt, tmp_path / f"p.{fmt}", chosen[:-1], FILTER)
    assert codes(partial) == {}  # without the record, a partial export looks fine...
    _transplant(partial, honest)
    found = codes(partial)  # ...with it, it does not
    assert set(found) == {Code.EVENTS_OMITTED}
    report = verify_file(partial.path, [LOG.vkey]).report
    [omitted] = report.findings
    assert "1 event(s) matching the filter are not in the export" in omitted.message


def test_adding_an_event_is_filter_mismatch_and_events_added_naming_it(
    fmt: str, tmp_path: Path
) -> None:
    chosen = matching(FILTER)
    extra = next(i for i in range(LOG.size) if i not in chosen)
    honest = write(fmt, tmp_path / f"h.{fmt}", chosen, FILTER, attest=LogServer(LOG))
    padded = write(fmt, tmp_path / f"a.{fmt}", sorted([*chosen, extra]), FILTER)
    _transplant(padded, honest)
    found = codes(padded)
    assert set(found) == {Code.FILTER_MISMATCH, Code.EVENTS_ADDED}
    assert found[Code.FILTER_MISMATCH] == [extra]
    assert found[Code.EVENTS_ADDED] == [extra]


def test_rewriting_the_stated_filter_is_filter_mismatch(fmt: str, tmp_path: Path) -> None:
    ex = write(fmt, tmp_path / f"e.{fmt}", matching(FILTER), FILTER, attest=LogServer(LOG))
    obj = ex.evidence()
    obj["filter"] = {"task_id": "tsk_999"}
    ex.write_evidence(obj)
    found = codes(ex)
    assert Code.FILTER_MISMATCH in found
    assert Code.FILTER_MISMATCH in found and set(found) <= {
        Code.FILTER_MISMATCH,
        Code.FILE_MODIFIED,
    }


def test_a_record_inside_the_tree_it_attests_is_refused(fmt: str, tmp_path: Path) -> None:
    """A record is appended after the checkpoint of its export (M >= N). One at an index
    below N can only come from a second history signed with the log's key; it attests the
    right count and digest, so only this check refuses it: the exporter writes nothing, and
    a file carrying such a record fails both verifiers."""
    forger = LogServer(LOG, record_at=LOG.size - 20)
    with pytest.raises(ExportRefusedError, match="inside the tree of size"):
        write(fmt, tmp_path / f"refused.{fmt}", matching(FILTER), FILTER, attest=forger)
    assert not (tmp_path / f"refused.{fmt}").exists()
    ex = write(fmt, tmp_path / f"e.{fmt}", matching(FILTER), FILTER, attest=LogServer(LOG))
    obj = ex.evidence()
    request = AttestRequest(fmt, FILTER, LOG.size, len(matching(FILTER)), ex.path.name)  # type: ignore[arg-type]
    obj["completeness"] = forger(request).to_obj()
    ex.write_evidence(obj)
    found = codes(ex)
    assert set(found) == {Code.FILE_MODIFIED}, found
    assert found[Code.FILE_MODIFIED] == [LOG.size - 20]
    assert verify_file(ex.path, [LOG.vkey]).report.completeness_status == "failed"
    assert spec_verify(ex.path, LOG.vkey)[0] == {"FILE_MODIFIED"}  # the independent verifier


def test_rewriting_the_record_itself_is_caught_by_its_inclusion_proof(
    fmt: str, tmp_path: Path
) -> None:
    ex = write(fmt, tmp_path / f"e.{fmt}", matching(FILTER), FILTER, attest=LogServer(LOG))
    obj = ex.evidence()
    record = orjson.loads(obj["completeness"]["record"])
    record["event"]["filter"] = {"task_id": "tsk_999"}
    obj["completeness"]["record"] = canonicalize_event(record).decode()
    obj["filter"] = {"task_id": "tsk_999"}
    ex.write_evidence(obj)
    found = codes(ex)
    assert Code.INCLUSION_FAILED in found
    assert verify_file(ex.path, [LOG.vkey]).report.completeness_status == "failed"


def test_an_unattested_export_with_a_forged_filter_is_filter_mismatch(
    fmt: str, tmp_path: Path
) -> None:
    chosen = matching(FILTER)
    ex = write(fmt, tmp_path / f"e.{fmt}", chosen, FILTER)
    obj = ex.evidence()
    assert obj["completeness"] is None
    obj["filter"] = {"task_id": "tsk_7"}
    ex.write_evidence(obj)
    found = codes(ex)
    assert found[Code.FILTER_MISMATCH] == chosen


def test_an_unattested_export_verifies_and_says_completeness_is_not_attested(
    fmt: str, tmp_path: Path
) -> None:
    ex = write(fmt, tmp_path / f"e.{fmt}", matching(FILTER), FILTER)
    freport = verify_file(ex.path, [LOG.vkey])
    assert exit_code(freport) == 0
    assert freport.report.completeness_status == "not attested"
    assert "COMPLETENESS NOT ATTESTED" in render(freport)
    assert freport.to_dict()["completeness"] == "not attested"


def test_version_1_files_are_still_verified(fmt: str, tmp_path: Path) -> None:
    ex = write(fmt, tmp_path / f"e.{fmt}", matching(FILTER), FILTER)
    obj = ex.evidence()
    obj["format"] = "auditlens-evidence/1"
    del obj["completeness"]
    ex.write_evidence(obj)
    freport = verify_file(ex.path, [LOG.vkey])
    assert freport.report.findings == [] and exit_code(freport) == 0
    assert "a version 1 file" in render(freport)


def test_a_server_whose_answer_differs_refuses_the_export(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"e.{fmt}"
    with pytest.raises(ExportRefusedError) as info:
        write(fmt, path, matching(FILTER), FILTER, attest=LogServer(LOG, lie=1))
    assert info.value.code is Code.EVENTS_ADDED
    assert not path.exists()


def test_an_unavailable_server_leaves_an_unattested_export_that_says_why(tmp_path: Path) -> None:
    def offline(request: AttestRequest) -> Completeness:
        raise AttestationUnavailableError("the server could not be reached (ConnectError).")

    path = tmp_path / "e.json"
    result = export(
        LOG.snapshot(matching(FILTER)), ExportOptions("json", path, FILTER), attest=offline
    )
    assert result.record_index is None
    assert "Completeness is not attested: the server could not be reached" in result.summary()
    assert verify_file(path, [LOG.vkey]).report.completeness_status == "not attested"


def test_events_below_the_retention_floor_are_outside_the_attestation(
    fmt: str, tmp_path: Path
) -> None:
    chosen = matching(FILTER)
    floor = chosen[len(chosen) // 2]  # the log pruned the first half; this copy still holds it
    server = LogServer(LOG, min_index=floor)
    ex = write(fmt, tmp_path / f"e.{fmt}", chosen, FILTER, attest=server)
    report = verify_file(ex.path, [LOG.vkey]).report
    assert report.status == "verified" and report.completeness_status == "complete"
    [note] = report.findings
    assert note.code is Code.PRUNED_BY_POLICY and note.code.informational
    assert f"below the retention floor {floor}" in note.message
