"""A case export's notes, read back for ``auditlens verify``: reported, never verified.

The notes of a case export (:mod:`auditlens.export.case_export`) sit beside the export as
``<file>.notes.json`` (:data:`NOTES_SUFFIX`). They are the investigator's words: the verifier
shows them in a separate section after the evidence verdict, says whether each is attached to
an exported event (its index is in the evidence with the note's leaf hash), and never turns
anything in them into a finding, so an edited note cannot change the verdict.

Like :mod:`auditlens.export.verify`, this module reads files and nothing else (no Qt, no mirror).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from auditlens.core.errors import FormatError
from auditlens.core.evidence import Evidence
from auditlens.export.layout import SIDECAR_SUFFIX

NOTES_FORMAT = "auditlens-case-notes/1"
NOTES_SUFFIX = ".notes.json"
STATEMENT = (
    "These notes are the investigator's words, not part of the evidence. Nothing in this file "
    "is signed by the log or checked by auditlens verify; the events they refer to are in the "
    "export beside it, which is verified on its own."
)
#: Characters of a note shown per line in the human report (the --json output has it whole).
SHOWN = 200


def notes_path(data_path: Path | str) -> Path:
    """Where the notes of the export ``data_path`` live: ``<file>.notes.json``."""
    p = Path(data_path)
    return p.with_name(p.name + NOTES_SUFFIX)


def data_path_of(path: Path) -> Path:
    """The export a path names: a notes file names the export beside it; others themselves."""
    if path.name.endswith(NOTES_SUFFIX) and path.name != NOTES_SUFFIX:
        return path.with_name(path.name[: -len(NOTES_SUFFIX)])
    return path


def leaves_by_index(evidence: Evidence) -> dict[int, bytes]:
    """The evidence's recorded leaf hash of each exported index."""
    hashes = evidence.leaf_hashes
    return {idx: hashes[i * 32 : i * 32 + 32] for i, idx in enumerate(evidence.index_array())}


@dataclass(frozen=True)
class NoteReport:
    """One note as the verifier shows it: what it says and whether it is attached."""

    index: int | None
    event_id: str
    starred: bool
    text: str
    attached: bool
    """Its index is exported and the evidence records the note's leaf hash there."""

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "event_id": self.event_id,
            "starred": self.starred,
            "note": self.text,
            "attached": self.attached,
        }


@dataclass
class Annotations:
    """The notes beside an export: never evidence, always reported as unverified."""

    path: Path
    notes: list[NoteReport] = field(default_factory=list)
    problem: str | None = None
    """Why the notes file could not be read (the evidence verdict is unaffected)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "file": str(self.path),
            "status": "unverified annotations",
            "statement": STATEMENT,
            "problem": self.problem,
            "notes": [n.to_dict() for n in self.notes],
        }

    def lines(self) -> list[str]:
        """The human report's separate section, after the evidence verdict."""
        out = [
            "",
            f"UNVERIFIED ANNOTATIONS (the investigator's words, NOT part of the evidence): "
            f"{self.path}",
        ]
        if self.problem is not None:
            out.append(f"  could not be read: {self.problem}")
            return out
        out.append(
            "  Not signed and not checked: anyone holding the file can edit them. They do not "
            "change the verdict above."
        )
        if not self.notes:
            out.append("  (no notes)")
        for n in self.notes:
            where = f"index {n.index:,}" if n.index is not None else "no index"
            attached = "" if n.attached else "  [refers to no event of this export]"
            star = "★ " if n.starred else ""
            text = " ".join(n.text.split())
            text = text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"
            out.append(f"  {star}{where} ({n.event_id}){attached}: {text or '(starred, no note)'}")
        return out


def _note(item: object, leaves: dict[int, bytes]) -> NoteReport:
    if not isinstance(item, dict):
        raise FormatError(f"a note must be a JSON object, got {type(item).__name__}")
    index = item.get("index")
    index = index if isinstance(index, int) and not isinstance(index, bool) else None
    text, event_id = item.get("note"), item.get("event_id")
    try:
        leaf = base64.b64decode(str(item.get("leaf_hash", "")), validate=True)
    except ValueError:
        leaf = b""
    return NoteReport(
        index=index,
        event_id=str(event_id) if event_id is not None else "?",
        starred=item.get("starred") is True,
        text=text if isinstance(text, str) else "",
        attached=index is not None and leaves.get(index) == leaf and len(leaf) == 32,
    )


def annotations_for(data_path: Path, evidence: Evidence | None) -> Annotations | None:
    """The notes file beside the export ``data_path`` read for the verifier (None: no file).

    Whatever the notes file holds, this only describes it: a broken or edited notes file gives
    a ``problem`` or different notes, never a finding about the evidence.
    """
    path = notes_path(data_path)
    if data_path.name.endswith(SIDECAR_SUFFIX):  # the sidecar was named: notes sit by the data
        path = notes_path(data_path.with_name(data_path.name[: -len(SIDECAR_SUFFIX)]))
    if not path.is_file():
        return None
    found = Annotations(path)
    leaves = leaves_by_index(evidence) if evidence is not None else {}
    try:
        doc = orjson.loads(path.read_bytes())
        if not isinstance(doc, dict) or doc.get("format") != NOTES_FORMAT:
            raise FormatError(f"not an {NOTES_FORMAT} file")
        items = doc.get("notes")
        if not isinstance(items, list):
            raise FormatError("its notes member is not a list")
        found.notes = [_note(item, leaves) for item in items]
    except (OSError, orjson.JSONDecodeError, FormatError) as exc:
        found.problem = str(exc)
    return found
