"""Export the case: the investigator's events as a verified export, their notes beside it.

A case export is two files, and only the first one is evidence:

- ``<file>`` (JSON, or CSV/NDJSON with their evidence sidecar): an ordinary verified export of
  the case's events, written by :func:`auditlens.export.writer.export` like any other export,
  so ``auditlens verify`` and any independent verifier check it unchanged. Its filter is the
  explicit set of log indexes (``{"selected_rows": n, "indexes": "..."}``, the same statement as
  hand-picked rows). No filter describes a case, so the log cannot recount it: the server
  records the export as ``audit.exported`` (who exported which indexes) without attesting
  completeness, and the evidence says "completeness is not attested". What the case holds is
  stated by the notes file's list, which is the investigator's word.
- ``<file>.notes.json`` (:data:`NOTES_SUFFIX`): the notes, format :data:`NOTES_FORMAT`. Each
  note names its event by log index, event id and the event's leaf hash (as the evidence
  records it), says whether the event is starred, and holds the investigator's text. The file
  says, in its own words, that it is not part of the evidence.

``auditlens verify <file>`` checks the events as for any export, then reports the notes as
*unverified annotations* (:mod:`auditlens.export.annotations`): each note is shown with whether
it is attached to an exported event (its index is in the evidence with that leaf hash). A note
can be edited, added or removed without changing the evidence verdict, which never depends on
the notes file (it is never signed); a tampered event fails verification as always.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from auditlens.core.errors import compress_ranges, format_ranges
from auditlens.core.evidence import Evidence
from auditlens.core.timestamps import format_timestamp
from auditlens.export.annotations import NOTES_FORMAT, STATEMENT, leaves_by_index, notes_path
from auditlens.export.writer import Attester, ExportOptions, ExportResult, Progress, export
from auditlens.mirror.case_file import Annotation, CaseFile, CaseFileMismatchError
from auditlens.mirror.snapshot import MirrorSnapshot


def case_filter(indexes: Sequence[int]) -> dict[str, object]:
    """The filter a case export states: its explicit set of indexes (as selected rows)."""
    runs = format_ranges(compress_ranges(sorted(indexes)), 50)
    return {"selected_rows": len(indexes), "indexes": runs}


def _evidence_of(result: ExportResult) -> Evidence:
    """Read back the evidence just written (the writer's result does not carry it)."""
    if result.evidence_path is not None:
        obj = orjson.loads(result.evidence_path.read_bytes())
    else:
        with result.path.open("rb") as f:
            last = f.readlines()[-1]
        obj = orjson.loads(b"{" + last.rstrip(b"\n")[:-1] + b"}")["evidence"]
    return Evidence.from_obj(obj)


def write_notes(
    result: ExportResult, annotations: Sequence[Annotation], now: Callable[[], float] = time.time
) -> Path:
    """Write ``<export>.notes.json`` for the notes of the exported events; return its path.

    Each note carries the leaf hash the export's evidence records at its index, so a verifier
    can tell whether a note is attached to an exported event. Notes of events outside the
    export are left out (the export is what the notes annotate).
    """
    leaves = leaves_by_index(_evidence_of(result))
    notes = [
        {
            "index": a.idx,
            "event_id": a.event_id,
            "leaf_hash": base64.b64encode(leaves[a.idx]).decode("ascii"),
            "starred": a.starred,
            "note": a.note,
        }
        for a in annotations
        if a.idx in leaves
    ]
    doc = {
        "format": NOTES_FORMAT,
        "statement": STATEMENT,
        "written_at": format_timestamp(int(now() * 1000)),
        "export": {"file": result.path.name, "sha256": result.sha256, "origin": result.origin},
        "notes": notes,
    }
    target = notes_path(result.path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


@dataclass(frozen=True)
class CaseExportResult:
    """The verified export and the notes file written beside it."""

    export: ExportResult
    notes_path: Path
    notes: int

    def summary(self) -> str:
        return (
            f"{self.export.summary()}"
            f"Notes: {self.notes:,} annotation(s) in {self.notes_path}: the investigator's "
            "words, not part of the evidence.\n"
        )


def check_event_ids(snapshot: MirrorSnapshot, annotations: Sequence[Annotation]) -> None:
    """Refuse a case file written for another log: each noted index must hold its event id."""
    for a in annotations:
        for _, raws in snapshot.entries(a.idx, a.idx + 1):
            got = orjson.loads(raws[0]).get("id") if raws else None
            if got != a.event_id:
                raise CaseFileMismatchError(
                    f"log index {a.idx} is noted as event {a.event_id}, but the mirror holds "
                    f"{got} there; the case file belongs to another log"
                )


def export_case(
    mirror_path: Path | str,
    case: CaseFile,
    options: ExportOptions,
    *,
    attest: Attester | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> CaseExportResult:
    """Export every starred or annotated event of ``case`` with proofs, then its notes.

    ``options.filter`` is replaced by the case's explicit set of indexes. Raises ValueError when
    the case is empty, :class:`CaseFileMismatchError` when it belongs to another log, and what
    :func:`auditlens.export.writer.export` raises.
    """
    annotations = case.annotations()
    if not annotations:
        raise ValueError(f"{case.path} holds no starred or annotated event: nothing to export")
    indexes = [a.idx for a in annotations]
    with MirrorSnapshot(mirror_path, indexes) as snapshot:
        check_event_ids(snapshot, annotations)
        options = replace(options, filter=case_filter(indexes))
        result = export(snapshot, options, progress=progress, cancel=cancel, attest=attest)
    path = write_notes(result, annotations)
    return CaseExportResult(result, path, len(annotations))
