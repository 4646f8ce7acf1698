"""Write the task report: re-verify the task's events, then render and save the HTML.

A report is written only from events that were just re-verified against the mirror's latest
trusted checkpoint, and it reuses the export writer for that (no second verification path):
:func:`prepare_report` runs an NDJSON export of ``task_id=<id>`` (:func:`auditlens.export.
writer.export` re-hashes the tiles holding the task's events, checks the root against the
checkpoint and builds the evidence) into a temporary directory, then reads the events and the
evidence back from that export. If the
export is refused (:class:`~auditlens.export.writer.ExportRefusedError`) no report is written.

:func:`save_html` writes atomically (temporary file in the destination directory, fsync,
rename), as the exports do. The PDF is a Qt job (:mod:`auditlens.export.report_pdf`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from auditlens import __version__
from auditlens.core import canonical
from auditlens.core.evidence import Evidence
from auditlens.export.layout import sidecar_path
from auditlens.export.report_html import ReportInput, render_report
from auditlens.export.writer import ExportOptions, Progress, export
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.snapshot import MirrorSnapshot

__all__ = ["NothingToReportError", "ReportWritten", "prepare_report", "save_html"]


class NothingToReportError(ValueError):
    """The task has no event in the verified part of the mirror."""


@dataclass(frozen=True)
class ReportWritten:
    """What was saved (for the status bar)."""

    path: Path
    events: int
    tree_size: int
    origin: str
    bytes: int

    def summary(self) -> str:
        return (
            f"Saved the report of {self.events:,} verified event(s) to {self.path} "
            f"(checkpoint size {self.tree_size:,} of {self.origin})."
        )


def prepare_report(
    mirror_path: Path | str,
    task_id: str,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    now: Callable[[], float] = time.time,
) -> ReportInput:
    """Re-verify the events of ``task_id`` in the mirror and return what the report shows.

    Raises ExportRefusedError (the mirror does not verify; nothing to report),
    NothingToReportError when the task has no event in the verified part of the mirror.
    """
    task_id = task_id.strip()
    if not task_id:
        raise ValueError("a task id is required")
    with tempfile.TemporaryDirectory(prefix="auditlens-report-") as tmp:
        # NDJSON: each line is an event's exact log bytes, so nothing needs parsing back but the
        # fields that name people (a whole parsed document would be ~4 objects per event kept
        # alive at once, and a worker allocating that much triggers full garbage collections,
        # which freeze the UI thread).
        out = Path(tmp) / "task.ndjson"
        with MirrorSnapshot(mirror_path, EventFilter(task_id=task_id)) as snapshot:
            result = export(
                snapshot,
                ExportOptions(format="ndjson", path=out, filter={"task_id": task_id}),
                progress,
                cancel,
                now,
            )
            directory = snapshot.users()
        sidecar = Evidence.from_obj(canonical.loads(sidecar_path(out).read_bytes()))
        # The report embeds the events itself: the temporary file's digest means nothing there.
        evidence = dataclasses.replace(sidecar, data_file=None)
        with out.open("rb") as f:
            events = [line.rstrip(b"\n") for line in f]
    if result.count == 0:
        raise NothingToReportError(
            f"task {task_id} has no event in the verified part of the mirror (sync, or check "
            "the id)"
        )
    people: set[str] = set()
    for raw in events:
        e = orjson.loads(raw)
        body = e.get("event")
        body = body if isinstance(body, dict) else {}
        for uid in (e.get("user_id"), body.get("approver_id"), body.get("cancelled_by")):
            if isinstance(uid, str):
                people.add(uid)
    users = {uid: directory[uid] for uid in sorted(people) if uid in directory}
    return ReportInput(
        task_id=task_id,
        generated_at=evidence.exported_at,
        auditlens_version=__version__,
        users=users,
        events=events,
        evidence=evidence,
    )


def save_html(report: ReportInput, path: Path | str) -> ReportWritten:
    """Write the report's HTML to ``path`` atomically; return what was written."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give a file name")
    data = render_report(report)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return ReportWritten(
        path=path,
        events=len(report.events),
        tree_size=report.evidence.tree_size,
        origin=report.evidence.origin,
        bytes=len(data),
    )
