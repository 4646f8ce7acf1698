"""Offline verification of an export file: ``auditlens verify`` and the viewer's dialog.

This module reads files and nothing else: no network, no mirror, no Qt, no SQLAlchemy (a test
imports it in a fresh interpreter and checks). It turns a file into per-event leaf hashes and
hands them to :func:`auditlens.core.evidence_check.verify_evidence`, adding what only the file layer
can check: the data file's SHA-256 (FILE_MODIFIED), the JSON document's shape, and for CSV each
flattened cell against the event's canonical JSON.

Which file is which: ``FILE`` may be a JSON export, a CSV/NDJSON data file (its sidecar is
``FILE.evidence.json``), or the sidecar itself (the data file is its name without the suffix),
or an HTML task report (``.html``, or a file starting ``<!DOCTYPE html``): its embedded events and
evidence are verified the same way, and its visible part must be what that data renders to.

One reader per format turns the file into a :class:`~auditlens.export.read_events.Reading`
(:mod:`~auditlens.export.read_json`, :mod:`~auditlens.export.read_ndjson`,
:mod:`~auditlens.export.read_csv`, :mod:`~auditlens.export.read_html`); this module finds the
evidence, runs the same checks on every reading, then the format's own. Each event is parsed
once; when its text is already canonical (the normal case) it is hashed as is, otherwise it is
re-canonicalized (RFC 8785) and strictly re-parsed, so duplicate member names, which two JSON
readers could read differently, make the event unreadable instead of ambiguous. The report a
person reads, and the exit codes, are :mod:`auditlens.export.commands`'.

Two readings are refused everywhere, because the sidecar and the non-event parts of a file are
not signed and an attacker rewrites them at will (tests/e2e/test_adversarial_exports.py): a
number with a fraction or exponent in an event (RFC 8785 maps ``1500.0000000000001`` to the
signed ``1500``), duplicate member names in the evidence or sidecar, CSV columns auditlens
does not write or names used twice, ``index`` cells not written as the plain decimal index,
and an HTML report whose visible part differs from its data even when it claims another
auditlens version.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from auditlens.core import canonical
from auditlens.core.errors import Code, Finding, FormatError
from auditlens.core.evidence import Evidence
from auditlens.core.evidence_check import Report, parse_evidence
from auditlens.export.annotations import Annotations, annotations_for, data_path_of
from auditlens.export.layout import JSON_HEAD, SIDECAR_SUFFIX, sidecar_path
from auditlens.export.read_csv import read_csv
from auditlens.export.read_events import Reading
from auditlens.export.read_html import is_html, read_html
from auditlens.export.read_json import read_json
from auditlens.export.read_ndjson import read_ndjson

_PDF_MAGIC = b"%PDF-"


@dataclass
class FileReport:
    """A :class:`Report` plus which files were read and what kind of export they are."""

    report: Report
    kind: str
    data_path: Path
    evidence_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    pinned_origin: str | None = None
    """The origin the caller required (``--origin``); None: the file's own was taken."""
    annotations: Annotations | None = None
    """A case export's notes beside the file: reported, never verified, never a finding."""

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "file": str(self.data_path),
            "kind": self.kind,
            "evidence_file": str(self.evidence_path) if self.evidence_path else None,
            "origin_pinned": self.pinned_origin is not None,
        }
        out.update(self.report.to_dict())
        out["notes"] = list(self.notes)
        out["annotations"] = self.annotations.to_dict() if self.annotations else None
        return out


def verify_file(
    path: str | Path, vkeys: Sequence[str] | None = None, origin: str | None = None
) -> FileReport:
    """Verify an export file; see the module docstring for which files are read.

    Raises FileNotFoundError when ``path`` does not exist and FormatError when a given vkey is
    malformed (both are usage errors, not findings about the file).
    """
    from auditlens.core.note import parse_vkey

    for key in vkeys or ():
        parse_vkey(key)
    p = data_path_of(Path(path))
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    freport = _verify_path(p, vkeys, origin)
    freport.pinned_origin = origin
    freport.annotations = annotations_for(freport.data_path, freport.report.evidence)
    return freport


def _verify_path(p: Path, vkeys: Sequence[str] | None, origin: str | None) -> FileReport:
    if p.name.endswith(SIDECAR_SUFFIX) and p.name != SIDECAR_SUFFIX:
        return _verify_sidecar(p.with_name(p.name[: -len(SIDECAR_SUFFIX)]), p, vkeys, origin)
    side = sidecar_path(p)
    if side.exists():
        return _verify_sidecar(p, side, vkeys, origin)
    with p.open("rb") as f:
        head = f.read(4096)
    if head.startswith(_PDF_MAGIC):
        return _no_evidence(
            p,
            "pdf",
            f"{p.name} is a PDF: a PDF carries no evidence, so there is nothing to verify in "
            "it. Verify the HTML task report (auditlens report --format html) or the export "
            "it was made from instead",
        )
    if is_html(p, head):
        return _verify_embedded(p, "html report", read_html, vkeys, origin)
    kind = _sidecar_kind(p, head)
    if kind is not None:
        return _no_evidence(
            p,
            kind,
            f"the evidence sidecar {side.name} is missing: a {kind.upper()} export keeps its "
            f"evidence in that file, next to {p.name}; without it nothing can be verified",
        )
    return _verify_embedded(p, "json", read_json, vkeys, origin)


