"""The tamper suite: for each export format, each change gives its own code.

Every test exports a small signed log, changes the files the way an attacker or a careless
spreadsheet user would, verifies offline with the trusted key, and expects exactly the codes
that change must produce. For CSV and NDJSON any edit of the data also changes its SHA-256, so
FILE_MODIFIED comes with the event-level code unless the attacker also rewrote the sidecar.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import orjson
import pytest

from auditlens.core import merkle
from auditlens.core.canonical import canonicalize_event
from auditlens.core.errors import Code
from auditlens.core.note import Checkpoint, generate_keys, sign_checkpoint
from auditlens.export.commands import exit_code
from auditlens.export.verify import verify_file
from auditlens.export.writer import ExportOptions, export
from tests.export.files import ExportFile
from tests.export.logs import MemoryLog

FORMATS = ("json", "ndjson", "csv")
LOG = MemoryLog(60, seed=5)
SELECTED = [i for i in range(60) if i % 3 != 1]  # a filtered export with gaps


@pytest.fixture(params=FORMATS)
def exported(request: pytest.FixtureRequest, tmp_path: Path) -> ExportFile:
    fmt = request.param
    path = tmp_path / f"export.{fmt}"
    export(LOG.snapshot(SELECTED, chunk=16), ExportOptions(fmt, path, {"outcome": "any"}))
    return ExportFile(path, fmt)


def _codes(ex: ExportFile, vkey: str | None = LOG.vkey) -> dict[Code, list[int]]:
    report = verify_file(ex.path, [vkey] if vkey else None).report
    codes: dict[Code, list[int]] = {}
    for f in report.findings:
        codes.setdefault(f.code, []).extend(f.indexes)
    return codes


def _with_file_modified(ex: ExportFile, codes: set[Code]) -> set[Code]:
    return codes | ({Code.FILE_MODIFIED} if ex.fmt != "json" else set())


def _edit(record: bytes, old: bytes, new: bytes) -> bytes:
    assert old in record, (old, record)
    return record.replace(old, new, 1)


def _q(ex: ExportFile, text: bytes) -> bytes:
    """``text`` as it appears in a record: CSV doubles the quotes inside its cells."""
    return text.replace(b'"', b'""') if ex.fmt == "csv" else text


def test_an_untouched_export_verifies(exported: ExportFile) -> None:
    report = verify_file(exported.path, [LOG.vkey])
    assert report.report.findings == []
    assert report.report.status == "verified"
    assert exit_code(report) == 0


def test_a_changed_field_is_event_modified_at_its_index(exported: ExportFile) -> None:
    records = exported.records()
    records[4] = _edit(records[4], _q(exported, b'"outcome":"'), _q(exported, b'"outcome":"x'))
    exported.write_records(records)
    codes = _codes(exported)
    assert set(codes) == _with_file_modified(exported, {Code.EVENT_MODIFIED})
    assert codes[Code.EVENT_MODIFIED] == [SELECTED[4]]


def test_a_removed_event_is_missing_with_its_index(exported: ExportFile) -> None:
    records = exported.records()
    del records[7]
    exported.write_records(records)
    codes = _codes(exported)
    assert set(codes) == _with_file_modified(exported, {Code.EVENT_MISSING})
    assert codes[Code.EVENT_MISSING] == [SELECTED[7]]


def test_two_swapped_events_are_reordered(exported: ExportFile) -> None:
    records = exported.records()
    records[2], records[3] = records[3], records[2]
    exported.write_records(records)
    codes = _codes(exported)
    assert set(codes) == _with_file_modified(exported, {Code.EVENT_REORDERED})
    assert codes[Code.EVENT_REORDERED] == [SELECTED[2], SELECTED[3]]


def test_a_fabricated_event_is_inserted(exported: ExportFile) -> None:
    records = exported.records()
    fake = records[5].replace(b"log_", b"log_F")  # a new id: an event the log never had
    records.insert(6, fake)
    exported.write_records(records)
    assert set(_codes(exported)) == _with_file_modified(exported, {Code.EVENT_INSERTED})


def test_a_duplicated_event_is_inserted_at_the_index_it_repeats(exported: ExportFile) -> None:
    records = exported.records()
    records.append(records[0])
    exported.write_records(records)
    codes = _codes(exported)
    assert set(codes) == _with_file_modified(exported, {Code.EVENT_INSERTED})
    assert codes[Code.EVENT_INSERTED] == [SELECTED[0]]


def test_an_altered_proof_hash_fails_inclusion(exported: ExportFile) -> None:
    evidence = exported.evidence()
    nodes = evidence["nodes"]
    evidence["nodes"] = ("B" if nodes[0] == "A" else "A") + nodes[1:]
    exported.write_evidence(evidence)
    assert set(_codes(exported)) == {Code.INCLUSION_FAILED}


def test_a_truncated_proof_is_malformed(exported: ExportFile) -> None:
    evidence = exported.evidence()
    evidence["nodes"] = evidence["nodes"][:-44]
    exported.write_evidence(evidence)
    assert set(_codes(exported)) == {Code.PROOF_MALFORMED}


def _replace_checkpoint(ex: ExportFile, note: str) -> None:
    evidence = ex.evidence()
    evidence["checkpoint"] = note
    ex.write_evidence(evidence)


def test_a_checkpoint_signed_by_another_key_is_untrusted(exported: ExportFile) -> None:
    skey, vkey = generate_keys("auditlens.test")
    _replace_checkpoint(exported, sign_checkpoint(Checkpoint(LOG.origin, 60, LOG.root), skey))
    evidence = exported.evidence()
    evidence["vkey"] = vkey  # the attacker also swaps the key hint
    exported.write_evidence(evidence)
    assert set(_codes(exported)) == {Code.UNTRUSTED_KEY}


def test_a_checkpoint_with_a_bad_signature_is_rejected(exported: ExportFile) -> None:
    note = LOG.note
    body, sig = note.rsplit(" ", 1)
    # characters 8+ of the base64 are signature bytes (the first 4 bytes are the key ID)
    flipped = sig[:20] + ("A" if sig[20] != "A" else "B") + sig[21:]
    _replace_checkpoint(exported, f"{body} {flipped}")
    assert set(_codes(exported)) == {Code.CHECKPOINT_BAD_SIGNATURE}


def test_a_checkpoint_of_another_origin_is_an_origin_mismatch(exported: ExportFile) -> None:
    other = sign_checkpoint(Checkpoint("auditlens.test/other", 60, LOG.root), LOG.skey)
    _replace_checkpoint(exported, other)
    assert set(_codes(exported)) == {Code.ORIGIN_MISMATCH}


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_data_edited_without_touching_the_sidecar_is_file_modified(
    fmt: str, tmp_path: Path
) -> None:
    path = tmp_path / f"export.{fmt}"
    export(LOG.snapshot(SELECTED), ExportOptions(fmt, path, {}))
    ex = ExportFile(path, fmt)
    records = ex.records()
    if fmt == "csv":  # quote the index cell: every value still reads the same
        first, rest = records[0].split(b",", 1)
        records[0] = b'"' + first + b'",' + rest
    else:  # re-space one event: the same JSON value, other bytes
        records[0] = records[0].replace(b'":', b'": ', 1)
    ex.write_records(records)
    assert set(_codes(ex)) == {Code.FILE_MODIFIED}


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_a_sidecar_with_another_data_hash_is_file_modified(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"export.{fmt}"
    export(LOG.snapshot(SELECTED), ExportOptions(fmt, path, {}))
    ex = ExportFile(path, fmt)
    evidence = ex.evidence()
    evidence["data_file"]["sha256"] = hashlib.sha256(b"other").hexdigest()
    ex.write_evidence(evidence)
    assert set(_codes(ex)) == {Code.FILE_MODIFIED}


def _csv_export(tmp_path: Path) -> ExportFile:
    path = tmp_path / "export.csv"
    export(LOG.snapshot(SELECTED), ExportOptions("csv", path, {}))
    return ExportFile(path, "csv")


def _resign_sidecar(ex: ExportFile) -> None:
    """What a careful forger does after editing the CSV: fix the recorded SHA-256 and size."""
    evidence = ex.evidence()
    data = ex.path.read_bytes()
    evidence["data_file"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    ex.write_evidence(evidence)


def test_a_csv_cell_that_disagrees_with_its_canonical_json_is_event_modified(
    tmp_path: Path,
) -> None:
    ex = _csv_export(tmp_path)
    records = ex.records()
    row = next(i for i, r in enumerate(records) if b'"success"' in r.split(b',"{')[0])
    records[row] = _edit(records[row], b',"success",', b',"failure",')
    ex.write_records(records)
    _resign_sidecar(ex)
    codes = _codes(ex)
    assert set(codes) == {Code.EVENT_MODIFIED}
    assert codes[Code.EVENT_MODIFIED] == [SELECTED[row]]


def test_a_csv_index_cell_that_lies_is_event_modified(tmp_path: Path) -> None:
    ex = _csv_export(tmp_path)
    records = ex.records()
    records[3] = b"59," + records[3].split(b",", 1)[1]
    ex.write_records(records)
    _resign_sidecar(ex)
    assert _codes(ex) == {Code.EVENT_MODIFIED: [SELECTED[3]]}


def test_csv_formula_cells_are_neutralized_and_verify(tmp_path: Path) -> None:
    ex = _csv_export(tmp_path)
    with ex.path.open(encoding="utf-8", newline="") as f:
        cells = [cell for row in csv.reader(f) for cell in row[:-1]]  # all but canonical_json
    assert not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    neutralized = {c[:2] for c in cells if c.startswith("'")}
    assert neutralized == {"'=", "'+", "'-", "'@"}
    assert _codes(ex) == {}


def test_a_csv_cell_with_its_neutralizing_apostrophe_removed_is_event_modified(
    tmp_path: Path,
) -> None:
    ex = _csv_export(tmp_path)
    records = ex.records()
    row = next(i for i, r in enumerate(records) if b",\"'" in r)
    records[row] = records[row].replace(b",\"'", b',"', 1)
    ex.write_records(records)
    _resign_sidecar(ex)
    assert set(_codes(ex)) == {Code.EVENT_MODIFIED}


def test_a_reformatted_json_export_still_verifies(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    export(LOG.snapshot(SELECTED), ExportOptions("json", path, {}))
    doc = json.loads(path.read_bytes())
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    report = verify_file(path, [LOG.vkey]).report
    assert report.status == "verified", [str(f) for f in report.findings]


def test_a_fabricated_event_in_a_reformatted_json_export_is_inserted(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    export(LOG.snapshot(SELECTED), ExportOptions("json", path, {}))
    doc = json.loads(path.read_bytes())
    fake = dict(doc["events"][0], id="log_01FAKEFAKEFAKEFAKEFAKEFAKE")
    doc["events"].insert(1, fake)
    path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    assert set(_codes(ExportFile(path, "json"))) == {Code.EVENT_INSERTED}


def test_a_json_event_with_a_duplicate_member_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    export(LOG.snapshot(SELECTED), ExportOptions("json", path, {}))
    ex = ExportFile(path, "json")
    records = ex.records()
    # jq would read the last "type"; a reader keeping the first sees the original event
    records[1] = records[1][:-1] + b',"type":"audit.exported"}'
    ex.write_records(records)
    assert set(_codes(ex)) == {Code.EVENT_MODIFIED}


def test_a_truncated_json_export_is_file_modified(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    export(LOG.snapshot(SELECTED), ExportOptions("json", path, {}))
    path.write_bytes(path.read_bytes()[:-300])
    assert set(_codes(ExportFile(path, "json"))) == {Code.FILE_MODIFIED}


def test_without_a_key_an_untouched_export_is_unverified(exported: ExportFile) -> None:
    report = verify_file(exported.path, None)
    assert report.report.status == "unverified"
    assert exit_code(report) == 3


def test_an_event_of_the_log_added_with_forged_evidence_fails_inclusion(tmp_path: Path) -> None:
    """Adding a real log event AND its leaf hash to the evidence still breaks the multi-proof."""
    path = tmp_path / "export.ndjson"
    export(LOG.snapshot(SELECTED), ExportOptions("ndjson", path, {}))
    ex = ExportFile(path, "ndjson")
    evidence = ex.evidence()
    evidence["indexes"] = [[0, 1], *evidence["indexes"][1:]]
    evidence["count"] += 1
    import base64

    hashes = base64.b64decode(evidence["leaf_hashes"])
    extra = merkle.leaf_hash(canonicalize_event(LOG.events[1]))
    evidence["leaf_hashes"] = base64.b64encode(hashes[:32] + extra + hashes[32:]).decode()
    records = ex.records()
    records.insert(1, orjson.dumps(LOG.events[1], option=orjson.OPT_SORT_KEYS))
    ex.write_records(records)
    data = path.read_bytes()
    evidence["data_file"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data))
    ex.write_evidence(evidence)
    assert set(_codes(ex)) == {Code.PROOF_MALFORMED}
