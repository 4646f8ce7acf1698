"""Offline verification of an export file: ``auditlens verify`` and the viewer's dialog.

This module reads files and nothing else: no network, no mirror, no Qt, no SQLAlchemy (a test
imports it in a fresh interpreter and checks). It turns a file into per-event leaf hashes and
hands them to :func:`auditlens.core.evidence.verify_evidence`, adding what only the file layer
can check: the data file's SHA-256 (FILE_MODIFIED), the JSON document's shape, and for CSV each
flattened cell against the event's canonical JSON.

Which file is which: ``FILE`` may be a JSON export, a CSV/NDJSON data file (its sidecar is
``FILE.evidence.json``), or the sidecar itself (the data file is its name without the suffix),
or an HTML task report (``.html``, or a file starting ``<!DOCTYPE html``): its embedded events and
evidence are verified the same way, and its visible part must be what that data renders to.

Reading strategy (why it is fast and flat in memory): JSON exports are streamed line by line in
the layout :mod:`auditlens.export.layout` writes; any other layout (e.g. re-indented by ``jq``)
is still accepted but parsed as a whole. Each event is parsed once; when its text is already
canonical (the normal case) it is hashed as is, otherwise it is re-canonicalized (RFC 8785) and
strictly re-parsed, so duplicate member names, which two JSON readers could read differently,
make the event unreadable instead of ambiguous.

Two readings are refused everywhere, because the sidecar and the non-event parts of a file are
not signed and an attacker rewrites them at will (tests/e2e/test_adversarial_exports.py): a
number with a fraction or exponent in an event (RFC 8785 maps ``1500.0000000000001`` to the
signed ``1500``), duplicate member names in the evidence or sidecar, CSV columns auditlens
does not write or names used twice, ``index`` cells not written as the plain decimal index,
and an HTML report whose visible part differs from its data even when it claims another
auditlens version.
"""

from __future__ import annotations

import csv
import hashlib
import io
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

import orjson

from auditlens import __version__
from auditlens.core import canonical
from auditlens.core.completeness import FilterCheck, stated_filter
from auditlens.core.errors import Code, Finding, FormatError, compress_ranges, format_ranges
from auditlens.core.evidence import Evidence, Report, parse_evidence, verify_evidence
from auditlens.export.columns import CSV_COLUMNS, DERIVED, derived_cells, neutralize
from auditlens.export.layout import (
    JSON_EVENTS_END,
    JSON_EVIDENCE_KEY,
    JSON_HEAD,
    JSON_TAIL,
    SIDECAR_SUFFIX,
    sidecar_path,
)

_NO_HASH = bytes(32)
_MAX_SAFE = 2**53 - 1
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

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "file": str(self.data_path),
            "kind": self.kind,
            "evidence_file": str(self.evidence_path) if self.evidence_path else None,
            "origin_pinned": self.pinned_origin is not None,
        }
        out.update(self.report.to_dict())
        out["notes"] = list(self.notes)
        return out


@dataclass
class _Events:
    """Leaf hashes of a file's events in order, and why some could not be read."""

    leaves: bytearray = field(default_factory=bytearray)
    unreadable: dict[int, str] = field(default_factory=dict)
    check: FilterCheck | None = None
    """Checks each event against the stated filter as it is read (None: filter unknown)."""
    known: bytes | None = None
    """The evidence's recorded leaf hashes when read before the events (sidecars)."""

    def add(self, body: bytes) -> dict[str, object] | None:
        position = len(self.leaves) // 32
        known = self.known
        expected = known[position * 32 : position * 32 + 32] if known is not None else None
        leaf, why, obj = event_leaf(body, expected)
        self.leaves += leaf
        if why is not None:
            self.unreadable[position] = why
        if self.check is not None:
            self.check.add(obj)
        return obj

    def add_item(self, item: object) -> bytes | None:
        """Add an event already parsed from a whole document; return its canonical bytes."""
        why = float_problem(item)
        if why is None:
            try:
                body = (
                    canonical.canonicalize_event(item)
                    if isinstance(item, dict)
                    else orjson.dumps(item, default=str)
                )
            except (FormatError, TypeError, ValueError) as exc:
                why = str(exc)
            else:
                self.add(body)
                return body
        self.add_unreadable(why)
        return None

    def add_unreadable(self, why: str) -> None:
        self.unreadable[self.count] = why
        self.leaves += _NO_HASH
        if self.check is not None:
            self.check.add(None)

    @property
    def count(self) -> int:
        return len(self.leaves) // 32

    def verify(
        self,
        evidence: Evidence,
        vkeys: Sequence[str] | None,
        origin: str | None,
        label: Callable[[int], str],
        report: Report,
    ) -> None:
        """Check these events against ``evidence`` (the same checks for every file format)."""
        verify_evidence(
            evidence,
            bytes(self.leaves),
            vkeys,
            origin=origin,
            unreadable=self.unreadable,
            label=label,
            report=report,
            filter_check=self.check,
        )


