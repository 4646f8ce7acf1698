"""The CSV export reader: RFC 4180 rows, each flattened cell re-derived from canonical_json.

Only the ``canonical_json`` column is evidence; every other cell is compared with what
:func:`auditlens.export.columns.derived_cells` derives from it (and ``user_email`` with the
sidecar's directory), so a spreadsheet user who edits a cell cannot make the file say something
the log does not. Columns auditlens does not write, a column named twice, and ``index`` cells
not written as the plain decimal index are refused: their cells would be unverified text in a
"verified" file.
"""

from __future__ import annotations

import csv
import hashlib
import io
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path

from auditlens import __version__
from auditlens.core.errors import Code, Finding, compress_ranges, format_ranges
from auditlens.core.evidence import DataFile, Evidence
from auditlens.core.evidence_check import Report
from auditlens.export.columns import CSV_COLUMNS, DERIVED, derived_cells, neutralize
from auditlens.export.read_events import EventLeaves, Reading, filter_check_of, not_this_format


class HashingReader(io.RawIOBase):
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


def _usable_header(
    report: Report, path: Path, header: list[str] | None, df: DataFile | None
) -> bool:
    """Whether ``header`` is an auditlens CSV header (findings say what differs)."""
    if header is None or "canonical_json" not in header:
        not_this_format(
            report,
            f"{path.name} has no canonical_json column: it is not an auditlens CSV export (or "
            "its header was edited)",
            "no canonical_json column",
        )
        return False
    if df is not None and tuple(header) != df.columns:
        report.add(
            Finding.at(
                Code.FILE_MODIFIED,
                f"the CSV header {header} differs from the exported columns {list(df.columns)}",
            )
        )
    _check_header(report, header)
    return True


def _check_rows(
    reader: Iterator[list[str]],
    header: list[str],
    events: EventLeaves,
    cells: _CsvCells,
    users: Mapping[str, str],
) -> None:
    """Each row's event into ``events``, and each flattened cell that disagrees with the
    event's canonical JSON into ``cells`` (reported once the evidence has matched the rows)."""
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
                (name, row[n], expected[at]) for n, name, at in checked if row[n] != expected[at]
            ]
        if em >= 0:
            user_id = obj.get("user_id")
            want = users.get(user_id, "") if isinstance(user_id, str) else ""
            if row[em] != neutralize(want):
                cells.bad_email[position] = (row[em], want)


def read_csv(path: Path, evidence: Evidence, report: Report) -> Reading | None:
    """Read a CSV data file; None when it is not a readable auditlens CSV (findings say why)."""
    events = EventLeaves(check=filter_check_of(evidence), known=evidence.leaf_hashes)
    cells = _CsvCells()
    df = evidence.data_file
    users: Mapping[str, str] = evidence.users or {}
    with path.open("rb") as raw:
        hashing = HashingReader(raw)
        text = io.TextIOWrapper(
            io.BufferedReader(hashing, 1 << 20), encoding="utf-8-sig", newline=""
        )
        reader = csv.reader(text, strict=True)
        try:
            header = next(reader, None)
            if not _usable_header(report, path, header, df):
                return None
            assert header is not None  # _usable_header said so
            _check_rows(reader, header, events, cells, users)
        except UnicodeDecodeError as exc:
            not_this_format(report, f"{path.name} is not valid UTF-8: {exc}", "not UTF-8")
            return None
        except csv.Error as exc:
            where = f"near line {reader.line_num}: {exc}"
            not_this_format(report, f"{path.name} is not well-formed CSV {where}", "malformed CSV")
            return None
    report.step("file format", "passed", f"CSV (RFC 4180), {len(header)} columns")

    def finish(evidence: Evidence, report: Report) -> None:
        _report_cells(report, evidence, events, cells, evidence.auditlens_version)

    return Reading(
        events,
        lambda p: f"row {p + 2}",
        data_file=(hashing.sha.hexdigest(), hashing.size),
        finish=finish,
    )


def _index_lookup(
    evidence: Evidence, events: EventLeaves, aligned: bool
) -> Callable[[int], int | None]:
    """The log index of the event at a file position (None: no authentic event there)."""
    indexes = evidence.index_array()
    leaves = evidence.leaf_hashes
    by_leaf: dict[bytes, int] = {}

    def index_of(position: int) -> int | None:
        if aligned:
            return indexes[position]
        if not by_leaf:  # built only when rows and evidence disagree somewhere
            for q in range(evidence.count):
                by_leaf[leaves[q * 32 : (q + 1) * 32]] = indexes[q]
        return by_leaf.get(bytes(events.leaves[position * 32 : (position + 1) * 32]))

    return index_of


def _wrong_index_claims(
    cells: _CsvCells, index_of: Callable[[int], int | None]
) -> tuple[list[int], list[str]]:
    """Rows whose ``index`` cell names another log index than their event's."""
    rows: list[int] = []
    lines: list[str] = []
    for position, claimed in enumerate(cells.claimed_index):
        if claimed == -1:
            continue
        idx = index_of(position)
        if idx is not None and claimed != idx:
            rows.append(idx)
            said = cells.bad_index_text.get(position, str(claimed))
            lines.append(f"row {position + 2}: index column says {said!r}, the event is {idx}")
    return rows, lines


def _report_cells(
    report: Report, evidence: Evidence, events: EventLeaves, cells: _CsvCells, made_by: str
) -> None:
    """Turn cell disagreements into findings at the log index of the row's (authentic) event."""
    indexes = evidence.index_array()
    aligned = bytes(events.leaves) == evidence.leaf_hashes  # normal: row p is exported event p
    index_of = _index_lookup(evidence, events, aligned)
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
    if not claims_agree:
        claimed_rows, claimed_lines = _wrong_index_claims(cells, index_of)
        bad_rows += claimed_rows
        lines += claimed_lines
        summary_only &= not claimed_rows
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
