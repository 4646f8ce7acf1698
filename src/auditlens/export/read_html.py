"""The HTML task report reader: its embedded events and evidence, then its visible part.

A task report (``auditlens report --format html``) embeds its events and evidence; they are
verified like a JSON export's. The visible report is then re-rendered from that data and must
equal the file byte for byte, whatever auditlens version the report claims (that claim is not
signed), and every event must belong to the report's task.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from auditlens import __version__
from auditlens.core.errors import Code, Finding, FormatError
from auditlens.core.evidence import Evidence
from auditlens.core.evidence_check import Report
from auditlens.export.read_events import EventLeaves, Reading, filter_check_for, not_this_format

if TYPE_CHECKING:
    from auditlens.export.report_html import ExtractedReport


def is_html(path: Path, head: bytes) -> bool:
    """Whether ``path`` (whose first bytes are ``head``) is an HTML task report."""
    from auditlens.export.report_html import looks_like_report

    return path.suffix.lower() in (".html", ".htm") or looks_like_report(head[:64])


def read_html(path: Path, report: Report) -> Reading | None:
    """Verify a task report: its embedded events + evidence, then its visible part.

    The events and evidence go through the same :func:`verify_evidence` as a JSON export. The
    visible report is then re-rendered from that data (:mod:`auditlens.export.report_html`) and
    must equal the file byte for byte, so an edited timeline, reason or summary is FILE_MODIFIED
    even when the data blocks were left alone. Every event must belong to the report's task.
    """
    from auditlens.export import report_html

    data = path.read_bytes()
    try:
        parts = report_html.extract_report(data)
    except FormatError as exc:
        not_this_format(report, f"{path.name}: {exc}", str(exc))
        return None
    report.step("file format", "passed", "auditlens task report (HTML with embedded evidence)")
    events = EventLeaves(check=filter_check_for(parts.evidence))
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

    def finish(evidence: Evidence, report: Report) -> None:
        _check_task(report, evidence, task_id, foreign)
        _check_visible(report, evidence, parts, name=path.name, data=data, raws=raws)

    return Reading(events, lambda p: f"step #{p + 1}", evidence=parts.evidence, finish=finish)


def _check_task(report: Report, evidence: Evidence, task_id: str, foreign: list[int]) -> None:
    """Every event must be one of the report's task, and the evidence must say that task."""
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


def _check_visible(
    report: Report,
    evidence: Evidence,
    parts: ExtractedReport,
    *,
    name: str,
    data: bytes,
    raws: list[bytes],
) -> None:
    """The visible report must be exactly what the verified data renders to."""
    from auditlens.export import report_html

    task_id = str(parts.meta["task_id"])

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
                f"{name} was edited: its visible content differs from what its embedded, "
                f"signed data renders to (first difference on line {line}){other}",
            )
        )
        report.step("visible report", "failed", f"differs from the verified data (line {line})")
