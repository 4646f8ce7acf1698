"""``auditlens report``: the manager's task report from the command line (headless).

The same report as the trail window's "Save report…", made the same way: the task's events are
re-verified from the local mirror against its latest trusted checkpoint through the export
writer (:func:`auditlens.export.report.prepare_report`), and nothing is written when they do
not verify. The mirror is chosen as for ``auditlens export`` (``--server`` or ``--mirror``, or
the only mirror there is). Nothing is recorded on the server: a report, like the viewer's, is a
local reading of the mirror.

The HTML report embeds every event and its evidence, so ``auditlens verify`` checks it like an
export. The PDF is a printout: it carries no evidence. Qt lays the PDF out, on an offscreen
platform, so the command needs no display; the HTML path does not load Qt at all.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

REPORT_EPILOG = """\
The HTML report is evidence: it embeds every event of the task (exact log bytes) and its
inclusion proofs, so anyone can check it offline:
  auditlens verify REPORT.html --vkey KEY
The PDF is a printout for reading: it carries no evidence and cannot be verified (a PDF can be
edited without a trace). Keep the HTML report of the same task as the verifiable copy.

exit codes:
  0  the report was written
  1  not written: the mirror does not verify (the code says why), or the task has no verified
     event in it (sync first, or check the id)
  2  usage error: bad options, no mirror, a file that cannot be written
"""


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command."""
    report = subparsers.add_parser(
        "report",
        help="write a task's verified report from the local mirror (HTML, verifiable; or PDF)",
        description=(
            "Re-verify one task's events in the local mirror against its latest trusted\n"
            "checkpoint and write the manager's report of that task: summary, timeline,\n"
            "approvals, people and agents, verification. Nothing is written when the events\n"
            "do not verify."
        ),
        epilog=REPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = report.add_mutually_exclusive_group()
    where.add_argument("--server", help="the server URL whose mirror to read")
    where.add_argument("--mirror", type=Path, help="the mirror file to read")
    report.add_argument("--task-id", required=True, help="the task to report on")
    report.add_argument(
        "--format",
        choices=("html", "pdf"),
        help="html (verifiable) or pdf (a printout, no evidence); default: pdf when --out "
        "ends in .pdf, else html",
    )
    report.add_argument("--out", required=True, type=Path, help="the file to write")
    report.set_defaults(handler=run_report)


def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    return "pdf" if Path(args.out).suffix.lower() == ".pdf" else "html"


def run_report(args: argparse.Namespace) -> int:
    """Write the report; return the exit code (see :data:`REPORT_EPILOG`)."""
    from auditlens.core.errors import FormatError
    from auditlens.export.commands import _mirror_for
    from auditlens.export.report import NothingToReportError, prepare_report, save_html
    from auditlens.export.writer import ExportCancelledError, ExportRefusedError

    out = Path(args.out)
    fmt = _format(args)
    try:
        if out.is_dir():
            raise ValueError(f"{out} is a directory; give a file name")
        if not out.parent.is_dir():
            raise ValueError(f"{out.parent} does not exist")
        path, _server = _mirror_for(args)
        if not Path(path).is_file():
            raise ValueError(f"no mirror at {path} (sync first, or pass --mirror PATH)")
        report = prepare_report(path, args.task_id, cancel=threading.Event())
        message = save_html(report, out).summary() if fmt == "html" else _write_pdf(report, out)
    except (ExportRefusedError, NothingToReportError) as exc:
        print(f"auditlens report: not written: {exc}", file=sys.stderr)
        return 1
    except (ExportCancelledError, KeyboardInterrupt):
        print("auditlens report: cancelled; nothing was written", file=sys.stderr)
        return 1
    except (ValueError, OSError, FormatError) as exc:
        print(f"auditlens report: {exc}", file=sys.stderr)
        return 2
    print(message)
    if fmt == "html":
        print(f"Check it offline with: auditlens verify {out} --vkey KEY")
    return 0


def _write_pdf(report: Any, out: Path) -> str:
    from auditlens.export.report_pdf import ensure_gui_application, write_pdf

    ensure_gui_application()
    size = write_pdf(report, out)
    return (
        f"Saved the PDF of {len(report.events):,} verified event(s) to {out} ({size:,} bytes, "
        f"checkpoint size {report.evidence.tree_size:,} of {report.evidence.origin}). A PDF "
        "carries no evidence: to prove the report, keep its HTML version (--format html) and "
        "check that with auditlens verify."
    )
