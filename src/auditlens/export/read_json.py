"""The JSON export reader: stream the layout auditlens writes, parse any other one whole.

JSON exports are streamed line by line in the layout :mod:`auditlens.export.layout` writes, so
memory stays flat; any other layout (re-indented by ``jq``, say) is still accepted but parsed
as a whole. The evidence is read first from the file's last line, so that each event is checked
against the stated filter as it streams by. The evidence member is read strictly: a second
``evidence`` (or a second ``filter`` inside it) is a member other readers may take instead.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from auditlens.core import canonical
from auditlens.core.errors import Code, Finding, FormatError
from auditlens.core.evidence_check import Report
from auditlens.export.layout import JSON_EVENTS_END, JSON_EVIDENCE_KEY, JSON_HEAD, JSON_TAIL
from auditlens.export.read_events import EventLeaves, Reading, filter_check_for, not_this_format


class _ReformattedError(Exception):
    """The JSON export is not in the streaming layout: fall back to a whole-document parse."""


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


def _read_json_stream(path: Path) -> tuple[EventLeaves, object]:
    events = EventLeaves(check=filter_check_for(_peek_evidence(path)))
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


def _read_json_document(path: Path, report: Report) -> tuple[EventLeaves, object] | None:
    try:
        doc = canonical.loads(path.read_bytes())
    except FormatError as exc:
        message = f"{path.name} is not a valid JSON document: {exc}"
        not_this_format(report, message, f"not valid JSON: {exc}")
        return None
    if not isinstance(doc, dict) or "events" not in doc or "evidence" not in doc:
        not_this_format(
            report,
            f"{path.name} is JSON but not an auditlens export (no events and evidence)",
            "not an auditlens JSON export",
        )
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
    events = EventLeaves(check=filter_check_for(doc["evidence"]))
    for item in items:
        events.add_item(item)
    report.step(
        "file format", "passed", "JSON document (not in the streaming layout; parsed whole)"
    )
    return events, doc["evidence"]


def read_json(path: Path, report: Report) -> Reading | None:
    """Read a JSON export: streamed in the layout auditlens writes, else parsed whole."""
    try:
        events, evidence_obj = _read_json_stream(path)
        report.step("file format", "passed", "JSON export in the auditlens streaming layout")
    except _ReformattedError:
        got = _read_json_document(path, report)
        if got is None:
            return None
        events, evidence_obj = got
    return Reading(events, lambda p: f"event #{p + 1} (line {p + 2})", evidence=evidence_obj)