def event_leaf(
    body: bytes, expected: bytes | None = None
) -> tuple[bytes, str | None, dict[str, object] | None]:
    """Return ``(leaf hash, why unreadable or None, parsed event)`` of one event's JSON text.

    ``expected`` is the leaf hash the evidence records at this position, when known: text that
    hashes to it *is* the signed canonical bytes (or SHA-256 has a collision), so it needs no
    re-canonicalization. Anything else is re-canonicalized and strictly re-parsed.
    """
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return _NO_HASH, f"not valid JSON ({exc})", None
    if not isinstance(obj, dict):
        return _NO_HASH, "not a JSON object", None
    if expected is not None:
        leaf = hashlib.sha256(b"\x00" + body).digest()
        if leaf == expected:
            return leaf, None, obj
    try:
        canon = canonical.canonicalize_event(obj)
        if canon != body:
            canonical.loads(body)  # strict: rejects duplicate names that orjson let through
            why = float_problem(obj)
            if why is not None:
                return _NO_HASH, why, None
    except FormatError as exc:
        return _NO_HASH, str(exc), None
    return hashlib.sha256(b"\x00" + canon).digest(), None, obj


def float_problem(value: object, path: str = "") -> str | None:
    """Say where ``value`` holds a non-integer number, or None when it holds none.

    The log signs no floats (docs/evidence-format.md §1.1), yet RFC 8785 maps ``1.0``, ``1e0`` and
    ``1.0000000000000001`` all to the signed ``1``: the canonical bytes would match while a
    reader that keeps decimal literals (``jq`` 1.7, a SIEM with big decimals) shows another
    value than the one signed. Like a duplicate member name, such an event has two readings,
    so it is not trusted.
    """
    if isinstance(value, float):
        where = path.lstrip(".") or "the top level"
        if not abs(value) <= _MAX_SAFE:  # 2**70, infinities and NaN alike
            return (
                f"the number at {where} is out of range: the log signs integers within "
                "±(2^53−1) only, and beyond that JSON readers disagree on its value"
            )
        return (
            f"the number at {where} is written with a fraction or exponent; the log signs "
            "integers only, so it may read as another value than the one signed"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            why = float_problem(item, f"{path}.{key}")
            if why is not None:
                return why
    elif isinstance(value, list):
        for n, item in enumerate(value):
            why = float_problem(item, f"{path}[{n}]")
            if why is not None:
                return why
    return None


class _ReformattedError(Exception):
    """The JSON export is not in the streaming layout: fall back to a whole-document parse."""


def filter_check_for(evidence: object) -> FilterCheck | None:
    """The filter check for a raw evidence object (None when it is not an object)."""
    if not isinstance(evidence, dict):
        return None
    completeness = evidence.get("completeness")
    record = completeness.get("record") if isinstance(completeness, dict) else None
    return FilterCheck(stated_filter(evidence.get("filter"), record))


def _peek_evidence(path: Path, chunk: int = 1 << 20) -> object:
    """The evidence object of a JSON export in the streaming layout, read from its last line.

    Read ahead so that each event can be checked against the filter as it streams by; a file
    in another layout gives None (it is parsed whole, evidence first, anyway).
    """
    with path.open("rb") as f:
        end = f.seek(0, 2)
        pos, tail = end, b""
        while pos > 0:
            step = min(chunk, pos)
            pos -= step
            f.seek(pos)
            tail = f.read(step) + tail
            cut = tail.rfind(b"\n", 0, len(tail) - 1)
            if cut >= 0:
                tail = tail[cut + 1 :]
                break
    if not (tail.startswith(JSON_EVIDENCE_KEY) and tail.endswith(JSON_TAIL)):
        return None
    try:
        return orjson.loads(tail[len(JSON_EVIDENCE_KEY) : -len(JSON_TAIL)])
    except orjson.JSONDecodeError:
        return None


def _read_json_stream(path: Path) -> tuple[_Events, object]:
    events = _Events(check=filter_check_for(_peek_evidence(path)))
    with path.open("rb") as f:
        if f.readline() != JSON_HEAD:
            raise _ReformattedError
        expect_more = True  # after "[" or a "," another event must follow; else "]"
        for line in f:
            if line == JSON_EVENTS_END:
                if expect_more and events.count:
                    raise _ReformattedError  # a trailing comma: not JSON
                break
            if not expect_more:
                raise _ReformattedError
            if line.endswith(b",\n"):
                body, expect_more = line[:-2], True
            elif line.endswith(b"\n"):
                body, expect_more = line[:-1], False
            else:
                raise _ReformattedError
            if body.lstrip()[:1] != b"{" or body.rstrip()[-1:] != b"}":
                raise _ReformattedError  # e.g. two values on one line: let a real parser judge
            events.add(body)
        else:
            raise _ReformattedError
        rest = f.read()
    if not (rest.startswith(JSON_EVIDENCE_KEY) and rest.endswith(JSON_TAIL)):
        raise _ReformattedError
    try:
        # Strict: a second "evidence" (or a second "filter" inside it) would be a member
        # other readers may take instead of ours. Without the final newline, the orjson-written
        # tail is checked for duplicates by one re-serialization.
        doc = canonical.loads(b"{" + rest[: -len(JSON_TAIL)] + b"}")
    except FormatError:
        raise _ReformattedError from None
    if not isinstance(doc, dict) or list(doc) != ["evidence"]:
        raise _ReformattedError
    return events, doc["evidence"]


def _read_json_document(path: Path, report: Report) -> tuple[_Events, object] | None:
    try:
        doc = canonical.loads(path.read_bytes())
    except FormatError as exc:
        report.add(
            Finding.at(Code.FILE_MODIFIED, f"{path.name} is not a valid JSON document: {exc}")
        )
        report.step("file format", "failed", f"not valid JSON: {exc}")
        return None
    if not isinstance(doc, dict) or "events" not in doc or "evidence" not in doc:
        report.add(
            Finding.at(
                Code.FILE_MODIFIED,
                f"{path.name} is JSON but not an auditlens export (no events and evidence)",
            )
        )
        report.step("file format", "failed", "not an auditlens JSON export")
        return None
    extra = sorted(set(doc) - {"events", "evidence"})
    if extra:
        report.add(
            Finding.at(Code.FILE_MODIFIED, f"the export has unexpected top-level members {extra}")
        )
    items = doc["events"]
    if not isinstance(items, list):
        report.add(Finding.at(Code.FILE_MODIFIED, "the export's events member is not a list"))
        return None
    events = _Events(check=filter_check_for(doc["evidence"]))
    for item in items:
        events.add_item(item)
    report.step(
        "file format", "passed", "JSON document (not in the streaming layout; parsed whole)"
    )
    return events, doc["evidence"]


def _verify_json(path: Path, vkeys: Sequence[str] | None, origin: str | None) -> FileReport:
    report = Report()
    freport = FileReport(report, "json", path)
    try:
        events, evidence_obj = _read_json_stream(path)
        report.step("file format", "passed", "JSON export in the auditlens streaming layout")
    except _ReformattedError:
        got = _read_json_document(path, report)
        if got is None:
            return freport
        events, evidence_obj = got
    evidence = parse_evidence(evidence_obj, report)
    if evidence is None:
        return freport
    events.verify(evidence, vkeys, origin, lambda p: f"event #{p + 1} (line {p + 2})", report)
    return freport


class _HashingReader(io.RawIOBase):
    """A raw binary reader that hashes everything read through it."""

    def __init__(self, f: io.BufferedReader) -> None:
        self._f = f
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = self._f.readinto(buffer)
        if n:
            self.sha.update(memoryview(buffer)[:n])
            self.size += n
        return n or 0


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


def _read_ndjson(path: Path, evidence: Evidence) -> tuple[_Events, str, int]:
    events = _Events(check=_check_of(evidence), known=evidence.leaf_hashes)
    sha = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        for line in f:
            sha.update(line)
            size += len(line)
            body = line[:-1] if line.endswith(b"\n") else line
            if body.endswith(b"\r"):
                body = body[:-1]
            if not body.strip():
                events.add_unreadable("empty line")
                continue
            events.add(body)
    return events, sha.hexdigest(), size


def _check_of(evidence: Evidence) -> FilterCheck:
    record = evidence.completeness.record if evidence.completeness else None
    return FilterCheck(stated_filter(evidence.filter, record))


@dataclass
class _CsvCells:
    """Flattened cells that disagree with their row's canonical JSON, per row position."""

    claimed_index: array[int] = field(default_factory=lambda: array("q"))
    bad: dict[int, list[tuple[str, str, str]]] = field(default_factory=dict)
    bad_email: dict[int, tuple[str, str]] = field(default_factory=dict)
    bad_index_text: dict[int, str] = field(default_factory=dict)
    has_email: bool = False
    """Index cells that are not a plain decimal log index (``-1``, ``+7``, ``07``, `` 7``)."""


def _index_cell(text: str) -> int:
    """Return the log index an ``index`` cell states, or -2 when it is not written as one.

    Only the text the writer produces counts: ASCII digits without sign, spaces or leading
    zeros. ``int()`` alone would accept ``" 7"``, ``"+7"``, ``"0_7"`` and other scripts' digits,
    and ``-1`` is the "no index column" marker, so each would let a cell that does not read as
    the event's index pass unnoticed.
    """
    if text.isascii() and text.isdigit() and (text == "0" or text[0] != "0"):
        return int(text)
    return -2


def _check_header(report: Report, header: Sequence[str]) -> None:
    """Add FILE_MODIFIED for columns auditlens never writes, or a column named twice.

    Only the columns of :data:`CSV_COLUMNS` are checked against the signed canonical JSON; the
    cells of any other column (``approved_by``, say) would be unverified text inside a
    "verified" file, and a second ``canonical_json`` or ``type`` column is read differently by
    different tools (``csv.DictReader`` keeps the last one, the verifier the first). The sidecar
    lists the columns too, but it is not signed, so it cannot vouch for them.
    """
    unknown = [c for c in header if c not in CSV_COLUMNS]
    twice = sorted({c for c in header if header.count(c) > 1})
    if unknown:
        report.add(
            Finding.at(
                Code.FILE_MODIFIED,
                f"the CSV has column(s) {unknown} that auditlens does not write: their cells "
                "are not covered by the evidence",
            )
        )
    if twice:
        report.add(
            Finding.at(
                Code.FILE_MODIFIED,
                f"the CSV names column(s) {twice} more than once: tools disagree on which cell "
                "holds the value",
            )
        )


def _picker(positions: Sequence[int]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """Picks the cells at ``positions`` as one tuple, so a row compares in one operation."""
    if len(positions) > 1:
        return itemgetter(*positions)  # a tuple for 2+ positions
    return lambda row: tuple(row[n] for n in positions)


def _read_csv(
    path: Path, evidence: Evidence, report: Report
) -> tuple[_Events, str, int, _CsvCells] | None:
    events = _Events(check=_check_of(evidence), known=evidence.leaf_hashes)
    cells = _CsvCells()
    df = evidence.data_file
    users: Mapping[str, str] = evidence.users or {}
    with path.open("rb") as raw:
        hashing = _HashingReader(raw)
        text = io.TextIOWrapper(
            io.BufferedReader(hashing, 1 << 20), encoding="utf-8-sig", newline=""
        )
        reader = csv.reader(text, strict=True)
        try:
            header = next(reader, None)
            if header is None or "canonical_json" not in header:
                report.add(
                    Finding.at(
                        Code.FILE_MODIFIED,
                        f"{path.name} has no canonical_json column: it is not an auditlens "
                        "CSV export (or its header was edited)",
                    )
                )
                report.step("file format", "failed", "no canonical_json column")
                return None
            if df is not None and tuple(header) != df.columns:
                report.add(
                    Finding.at(
                        Code.FILE_MODIFIED,
                        f"the CSV header {header} differs from the exported columns "
                        f"{list(df.columns)}",
                    )
                )
            _check_header(report, header)
            cj = header.index("canonical_json")
            ix = header.index("index") if "index" in header else -1
            checked = [(n, c, DERIVED.index(c)) for n, c in enumerate(header) if c in DERIVED]
            file_cells = _picker([n for n, _, _ in checked])
            want_cells = _picker([at for _, _, at in checked])
            em = header.index("user_email") if "user_email" in header else -1
            cells.has_email = em >= 0
            width = len(header)
            for row in reader:
                position = events.count
                if len(row) != width:
                    events.add_unreadable(f"row has {len(row)} cells, header has {width}")
                    cells.claimed_index.append(-1)
                    continue
                obj = events.add(row[cj].encode("utf-8"))
                claimed = -1
                if ix >= 0:
                    claimed = _index_cell(row[ix])
                    if claimed < 0:
                        cells.bad_index_text[position] = row[ix]
                cells.claimed_index.append(claimed)
                if obj is None:
                    continue
                expected = derived_cells(obj)
                if file_cells(row) != want_cells(expected):
                    cells.bad[position] = [
                        (name, row[n], expected[at])
                        for n, name, at in checked
                        if row[n] != expected[at]
                    ]
                if em >= 0:
                    user_id = obj.get("user_id")
                    want = users.get(user_id, "") if isinstance(user_id, str) else ""
                    if row[em] != neutralize(want):
                        cells.bad_email[position] = (row[em], want)
        except UnicodeDecodeError as exc:
            report.add(Finding.at(Code.FILE_MODIFIED, f"{path.name} is not valid UTF-8: {exc}"))
            report.step("file format", "failed", "not UTF-8")
            return None
        except csv.Error as exc:
            report.add(
                Finding.at(
                    Code.FILE_MODIFIED,
                    f"{path.name} is not well-formed CSV near line {reader.line_num}: {exc}",
                )
            )
            report.step("file format", "failed", "malformed CSV")
            return None
    report.step("file format", "passed", f"CSV (RFC 4180), {len(header)} columns")
    return events, hashing.sha.hexdigest(), hashing.size, cells


def _report_cells(
    report: Report, evidence: Evidence, events: _Events, cells: _CsvCells, made_by: str
) -> None:
    """Turn cell disagreements into findings at the log index of the row's (authentic) event."""
    indexes = evidence.index_array()
    leaves = evidence.leaf_hashes
    aligned = bytes(events.leaves) == leaves  # the normal case: row p is exported event p
    by_leaf: dict[bytes, int] = {}

    def index_of(position: int) -> int | None:
        if aligned:
            return indexes[position]
        if not by_leaf:  # built only when rows and evidence disagree somewhere
            for q in range(evidence.count):
                by_leaf[leaves[q * 32 : (q + 1) * 32]] = indexes[q]
        return by_leaf.get(bytes(events.leaves[position * 32 : (position + 1) * 32]))

    bad_rows: list[int] = []
    lines: list[str] = []
    summary_only = True
    for position, bad in sorted(cells.bad.items()):
        idx = index_of(position)
        if idx is None:
            continue  # the event itself is already reported as modified or inserted
        bad_rows.append(idx)
        summary_only &= all(name == "summary" for name, _, _ in bad)
        for name, got, want in bad[:3]:
            lines.append(f"row {position + 2} (index {idx}) {name}: {got!r:.60} != {want!r:.60}")
    claims_agree = aligned and (
        cells.claimed_index == indexes or not any(c != -1 for c in cells.claimed_index)
    )
    for position, claimed in enumerate([] if claims_agree else cells.claimed_index):
        if claimed == -1:
            continue
        idx = index_of(position)
        if idx is not None and claimed != idx:
            bad_rows.append(idx)
            summary_only = False
            said = cells.bad_index_text.get(position, str(claimed))
            lines.append(f"row {position + 2}: index column says {said!r}, the event is {idx}")
    if bad_rows:
        note = ""
        if summary_only and made_by != __version__:
            note = (
                f" (this export was made by auditlens {made_by}; summaries can differ between "
                "versions: trust the canonical_json column)"
            )
        report.add(
            Finding.at(
                Code.EVENT_MODIFIED,
                f"{len(set(bad_rows))} row(s) have flattened cells that disagree with their "
                f"signed canonical JSON: {'; '.join(lines[:5])}"
                + (f"; and {len(lines) - 5} more" if len(lines) > 5 else "")
                + note,
                bad_rows,
            )
        )
        report.step(
            "CSV cells against canonical JSON",
            "failed",
            f"{len(set(bad_rows))} row(s) disagree "
            f"(indexes {format_ranges(compress_ranges(bad_rows), 5)})",
        )
    else:
        report.step(
            "CSV cells against canonical JSON",
            "passed",
            "every flattened cell equals the value derived from its row's canonical JSON",
        )
    emails = [
        (p, got, want)
        for p, (got, want) in sorted(cells.bad_email.items())
        if index_of(p) is not None
    ]
    if emails:
        report.add(
            Finding.at(
                Code.FILE_MODIFIED,
                f"{len(emails)} user_email cell(s) disagree with the sidecar's directory "
                f"(row {emails[0][0] + 2}: {emails[0][1]!r} != {emails[0][2]!r}); emails are "
                "not part of the signed log",
                (i for p, _, _ in emails if (i := index_of(p)) is not None),
            )
        )
    elif cells.has_email:
        # Say it in the report: a "verified" CSV must not read as vouching for its emails.
        report.step(
            "user_email cells",
            "passed",
            "equal to the sidecar's directory (user id -> email); emails are NOT in the signed "
            "log, so they are only as true as the exporter's directory (the user_id column is)",
        )


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
    cells: _CsvCells | None = None
    if df.format == "ndjson":
        events, digest, size = _read_ndjson(data_path, evidence)
        report.step("file format", "passed", "NDJSON, one event per line")
        label: Callable[[int], str] = lambda p: f"line {p + 1}"  # noqa: E731
    else:
        got = _read_csv(data_path, evidence, report)
        if got is None:
            return freport
        events, digest, size, cells = got
        label = lambda p: f"row {p + 2}"  # noqa: E731
    _check_data_hash(report, evidence, data_path.name, digest, size)
    events.verify(evidence, vkeys, origin, label, report)
    if cells is not None:
        _report_cells(report, evidence, events, cells, evidence.auditlens_version)
    return freport


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
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    freport = _verify_path(p, vkeys, origin)
    freport.pinned_origin = origin
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
    if _is_html(p, head):
        return _verify_html(p, vkeys, origin)
    kind = _sidecar_kind(p, head)
    if kind is not None:
        return _no_evidence(
            p,
            kind,
            f"the evidence sidecar {side.name} is missing: a {kind.upper()} export keeps its "
            f"evidence in that file, next to {p.name}; without it nothing can be verified",
        )
    return _verify_json(p, vkeys, origin)


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


# ----------------------------------------------------------------------------------------------
# Task reports (HTML): the same evidence, plus "is the visible report what the data renders to"


def _is_html(path: Path, head: bytes) -> bool:
    from auditlens.export.report_html import looks_like_report

    return path.suffix.lower() in (".html", ".htm") or looks_like_report(head[:64])


def _verify_html(path: Path, vkeys: Sequence[str] | None, origin: str | None) -> FileReport:
    """Verify a task report: its embedded events + evidence, then its visible part.

    The events and evidence go through the same :func:`verify_evidence` as a JSON export. The
    visible report is then re-rendered from that data (:mod:`auditlens.export.report_html`) and
    must equal the file byte for byte, so an edited timeline, reason or summary is FILE_MODIFIED
    even when the data blocks were left alone. Every event must belong to the report's task.
    """
    from auditlens.export import report_html

    report = Report()
    freport = FileReport(report, "html report", path)
    data = path.read_bytes()
    try:
        parts = report_html.extract_report(data)
    except FormatError as exc:
        report.add(Finding.at(Code.FILE_MODIFIED, f"{path.name}: {exc}"))
        report.step("file format", "failed", str(exc))
        return freport
    report.step("file format", "passed", "auditlens task report (HTML with embedded evidence)")
    events = _Events(check=filter_check_for(parts.evidence))
    raws: list[bytes] = []
    task_id = str(parts.meta["task_id"])
    foreign: list[int] = []
    for position, item in enumerate(parts.events):
        body = events.add_item(item)
        raws.append(body or b"")
        if body is None:
            continue
        if not isinstance(item, dict) or item.get("task_id") != task_id:
            foreign.append(position)
    evidence = parse_evidence(parts.evidence, report)
    if evidence is None:
        return freport
    events.verify(evidence, vkeys, origin, lambda p: f"step #{p + 1}", report)
    if foreign:
        report.add(
            Finding.at(
                Code.EVENT_INSERTED,
                f"{len(foreign)} event(s) of the report are not events of task {task_id}: "
                + ", ".join(f"step #{p + 1}" for p in foreign[:5]),
            )
        )
    if dict(evidence.filter) != {"task_id": task_id}:
        report.add(
            Finding.at(
                Code.FILE_MODIFIED,
                f"the evidence's filter {dict(evidence.filter)} is not the report's task_id="
                f"{task_id}",
            )
        )
    # The version in the report block is not signed: anyone can claim another one. So the
    # visible part is re-rendered and compared whatever it claims; a report really made by
    # another version that lays reports out differently fails loudly, naming that version,
    # rather than an edited one passing silently because its version string was changed too.
    version = str(parts.meta["auditlens_version"])
    users = parts.meta.get("users") or {}
    assert isinstance(users, dict)
    again = report_html.render_report(
        report_html.ReportInput(
            task_id=task_id,
            generated_at=str(parts.meta["generated_at"]),
            auditlens_version=version,
            users={str(k): str(v) for k, v in users.items()},
            events=raws,
            evidence=evidence,
        )
    )
    if again == data:
        report.step(
            "visible report",
            "passed",
            "the summary, timeline and people shown are exactly what the verified data renders "
            "to; people's emails come from the report's directory block, which is not signed",
        )
    else:
        at = next(
            (i for i, (a, b) in enumerate(zip(again, data, strict=False)) if a != b),
            min(len(again), len(data)),
        )
        line = data[:at].count(b"\n") + 1
        other = (
            ""
            if version == __version__
            else f" (it says it was made by auditlens {version}, this is {__version__}: if that "
            "version lays reports out differently, check the report with it; until then trust "
            "only the embedded events, not the text shown)"
        )
        report.add(
            Finding.at(
                Code.FILE_MODIFIED,
                f"{path.name} was edited: its visible content differs from what its embedded, "
                f"signed data renders to (first difference on line {line}){other}",
            )
        )
        report.step("visible report", "failed", f"differs from the verified data (line {line})")
    return freport


# ----------------------------------------------------------------------------------------------
# The report a person reads


_MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}


def _who(freport: FileReport) -> list[str]:
    """The first lines: which log and which key the verdict is about, before anything else.

    A genuine export of *another* organization verifies against that organization's key, so a
    reader must see whose log this is, and whether the origin and key were pinned by them or
    merely taken from the file.
    """
    r = freport.report
    ev, cp = r.evidence, r.checkpoint
    origin = cp.origin if cp else (ev.origin if ev else None)
    if origin is None:
        return []
    if freport.pinned_origin is not None:
        pinned = "pinned: the origin you required"
    else:
        pinned = "NOT pinned: the origin the file names; pass --origin to require yours"
    key = r.key_name or "?"
    trust = "trusted: the key you gave" if r.key_trusted else "NOT trusted: the file's own hint"
    return [f"  LOG: {origin}   ({pinned})", f"  KEY: {key}   ({trust})"]


def _completeness_line(r: Report) -> str:
    if r.completeness is None:
        return (
            "COMPLETENESS NOT ATTESTED: the log has not vouched for this export's filter and "
            "count (made offline, with --no-record, or a version 1 file). It proves each "
            "event is in the log, not that none matching the filter was left out."
        )
    if r.completeness.status == "complete":
        att = r.completeness.attestation
        count = f"{att.count:,} " if att else ""
        if r.status == "failed":
            return (
                f"Completeness: the log's record attests the evidence's {count}event(s) as the "
                "complete answer, but the file failed the checks above."
            )
        return (
            f"COMPLETE: the log's own record attests that exactly these {count}event(s) match "
            "the filter at this tree size."
        )
    return "COMPLETENESS FAILED: the export is not the answer the log recorded (see findings)."


def render(freport: FileReport) -> str:
    """Return the human report: whose log, what was checked, each failure with its code."""
    r = freport.report
    ev = r.evidence
    cp = r.checkpoint
    lines = [f"auditlens verify: {freport.data_path}", *_who(freport)]
    if freport.evidence_path is not None:
        lines.append(f"  evidence: {freport.evidence_path}")
    if ev is not None:
        root = f", root {cp.root.hex()[:16]}…" if cp else ""
        size = cp.size if cp else ev.tree_size
        lines.append(f"  checkpoint size {size:,}{root}")
        lines.append(
            f"  exported {ev.exported_at} by auditlens {ev.auditlens_version}; "
            f"filter {orjson.dumps(dict(ev.filter)).decode()}"
        )
        listed = format_ranges(list(ev.indexes), 8) or "none"
        lines.append(
            f"  events: {r.events:,} in the file, {ev.count:,} in the evidence (indexes {listed})"
        )
    lines.extend(f"  note: {n}" for n in freport.notes)
    lines.append("")
    lines.append("Checks:")
    lines.extend(f"  [{_MARK[s.status]}] {s.name}: {s.detail}" for s in r.steps)
    if r.findings:
        lines.append("")
        lines.append(f"Findings ({len(r.findings)}):")
        lines.extend(f"  {f}" for f in r.findings)
    lines.append("")
    if r.status == "verified":
        lines.append(
            f"VERIFIED: all {r.events:,} event(s) are exactly as signed in the log, in log order, "
            "none missing, none added."
        )
    elif r.status == "unverified":
        lines.append(
            "NOT VERIFIED: the file is consistent, but it was checked only against the key hint "
            "inside it, which anyone can forge. Run again with --vkey KEY (or --vkey-file) "
            "holding the log server's key obtained out of band."
        )
    else:
        codes = sorted({str(f.code) for f in r.failures})
        lines.append(f"FAILED: {len(r.failures)} problem(s) ({', '.join(codes)}).")
    if ev is not None:
        lines.append(_completeness_line(r))
    return "\n".join(lines) + "\n"


EXIT_VERIFIED = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNVERIFIED = 3


def exit_code(freport: FileReport) -> int:
    """0 verified; 1 any failure; 3 consistent but no trusted key was given."""
    status = freport.report.status
    if status == "verified":
        return EXIT_VERIFIED
    return EXIT_UNVERIFIED if status == "unverified" else EXIT_FAILED
