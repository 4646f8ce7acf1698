"""The NDJSON export reader: one canonical event per line, its evidence in the sidecar."""

from __future__ import annotations

import hashlib
from pathlib import Path

from auditlens.core.evidence import Evidence
from auditlens.core.evidence_check import Report
from auditlens.export.read_events import EventLeaves, Reading, filter_check_of


def read_ndjson(path: Path, evidence: Evidence, report: Report) -> Reading:
    """Read an NDJSON data file: one event per line; an empty line is an unreadable event."""
    events = EventLeaves(check=filter_check_of(evidence), known=evidence.leaf_hashes)
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
    report.step("file format", "passed", "NDJSON, one event per line")
    return Reading(events, lambda p: f"line {p + 1}", data_file=(sha.hexdigest(), size))
