"""The task report through Qt's printing support: a PDF, and a PNG preview for looking at it.

Both render the print variant of the HTML report (:func:`auditlens.export.report_html.
render_report` with ``for_print=True``: the same summary, timeline, people and verification
section, without the embedded data blocks, which a PDF cannot carry verifiably) with a
``QTextDocument``. ``QPdfWriter`` needs no printer or display, so it works offscreen. Both are
reentrant (no widget involved), so :func:`write_pdf` runs on a worker thread: laying out a
printout costs ~1.5 ms per step, far too long for the UI thread on a task of thousands of steps.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from PySide6.QtCore import QMarginsF, QSizeF
from PySide6.QtGui import (
    QColor,
    QImage,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QTextDocument,
)

from auditlens.export.report_html import ReportInput, render_report

__all__ = ["report_document", "write_pdf", "write_png"]


def report_document(report: ReportInput) -> QTextDocument:
    """The print variant of the report as a laid-out ``QTextDocument``."""
    doc = QTextDocument()
    doc.setDocumentMargin(0)
    doc.setHtml(render_report(report, for_print=True).decode("utf-8"))
    return doc


def write_pdf(report: ReportInput, path: Path | str) -> int:
    """Write the report as an A4 PDF at ``path`` (atomically); return its size in bytes."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        writer = QPdfWriter(tmp_name)
        writer.setTitle(f"Task trail {report.task_id}")
        writer.setCreator("auditlens")
        writer.setResolution(96)
        writer.setPageLayout(
            QPageLayout(
                QPageSize(QPageSize.PageSizeId.A4),
                QPageLayout.Orientation.Portrait,
                QMarginsF(12, 12, 12, 12),
                QPageLayout.Unit.Millimeter,
            )
        )
        doc = report_document(report)
        doc.print_(writer)
        del writer  # finishes the file
        size = Path(tmp_name).stat().st_size
        if size == 0:
            raise OSError(f"Qt wrote an empty PDF for {path}")
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return size


def write_png(
    report: ReportInput, path: Path | str, width: int = 1100, max_height: int = 6000
) -> None:
    """Render the report's first ``max_height`` pixels to a PNG (to look at it)."""
    doc = report_document(report)
    doc.setTextWidth(width)
    size: QSizeF = doc.size()
    height = min(int(size.height()) + 1, max_height)
    image = QImage(width, height, QImage.Format.Format_RGB32)
    image.fill(QColor("#ffffff"))
    painter = QPainter(image)
    doc.drawContents(painter)
    painter.end()
    image.save(str(path))
