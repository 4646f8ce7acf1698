"""Adversarial exports: attempts to make a tampered export PASS `auditlens verify`.

The tamper suite (tests/export/test_tamper.py) covers the honest mistakes and the obvious edits;
here an attacker who knows the format tries to keep the verifier quiet: by rewriting the
(unsigned) sidecar together with the data, by playing on what JSON, CSV and base64 let two texts
mean, by pairing a valid checkpoint with proofs of another tree, and so on. Each test names one
attempt and asserts the code it must produce; where a change is harmless (the verified bytes are
the same) the test asserts that it passes and says why.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import random
import unicodedata
from pathlib import Path
from typing import Literal

import orjson
import pytest

from auditlens.core import merkle
from auditlens.core.canonical import canonicalize_event
from auditlens.core.errors import Code
from auditlens.core.evidence_tree import evidence_root
from auditlens.core.note import Checkpoint, generate_keys, sign_checkpoint
from auditlens.export.commands import exit_code
from auditlens.export.verify import FileReport, verify_file
from auditlens.export.writer import ExportOptions, export
from tests.export.files import ExportFile
from tests.export.logs import ORIGIN, MemoryLog

SIZE = 24
SELECTED = [i for i in range(SIZE) if i % 4 != 1]  # gaps, so the proof has nodes


class NumberLog(MemoryLog):
    """A MemoryLog whose events carry integers (``duration_ms``), like real task events."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for n, event in enumerate(self.events):
            body = event["event"]
            assert isinstance(body, dict)
            body["duration_ms"] = 1500 + n
            if event["type"] == "task.created":
                body["title"] = "Zoë's café: ﬁle review"  # NFC text, and a ligature
        self.raws = [canonicalize_event(e) for e in self.events]
        self.leaves = [merkle.leaf_hash(r) for r in self.raws]
        self.root = merkle.root(self.leaves)
        self.note = sign_checkpoint(Checkpoint(self.origin, self.size, self.root), self.skey)


LOG = NumberLog(SIZE, seed=11)


def _export(tmp_path: Path, fmt: str, selected: list[int] | None = SELECTED) -> ExportFile:
    path = tmp_path / f"export.{fmt}"
    export(LOG.snapshot(selected, chunk=8), ExportOptions(fmt, path, {"outcome": "any"}))
    return ExportFile(path, fmt)


def _verify(ex: ExportFile | Path, origin: str | None = None) -> FileReport:
    path = ex.path if isinstance(ex, ExportFile) else ex
    return verify_file(path, [LOG.vkey], origin=origin)


def _codes(ex: ExportFile | Path, origin: str | None = None) -> set[Code]:
    freport = _verify(ex, origin)
    codes = {f.code for f in freport.report.failures}
    assert bool(codes) == (exit_code(freport) == 1), "a finding must fail, and only a finding"
    return codes


def _resign_sidecar(ex: ExportFile, **changes: object) -> None:
    """Rewrite the unsigned sidecar so its SHA-256 and size match the edited data file."""
    evidence = ex.evidence()
    data = ex.path.read_bytes()
    evidence["data_file"]["sha256"] = hashlib.sha256(data).hexdigest()
    evidence["data_file"]["bytes"] = len(data)
    evidence["data_file"].update(changes)
    ex.write_evidence(evidence)


def _csv_rows(ex: ExportFile) -> list[list[str]]:
    return list(csv.reader(io.StringIO(ex.path.read_text(encoding="utf-8"), newline="")))