def _sidecar_kind(path: Path, head: bytes) -> str | None:
    """``csv`` or ``ndjson`` when ``path`` is a data file that needs a sidecar, else None.

    By name first (``.csv``, ``.ndjson``, ``.jsonl``), then by content: a header naming
    ``canonical_json``, or a first line that is a whole JSON object while the file goes on
    (a JSON export's first line is ``{"events":[``).
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".ndjson", ".jsonl"):
        return "ndjson"
    first = head.removeprefix(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    if b"canonical_json" in first:
        return "csv"
    if first.startswith(b"{") and first.rstrip(b"\r") != JSON_HEAD.rstrip(b"\n"):
        try:
            return "ndjson" if isinstance(orjson.loads(first), dict) else None
        except orjson.JSONDecodeError:
            return None
    return None


def unreadable_report(path: Path, exc: BaseException) -> FileReport:
    """The report for a file a reader choked on: a failure (exit 1), never a traceback.

    Every reader turns malformed content into findings; this is the last line for a case none
    of them foresaw, so the person still gets a verdict and a sentence to report.
    """
    return _no_evidence(
        Path(path),
        "unknown",
        f"{Path(path).name} could not be read as an export ({type(exc).__name__}: {exc}); "
        "nothing in it was verified. Please report this file to the auditlens maintainers",
    )


def _no_evidence(path: Path, kind: str, message: str) -> FileReport:
    """A report for a file that holds no evidence at all (exit 1, never a usage error)."""
    report = Report()
    report.add(Finding.at(Code.PROOF_MALFORMED, message))
    report.step("evidence", "failed", message)
    return FileReport(report, kind, path)


def _verify_embedded(
    path: Path,
    kind: str,
    read: Callable[[Path, Report], Reading | None],
    vkeys: Sequence[str] | None,
    origin: str | None,
) -> FileReport:
    """Verify a file that carries its own evidence (a JSON export, an HTML task report)."""
    report = Report()
    freport = FileReport(report, kind, path)
    reading = read(path, report)
    if reading is None:
        return freport
    evidence = parse_evidence(reading.evidence, report)
    if evidence is not None:
        _check(freport, reading, evidence, vkeys, origin)
    return freport


def _check(
    freport: FileReport,
    reading: Reading,
    evidence: Evidence,
    vkeys: Sequence[str] | None,
    origin: str | None,
) -> None:
    """The checks every format gets, then the format's own (in the order the report lists)."""
    report = freport.report
    if reading.data_file is not None:
        _check_data_hash(report, evidence, freport.data_path.name, *reading.data_file)
    reading.events.verify(evidence, vkeys, origin, reading.label, report)
    if reading.finish is not None:
        reading.finish(evidence, report)


def _verify_sidecar(
    data_path: Path,
    evidence_path: Path,
    vkeys: Sequence[str] | None,
    origin: str | None,
) -> FileReport:
    report = Report()
    freport = FileReport(report, "sidecar", data_path, evidence_path)
    try:
        # Strict (duplicate member names rejected); surrounding whitespace is not part of the
        # value, and without it orjson's own output is checked for duplicates at C speed.
        evidence_obj = canonical.loads(evidence_path.read_bytes().strip(b" \t\r\n"))
    except FormatError as exc:
        report.add(Finding.at(Code.FILE_MODIFIED, f"{evidence_path.name} is not valid JSON: {exc}"))
        report.step("evidence file", "failed", "not valid JSON")
        return freport
    evidence = parse_evidence(evidence_obj, report)
    if evidence is None:
        return freport
    df = evidence.data_file
    if df is None:
        report.add(
            Finding.at(
                Code.PROOF_MALFORMED,
                f"{evidence_path.name} names no data file (data_file is missing)",
            )
        )
        return freport
    freport.kind = df.format
    if df.name != data_path.name:
        freport.notes.append(
            f"the data file was exported as {df.name!r}; now named {data_path.name!r}"
        )
    if not data_path.exists():
        report.add(
            Finding.over(
                Code.EVENT_MISSING,
                f"the data file {data_path.name} is missing next to its evidence",
                evidence.indexes,
            )
        )
        return freport
    read = read_ndjson if df.format == "ndjson" else read_csv
    reading = read(data_path, evidence, report)
    if reading is not None:
        _check(freport, reading, evidence, vkeys, origin)
    return freport


def _check_data_hash(report: Report, evidence: Evidence, name: str, digest: str, size: int) -> None:
    df = evidence.data_file
    if df is None:
        return
    if digest == df.sha256 and size == df.bytes:
        report.step("data file SHA-256", "passed", f"{name}: {size:,} bytes, SHA-256 {digest}")
        return
    report.add(
        Finding.at(
            Code.FILE_MODIFIED,
            f"{name} is not the file this evidence was made for: its SHA-256 is {digest} "
            f"({size:,} bytes) but the evidence records {df.sha256} ({df.bytes:,} bytes); the "
            "data file or its sidecar was edited",
        )
    )
    report.step("data file SHA-256", "failed", "differs from the evidence")
