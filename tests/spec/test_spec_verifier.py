"""The specification and the code cannot drift: an independent verifier checks real exports.

``spec_verifier`` is written from docs/evidence-format.md alone (no auditlens import). Here it
verifies the document's own worked example, real exports of every format (attested or not),
and tampered ones, and must reach the same verdict as ``auditlens verify``.
"""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from auditlens import __version__
from auditlens.export.verify import verify_file
from auditlens.export.writer import ExportOptions, export
from tests.export.attest import LogServer, matching
from tests.export.files import ExportFile
from tests.export.logs import MemoryLog
from tests.spec import worked_example
from tests.spec.spec_verifier import verify

DOC = Path(__file__).resolve().parents[2] / "docs" / "evidence-format.md"
LOG = MemoryLog(90, seed=21)
FILTER = {"type": ["agent", "task.created"], "outcome": "success"}


def doc_example() -> tuple[str, bytes]:
    """The worked example's vkey and JSON export, as the document prints them."""
    text = DOC.read_text(encoding="utf-8").split("## 13. Worked example", 1)[1]
    keys = re.search(r"Keys:\n\n```\n(.*?)\n```", text, re.S)
    export_block = re.search(r"```json\n(.*?)```", text, re.S)
    assert keys and export_block
    return keys.group(1).splitlines()[1], export_block.group(1).encode()


def test_the_documents_worked_example_verifies_independently_and_with_auditlens(
    tmp_path: Path,
) -> None:
    vkey, data = doc_example()
    path = tmp_path / "example.json"
    path.write_bytes(data)
    assert verify(path, vkey, "example.test/acme") == (set(), False)
    report = verify_file(path, [vkey], origin="example.test/acme").report
    assert report.status == "verified" and report.completeness_status == "not attested"


def test_the_documents_worked_example_is_what_auditlens_writes(tmp_path: Path) -> None:
    vkey, data = doc_example()
    ex = worked_example.write_export(tmp_path / "e.json")
    written = (tmp_path / "e.json").read_bytes()
    assert written == data.replace(
        b'"auditlens_version":"0.1.0"', f'"auditlens_version":"{__version__}"'.encode()
    )
    assert vkey == ex.vkey
    text = DOC.read_text(encoding="utf-8")
    for value in [
        *(h.hex() for h in ex.leaves),
        ex.node01.hex(),
        ex.root.hex(),
        ex.digest,
        ex.skey,
    ]:
        assert value in text, value
    assert f"```\n{ex.note}```" in text  # the checkpoint block, signature line included


def test_the_documented_refusal_reasons_are_the_codes(tmp_path: Path) -> None:
    from auditlens.core.summaries import REFUSAL_REASONS, REFUSAL_TYPES
    from tests.spec.spec_verifier import REFUSALS

    text = DOC.read_text(encoding="utf-8")
    assert REFUSALS == REFUSAL_REASONS and {"approval.denied"} == REFUSAL_TYPES
    assert all(f"`{reason}`" in text for reason in REFUSAL_REASONS)


@pytest.mark.parametrize(
    "flt",
    [{"task_id": "tsk_1*"}, {"outcome": "failure"}, {"outcome": "denied", "type": ["approval"]}],
)
def test_prefix_and_verdict_filters_agree_between_both_verifiers(
    tmp_path: Path, flt: dict[str, object]
) -> None:
    chosen = matching(LOG, flt)
    assert chosen
    path = tmp_path / "e.ndjson"
    export(LOG.snapshot(chosen), ExportOptions("ndjson", path, flt), attest=LogServer(LOG))
    assert verify(path, LOG.vkey) == (set(), True)
    assert _auditlens_codes(path) == set()
    wider = tmp_path / "w.ndjson"
    extra = sorted({*chosen, next(i for i in range(LOG.size) if i not in chosen)})
    export(LOG.snapshot(extra), ExportOptions("ndjson", wider, flt))
    assert "FILTER_MISMATCH" in verify(wider, LOG.vkey)[0]
    assert "FILTER_MISMATCH" in _auditlens_codes(wider)


def _export(fmt: str, path: Path, attested: bool, selected: list[int] | None = None) -> ExportFile:
    chosen = matching(LOG, FILTER) if selected is None else selected
    attest = LogServer(LOG) if attested else None
    export(LOG.snapshot(chosen), ExportOptions(fmt, path, FILTER), attest=attest)  # type: ignore[arg-type]
    return ExportFile(path, fmt)


def _auditlens_codes(path: Path) -> set[str]:
    report = verify_file(path, [LOG.vkey]).report
    return {str(f.code) for f in report.failures}


@pytest.mark.parametrize("attested", [True, False])
@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_real_exports_verify_independently(tmp_path: Path, fmt: str, attested: bool) -> None:
    ex = _export(fmt, tmp_path / f"e.{fmt}", attested)
    assert verify(ex.path, LOG.vkey, LOG.origin) == (set(), attested)
    assert _auditlens_codes(ex.path) == set()


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv"])
def test_both_verifiers_catch_the_same_tampering(tmp_path: Path, fmt: str) -> None:
    honest = _export(fmt, tmp_path / f"h.{fmt}", attested=True)
    record = honest.evidence()["completeness"]

    partial = _export(fmt, tmp_path / f"p.{fmt}", False, matching(LOG, FILTER)[1:])
    obj = partial.evidence()
    obj["completeness"], obj["filter"] = record, honest.evidence()["filter"]
    partial.write_evidence(obj)
    assert verify(partial.path, LOG.vkey)[0] == {"EVENTS_OMITTED"} == _auditlens_codes(partial.path)

    forged = _export(fmt, tmp_path / f"f.{fmt}", attested=True)
    obj = forged.evidence()
    obj["filter"] = {"task_id": "tsk_1"}
    forged.write_evidence(obj)
    assert "FILTER_MISMATCH" in verify(forged.path, LOG.vkey)[0]
    assert "FILTER_MISMATCH" in _auditlens_codes(forged.path)

    if fmt == "ndjson":
        edited = _export(fmt, tmp_path / f"m.{fmt}", attested=False)
        records = edited.records()
        event = orjson.loads(records[0])
        event["event"]["outcome"] = "failure"
        records[0] = orjson.dumps(event)
        edited.write_records(records)
        assert verify(edited.path, LOG.vkey)[0] == {"EVENT_MODIFIED", "FILE_MODIFIED"}
        assert _auditlens_codes(edited.path) == {"EVENT_MODIFIED", "FILE_MODIFIED"}
