"""The byte layout of export files, shared by the writers and the offline verifier.

A JSON export is ONE JSON document (``jq`` and SIEM importers read it as-is), but written one
event per line so the verifier can stream it instead of loading a million objects::

    {"events":[
    <canonical bytes of event 1>,
    <canonical bytes of event 2>
    ],
    "evidence":{...one line...}}

Each event line is the exact log entry (RFC 8785), so its leaf hash is the hash of the line.
A file in any other layout (re-indented by a tool, say) is still a valid export: the verifier
then parses the whole document and re-canonicalizes each event, which costs memory, not trust.

An NDJSON export is one canonical event per line (``\\n`` after each, including the last); its
evidence is the sidecar ``<file>.evidence.json`` (one JSON object). A CSV export is RFC 4180
(CRLF line ends, optional UTF-8 BOM) with the same kind of sidecar.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final, Literal

ExportFormat = Literal["json", "ndjson", "csv"]
FORMATS: Final[tuple[ExportFormat, ...]] = ("json", "ndjson", "csv")

JSON_HEAD: Final = b'{"events":[\n'
JSON_EVENT_SEP: Final = b",\n"
JSON_EVENTS_END: Final = b"],\n"
JSON_EVIDENCE_KEY: Final = b'"evidence":'
JSON_TAIL: Final = b"}\n"

SIDECAR_SUFFIX: Final = ".evidence.json"
BOM: Final = b"\xef\xbb\xbf"


def sidecar_path(data_path: Path) -> Path:
    """Return where the evidence of a CSV or NDJSON export lives: ``<file>.evidence.json``."""
    return data_path.with_name(data_path.name + SIDECAR_SUFFIX)