def _write_csv(ex: ExportFile, rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    ex.path.write_bytes(out.getvalue().encode("utf-8"))


def _set_evidence(ex: ExportFile, **changes: object) -> None:
    evidence = ex.evidence()
    evidence.update(changes)
    ex.write_evidence(evidence)


# -- the tree: sizes, indexes, proof encodings ------------------------------------------------


def test_evidence_tree_size_other_than_the_checkpoints_is_malformed(tmp_path: Path) -> None:
    ex = _export(tmp_path, "json")
    _set_evidence(ex, tree_size=SIZE + 8)
    assert _codes(ex) == {Code.PROOF_MALFORMED}


def test_a_signed_checkpoint_of_a_larger_tree_does_not_fit_proofs_of_the_smaller_one(
    tmp_path: Path,
) -> None:
    # A later, genuinely signed checkpoint of the same log: the tree size is not protected by
    # a proof alone, so the verifier must use size AND root of that checkpoint together.
    ex = _export(tmp_path, "json")
    bigger = NumberLog(SIZE + 8, seed=11)
    assert bigger.raws[:SIZE] == LOG.raws  # the same log, 8 entries later
    note = sign_checkpoint(Checkpoint(ORIGIN, SIZE + 8, bigger.root), LOG.skey)
    _set_evidence(ex, checkpoint=note)
    assert _codes(ex) == {Code.PROOF_MALFORMED}  # evidence.tree_size still says 24
    _set_evidence(ex, checkpoint=note, tree_size=SIZE + 8)
    assert _codes(ex) == {Code.PROOF_MALFORMED}  # the 24-leaf nodes cannot tile 32 leaves


def test_a_smaller_signed_checkpoint_does_not_fit_proofs_of_the_larger_tree(
    tmp_path: Path,
) -> None:
    ex = _export(tmp_path, "json", [0, 2])
    smaller = NumberLog(8, seed=11)
    note = sign_checkpoint(Checkpoint(ORIGIN, 8, smaller.root), LOG.skey)
    _set_evidence(ex, checkpoint=note, tree_size=8)
    assert _codes(ex) <= {Code.PROOF_MALFORMED, Code.INCLUSION_FAILED}
    assert _codes(ex)


def test_an_index_outside_the_tree_is_malformed(tmp_path: Path) -> None:
    ex = _export(tmp_path, "json", [0, 23])
    _set_evidence(ex, indexes=[[0, 0], [24, 24]])
    assert _codes(ex) == {Code.PROOF_MALFORMED}


@pytest.mark.parametrize(
    "indexes", [[[3, 3], [3, 3]], [[2, 4], [4, 5]], [[5, 5], [3, 3]], [[4, 3]], [[-1, 0]]]
)
def test_duplicate_overlapping_or_descending_indexes_are_malformed(
    indexes: list[list[int]], tmp_path: Path
) -> None:
    ex = _export(tmp_path, "json", [0, 2])
    _set_evidence(ex, indexes=indexes)
    assert _codes(ex) == {Code.PROOF_MALFORMED}


def test_indexes_shifted_onto_the_neighbouring_leaves_fail_inclusion(tmp_path: Path) -> None:
    # Same count, same hashes, each claimed one place later: the proof no longer adds up.
    ex = _export(tmp_path, "json", [4, 5, 6])
    _set_evidence(ex, indexes=[[5, 7]])
    assert _codes(ex) == {Code.INCLUSION_FAILED}


def test_a_count_that_disagrees_with_the_indexes_is_malformed(tmp_path: Path) -> None:
    ex = _export(tmp_path, "json")
    _set_evidence(ex, count=len(SELECTED) - 1)
    assert _codes(ex) == {Code.PROOF_MALFORMED}


@pytest.mark.parametrize("member", ["leaf_hashes", "nodes"])
@pytest.mark.parametrize("garbage", ["AAAA", "A", "\n", " ", "$$$$", "\u00e9"])
def test_base64_with_trailing_garbage_is_malformed(
    member: str, garbage: str, tmp_path: Path
) -> None:
    ex = _export(tmp_path, "json")
    evidence = ex.evidence()
    assert evidence[member]
    _set_evidence(ex, **{member: evidence[member] + garbage})
    assert _codes(ex) == {Code.PROOF_MALFORMED}


def test_a_lone_padding_character_after_complete_base64_decodes_to_the_same_hashes(
    tmp_path: Path,
) -> None:
    # Harmless: Python's strict decoder ignores one "=" after a complete 4-character group, and
    # the hashes the proof is checked with are byte-identical to the signed ones.
    ex = _export(tmp_path, "json", [0, 1, 2])  # 96 bytes: base64 without padding
    text = ex.evidence()["leaf_hashes"]
    assert not text.endswith("=")
    _set_evidence(ex, leaf_hashes=text + "=")
    assert _verify(ex).report.status == "verified"


def test_base64_with_other_unused_trailing_bits_decodes_to_the_same_hashes_and_passes(
    tmp_path: Path,
) -> None:
    # Harmless: one hash of 32 bytes ends in "x=" whose two unused bits are ignored by every
    # decoder, so the hashes the proof is checked with are byte-identical to the signed ones.
    ex = _export(tmp_path, "json", [0])
    text = ex.evidence()["leaf_hashes"]
    assert text.endswith("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    other = alphabet[alphabet.index(text[-2]) | 1]
    assert other != text[-2]
    _set_evidence(ex, leaf_hashes=text[:-2] + other + "=")
    assert base64.b64decode(ex.evidence()["leaf_hashes"]) == base64.b64decode(text)
    assert _verify(ex).report.status == "verified"


# -- the checkpoint, its origin and its keys ------------------------------------------------------


def _other_log_empty_export(tmp_path: Path) -> ExportFile:
    """A genuine empty export of ANOTHER organization's log on the same server (same key)."""
    other = MemoryLog(5, seed=3, origin="auditlens.test/globex")
    other.skey, other.vkey = LOG.skey, LOG.vkey
    other.note = sign_checkpoint(Checkpoint(other.origin, 5, other.root), LOG.skey)
    path = tmp_path / "other.json"
    export(other.snapshot([], chunk=8), ExportOptions("json", path, {}))
    return ExportFile(path, "json")


def test_an_empty_export_of_another_origin_fails_when_the_origin_is_pinned(
    tmp_path: Path,
) -> None:
    ex = _other_log_empty_export(tmp_path)
    assert _codes(ex, origin=ORIGIN) == {Code.ORIGIN_MISMATCH}


def test_an_empty_export_of_another_origin_names_that_origin_when_not_pinned(
    tmp_path: Path,
) -> None:
    # Legitimate: it IS a verified (empty) export, of the log it names; without --origin the
    # report says which log that is, and a person checks it (an origin names the org).
    ex = _other_log_empty_export(tmp_path)
    freport = _verify(ex)
    assert freport.report.status == "verified"
    assert freport.to_dict()["origin"] == "auditlens.test/globex"


def test_evidence_naming_one_origin_with_a_checkpoint_of_another_is_a_mismatch(
    tmp_path: Path,
) -> None:
    ex = _other_log_empty_export(tmp_path)
    _set_evidence(ex, origin=ORIGIN)
    assert _codes(ex) == {Code.ORIGIN_MISMATCH}


def _signature_line(name: str, key_id: bytes, rng: random.Random) -> str:
    blob = key_id + bytes(rng.randrange(256) for _ in range(64))
    return f"\u2014 {name} {base64.b64encode(blob).decode()}\n"


def test_an_extra_garbage_signature_by_an_unknown_key_is_ignored(tmp_path: Path) -> None:
    # Legitimate: C2SP signed-note verifiers ignore signatures by keys they do not trust; the
    # trusted key's signature on the same text is what counts.
    ex = _export(tmp_path, "json")
    note = ex.evidence()["checkpoint"] + _signature_line(
        "mallory.example", b"\x01\x02\x03\x04", random.Random(1)
    )
    _set_evidence(ex, checkpoint=note)
    assert _verify(ex).report.status == "verified"


def test_an_extra_garbage_signature_claiming_the_trusted_key_is_a_bad_signature(
    tmp_path: Path,
) -> None:
    ex = _export(tmp_path, "json")
    note = ex.evidence()["checkpoint"]
    key_id = int(LOG.vkey.split("+")[1], 16).to_bytes(4, "big")
    _set_evidence(ex, checkpoint=note + _signature_line("auditlens.test", key_id, random.Random(2)))
    assert _codes(ex) == {Code.CHECKPOINT_BAD_SIGNATURE}


def test_a_checkpoint_of_a_forged_tree_signed_with_the_attackers_key_in_the_hint(
    tmp_path: Path,
) -> None:
    ex = _export(tmp_path, "json")
    records = ex.records()
    forged = records[0].replace(b'"outcome":"success"', b'"outcome":"failure"')
    assert forged != records[0]
    records[0] = forged
    ex.write_records(records)
    evidence = ex.evidence()
    leaves = bytearray(base64.b64decode(evidence["leaf_hashes"]))
    leaves[:32] = merkle.leaf_hash(forged)
    evil_skey, evil_vkey = generate_keys("auditlens.test")
    # The root of the forged tree, from the forged leaves and the original nodes:
    runs = tuple((a, b) for a, b in evidence["indexes"])
    root = evidence_root(SIZE, runs, bytes(leaves), base64.b64decode(evidence["nodes"]))
    note = sign_checkpoint(Checkpoint(ORIGIN, SIZE, root), evil_skey)
    _set_evidence(
        ex, leaf_hashes=base64.b64encode(leaves).decode(), checkpoint=note, vkey=evil_vkey
    )
    assert _codes(ex) == {Code.UNTRUSTED_KEY}  # the trusted key decides, never the hint
    unkeyed = verify_file(ex.path, None)
    assert unkeyed.report.status == "unverified" and exit_code(unkeyed) == 3  # never 0


def test_a_swapped_key_hint_alone_changes_nothing(tmp_path: Path) -> None:
    # Legitimate: the hint is never trusted when a key is given, so changing it is harmless.
    ex = _export(tmp_path, "json")
    _set_evidence(ex, vkey=generate_keys("auditlens.test")[1])
    assert _verify(ex).report.status == "verified"


# -- JSON: what two texts can mean ----------------------------------------------------------------


def _edit_json_record(ex: ExportFile, position: int, old: bytes, new: bytes) -> None:
    records = ex.records()
    assert old in records[position], (old, records[position])
    records[position] = records[position].replace(old, new, 1)
    ex.write_records(records)


@pytest.mark.parametrize(
    "written",
    [b"1500.0", b"15e2", b"1.5E3", b"1500.0000000000001", b"1500.00000000000000000001"],
)
def test_an_integer_rewritten_with_a_fraction_or_exponent_is_not_trusted(
    written: bytes, tmp_path: Path
) -> None:
    # RFC 8785 maps all of these to the signed "1500", so the canonical bytes would match; but
    # a reader that keeps decimal literals (jq 1.7) shows 1500.0000000000001, not what was
    # signed. The log signs integers only, so any such number is a changed event.
    ex = _export(tmp_path, "json", [0, 1, 2])
    _edit_json_record(ex, 0, b'"duration_ms":1500', b'"duration_ms":' + written)
    freport = _verify(ex)
    assert {f.code for f in freport.report.failures} == {Code.EVENT_MODIFIED}
    assert freport.report.failures[0].indexes == [0]


def test_a_float_in_a_reformatted_json_export_is_not_trusted(tmp_path: Path) -> None:
    ex = _export(tmp_path, "json", [0, 1, 2])
    doc = orjson.loads(ex.path.read_bytes())
    text = orjson.dumps(doc, option=orjson.OPT_INDENT_2)  # not the streaming layout any more
    ex.path.write_bytes(text.replace(b'"duration_ms": 1500,', b'"duration_ms": 1500.0,', 1))
    assert b"1500.0" in ex.path.read_bytes()
    assert _codes(ex) == {Code.EVENT_MODIFIED}


def test_a_float_in_an_ndjson_line_is_not_trusted_even_with_a_rewritten_sidecar(
    tmp_path: Path,
) -> None:
    ex = _export(tmp_path, "ndjson", [0, 1, 2])
    _edit_json_record(ex, 1, b'"duration_ms":1501', b'"duration_ms":1501.0')
    _resign_sidecar(ex)
    assert _codes(ex) == {Code.EVENT_MODIFIED}


def test_another_spelling_of_the_same_event_passes(tmp_path: Path) -> None:
    # Harmless: key order, whitespace and escapes (\u0041 for A, \/ for /) change the text but
    # not the value, and the value's RFC 8785 bytes are exactly the signed ones.
    ex = _export(tmp_path, "json", [0, 1, 2])
    records = ex.records()
    event = orjson.loads(records[1])
    spelled = orjson.dumps(dict(reversed(list(event.items()))), option=orjson.OPT_INDENT_2)
    spelled = spelled.replace(b'"type"', b'"\\u0074ype"').replace(b"\n", b" ")
    records[1] = spelled
    ex.write_records(records)
    assert _verify(ex).report.status == "verified"


def test_a_duplicate_member_inside_an_event_is_not_trusted(tmp_path: Path) -> None:
    ex = _export(tmp_path, "json", [0, 1, 2])
    _edit_json_record(ex, 2, b"{", b'{"type":"auth.logout",')
    assert _codes(ex) == {Code.EVENT_MODIFIED}


@pytest.mark.parametrize("form", ["NFD", "NFKD"])
def test_a_string_in_another_unicode_normalization_form_is_modified(
    form: Literal["NFD", "NFKD"], tmp_path: Path
) -> None:
    ex = _export(tmp_path, "json")
    records = ex.records()
    position = next(n for n, r in enumerate(records) if "é".encode() in r)
    text = records[position].decode()
    records[position] = unicodedata.normalize(form, text).encode()
    assert records[position] != text.encode()
    ex.write_records(records)
    assert _codes(ex) == {Code.EVENT_MODIFIED}


def test_a_homoglyph_in_an_email_is_modified(tmp_path: Path) -> None:
    ex = _export(tmp_path, "json")
    records = ex.records()
    position = next(n for n, r in enumerate(records) if b"@example.com" in r)
    records[position] = records[position].replace(b"example", "ex\u0430mple".encode(), 1)
    ex.write_records(records)
    assert _codes(ex) == {Code.EVENT_MODIFIED}


def test_a_second_evidence_member_in_a_json_export_is_file_modified(tmp_path: Path) -> None:
    # jq and Python keep the last member, a person reading the file sees the first: refused.
    ex = _export(tmp_path, "json")
    data = ex.path.read_bytes()
    at = data.index(b'"evidence":')
    evidence = ex.evidence()
    decoy = dict(evidence, filter={"user_email": "someone.else@example.com"})
    ex.path.write_bytes(
        data[:at]
        + b'"evidence":'
        + orjson.dumps(decoy)
        + b',"evidence":'
        + orjson.dumps(evidence)
        + b"}\n"
    )
    assert _codes(ex) == {Code.FILE_MODIFIED}


def test_a_duplicate_member_inside_the_evidence_is_refused(tmp_path: Path) -> None:
    ex = _export(tmp_path, "json")
    data = ex.path.read_bytes()
    data = data.replace(b'"evidence":{', b'"evidence":{"filter":{"user_email":"x@y.z"},', 1)
    ex.path.write_bytes(data)
    assert _codes(ex) == {Code.FILE_MODIFIED}


def test_a_duplicate_member_inside_a_sidecar_is_refused(tmp_path: Path) -> None:
    ex = _export(tmp_path, "ndjson")
    data = ex.sidecar.read_bytes()
    ex.sidecar.write_bytes(data.replace(b"{", b'{"origin":"auditlens.test/globex",', 1))
    assert _codes(ex) == {Code.FILE_MODIFIED}


def test_an_edited_filter_statement_still_verifies(tmp_path: Path) -> None:
    # A known limit, stated by the verifier's report: the filter and export time are the
    # exporter's statements, not signed (the audit.exported event in the log binds them).
    ex = _export(tmp_path, "json")
    _set_evidence(ex, filter={"user_email": "someone.else@example.com"})
    freport = _verify(ex)
    assert freport.report.status == "verified"
    assert freport.to_dict()["filter"] == {"user_email": "someone.else@example.com"}


# -- NDJSON ---------------------------------------------------------------------------------------


def test_a_blank_line_in_ndjson_is_an_inserted_event_even_with_a_rewritten_sidecar(
    tmp_path: Path,
) -> None:
    ex = _export(tmp_path, "ndjson")
    records = ex.records()
    ex.write_records([*records[:3], b"", *records[3:]])
    _resign_sidecar(ex)
    assert _codes(ex) == {Code.EVENT_INSERTED}


def test_crlf_line_ends_in_ndjson_change_the_file_hash(tmp_path: Path) -> None:
    ex = _export(tmp_path, "ndjson")
    ex.path.write_bytes(ex.path.read_bytes().replace(b"\n", b"\r\n"))
    assert _codes(ex) == {Code.FILE_MODIFIED}


def test_crlf_line_ends_with_a_rewritten_sidecar_pass(tmp_path: Path) -> None:
    # Harmless: the event bytes between the line ends are exactly the signed ones.
    ex = _export(tmp_path, "ndjson")
    ex.path.write_bytes(ex.path.read_bytes().replace(b"\n", b"\r\n"))
    _resign_sidecar(ex)
    assert _verify(ex).report.status == "verified"


# -- CSV with a rewritten sidecar (the sidecar is not signed, so an attacker rewrites it) --------


def test_an_extra_csv_column_is_file_modified(tmp_path: Path) -> None:
    ex = _export(tmp_path, "csv")
    rows = _csv_rows(ex)
    _write_csv(ex, [rows[0] + ["approved_by"], *([*r, "ceo@acme.example"] for r in rows[1:])])
    _resign_sidecar(ex, columns=rows[0] + ["approved_by"])
    assert _codes(ex) == {Code.FILE_MODIFIED}


def test_a_second_canonical_json_column_is_file_modified(tmp_path: Path) -> None:
    # csv.DictReader (and many importers) keep the LAST column of a name: a forged event there
    # would be what they read, while a first-column-only check would pass the file.
    ex = _export(tmp_path, "csv")
    rows = _csv_rows(ex)
    forged = orjson.loads(rows[1][-1])
    forged["type"] = "auth.logout"
    body = [
        [*r, orjson.dumps(forged).decode() if n == 0 else r[-1]] for n, r in enumerate(rows[1:])
    ]
    _write_csv(ex, [rows[0] + ["canonical_json"], *body])
    _resign_sidecar(ex, columns=rows[0] + ["canonical_json"])
    assert _codes(ex) == {Code.FILE_MODIFIED}


def test_a_csv_row_repeated_is_inserted(tmp_path: Path) -> None:
    ex = _export(tmp_path, "csv")
    rows = _csv_rows(ex)
    _write_csv(ex, [*rows[:3], rows[2], *rows[3:]])
    _resign_sidecar(ex)
    assert _codes(ex) == {Code.EVENT_INSERTED}


def test_a_short_csv_row_is_flagged(tmp_path: Path) -> None:
    ex = _export(tmp_path, "csv")
    rows = _csv_rows(ex)
    rows[2] = [*rows[2][:-2], rows[2][-1]]
    _write_csv(ex, rows)
    _resign_sidecar(ex)
    assert _codes(ex) == {Code.EVENT_MODIFIED}


@pytest.mark.parametrize("spelled", ["-1", "+{i}", " {i}", "0{i}", "{i}.0", "arabic"])
def test_an_index_cell_not_written_as_the_plain_index_is_modified(
    spelled: str, tmp_path: Path
) -> None:
    ex = _export(tmp_path, "csv")
    rows = _csv_rows(ex)
    i = rows[2][0]
    arabic = "".join(chr(0x660 + int(d)) for d in i)  # int() reads these as digits
    rows[2][0] = arabic if spelled == "arabic" else spelled.format(i=i)
    _write_csv(ex, rows)
    _resign_sidecar(ex)
    freport = _verify(ex)
    assert {f.code for f in freport.report.failures} == {Code.EVENT_MODIFIED}
    assert freport.report.failures[0].indexes == [int(i)]


def test_a_newline_inside_the_canonical_json_cell_between_tokens_passes(tmp_path: Path) -> None:
    # Harmless: a quoted newline between JSON tokens is whitespace; the cell still holds the
    # same value, whose canonical bytes are the signed ones.
    ex = _export(tmp_path, "csv")
    rows = _csv_rows(ex)
    rows[1][-1] = rows[1][-1].replace(",", ",\n", 1)
    _write_csv(ex, rows)
    _resign_sidecar(ex)
    assert b',\n"' in ex.path.read_bytes()
    assert _verify(ex).report.status == "verified"


@pytest.mark.parametrize("column", ["type", "canonical_json"])
def test_a_bom_in_the_middle_of_a_csv_is_modified(column: str, tmp_path: Path) -> None:
    ex = _export(tmp_path, "csv")
    rows = _csv_rows(ex)
    at = rows[0].index(column)
    rows[3][at] = "\ufeff" + rows[3][at]
    _write_csv(ex, rows)
    _resign_sidecar(ex)
    assert _codes(ex) == {Code.EVENT_MODIFIED}


def test_a_second_bom_at_the_start_is_file_modified(tmp_path: Path) -> None:
    ex = _export(tmp_path, "csv")
    ex.path.write_bytes(b"\xef\xbb\xbf\xef\xbb\xbf" + ex.path.read_bytes())
    _resign_sidecar(ex)
    assert Code.FILE_MODIFIED in _codes(ex)


def test_reordered_csv_columns_with_their_cells_pass(tmp_path: Path) -> None:
    # Harmless: every named cell still equals the value derived from its signed event.
    ex = _export(tmp_path, "csv")
    rows = _csv_rows(ex)
    order = [rows[0].index(c) for c in ("canonical_json", "type", "index", "outcome")]
    _write_csv(ex, [[r[n] for n in order] for r in rows])
    _resign_sidecar(ex, columns=[rows[0][n] for n in order])
    assert _verify(ex).report.status == "verified"


def test_a_renamed_csv_column_is_modified(tmp_path: Path) -> None:
    ex = _export(tmp_path, "csv")
    rows = _csv_rows(ex)
    a, b = rows[0].index("user_id"), rows[0].index("task_id")
    rows[0][a], rows[0][b] = rows[0][b], rows[0][a]
    _write_csv(ex, rows)
    _resign_sidecar(ex, columns=rows[0])
    assert _codes(ex) == {Code.EVENT_MODIFIED}


def test_a_user_email_rewritten_with_the_sidecars_directory_verifies_but_is_called_unsigned(
    tmp_path: Path,
) -> None:
    # A known limit (core/evidence.py): emails come from the organization's directory, not
    # from the signed log, and the sidecar that carries the directory is not signed. The
    # events still verify, so the report passes, but it must say the emails are not vouched for.
    ex = _export(tmp_path, "csv")
    rows = _csv_rows(ex)
    at = rows[0].index("user_email")
    old = next(r[at] for r in rows[1:] if r[at])
    rows = [rows[0], *([c.replace(old, "someone.else@example.com") for c in r] for r in rows[1:])]
    _write_csv(ex, rows)
    evidence = ex.evidence()
    evidence["users"] = {
        k: v.replace(old, "someone.else@example.com") for k, v in evidence["users"].items()
    }
    ex.write_evidence(evidence)
    _resign_sidecar(ex)
    freport = _verify(ex)
    assert freport.report.status == "verified"
    step = next(s for s in freport.report.steps if s.name == "user_email cells")
    assert "NOT in the signed log" in step.detail


def test_a_csv_sidecar_switched_to_ndjson_is_refused(tmp_path: Path) -> None:
    ex = _export(tmp_path, "csv")
    evidence = ex.evidence()
    evidence["data_file"]["format"] = "ndjson"
    ex.write_evidence(evidence)
    assert _codes(ex)


# -- HTML task reports ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def html_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, str]:
    from auditlens.export.report import prepare_report, save_html
    from tests.export.trail_seed import TASK, seeded_mirror

    tmp = tmp_path_factory.mktemp("html")
    mirror = seeded_mirror(tmp / "m.sqlite")
    path = tmp / "r.html"
    save_html(prepare_report(mirror.path, TASK, now=lambda: 1_772_366_400.0), path)
    return path.read_bytes(), mirror.vkey


def _html_codes(data: bytes, vkey: str, tmp_path: Path) -> tuple[set[Code], int]:
    path = tmp_path / "r.html"
    path.write_bytes(data)
    freport = verify_file(path, [vkey])
    return {f.code for f in freport.report.failures}, exit_code(freport)


def test_an_untouched_html_report_verifies(html_report: tuple[bytes, str], tmp_path: Path) -> None:
    assert _html_codes(*html_report, tmp_path) == (set(), 0)


def test_an_edited_html_report_claiming_another_version_is_file_modified(
    html_report: tuple[bytes, str], tmp_path: Path
) -> None:
    # The version in the report block is not signed. Claiming another one used to skip the
    # comparison of the visible text, so an edited timeline verified with exit code 0.
    data, vkey = html_report
    assert b"Touches production on a Friday" in data
    data = data.replace(b"Touches production on a Friday", b"Approved, all fine", 1)
    at = data.index(b'"auditlens_version":"') + len(b'"auditlens_version":"')
    data = data[:at] + b"0.0.1" + data[data.index(b'"', at) :]
    codes, code = _html_codes(data, vkey, tmp_path)
    assert (codes, code) == ({Code.FILE_MODIFIED}, 1)


def test_an_html_report_with_two_evidence_blocks_is_file_modified(
    html_report: tuple[bytes, str], tmp_path: Path
) -> None:
    data, vkey = html_report
    start = data.index(b'<script type="application/json" id="auditlens-evidence">')
    end = data.index(b"</script>", start) + len(b"</script>")
    data = data[:end] + data[start:end] + data[end:]
    assert _html_codes(data, vkey, tmp_path) == ({Code.FILE_MODIFIED}, 1)
