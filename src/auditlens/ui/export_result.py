"""The export dialog's outcome: the result panel, and whether the server recorded the export.

One framed panel under the form, green when the export was written, amber when it was
cancelled (or cannot be made from this copy), red when the copy did not verify; the digest and
the completeness line appear only for a written export. The texts are built here from the
writer's :class:`~auditlens.export.writer.ExportResult`, so the dialog only decides when.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from auditlens.core.completeness import Completeness
from auditlens.export.record import RecordedNotAttestedError
from auditlens.export.writer import Attester, AttestRequest, ExportResult

MONO = '"DejaVu Sans Mono", "Menlo", "Consolas", monospace'
STYLE = f"""
#ExportSummary {{ font-size: 11pt; font-weight: 600; }}
#ExportNote {{ color: #51606f; }}
#ExportResult {{
    background: #eef7f1; border: 1px solid #b9dcc6; border-radius: 4px; padding: 10px;
    color: #1e5a37;
}}
#ExportResult[state="cancelled"] {{
    background: #fff4e5; border-color: #f0c987; color: #7a4b00;
}}
#ExportResult[state="refused"] {{
    background: #fdecea; border: 2px solid #c62828; color: #8e1b1b;
}}
#ExportResult QLabel {{ color: #1d2733; }}
#ExportDigest {{ font-family: {MONO}; font-size: 9pt; }}
#ExportRecord {{ font-weight: 600; }}
#ExportAttestNote {{ color: #1e5a37; }}
#ExportAttestNote[attested="false"] {{ color: #7a4b00; }}
#FilterChip[unattested="true"] {{ background: #fff4e5; border-color: #f0c987; }}
#FilterChip[unattested="true"] QLabel {{ color: #7a4b00; }}
#ExportRecord[attested="false"] {{ color: #7a4b00; }}
"""

OFFLINE = "not signed in to a server (an offline copy), so the export was not recorded."
NOT_ATTESTED = "Completeness is not attested: "


def human_size(n: int) -> str:
    """``1,234,567`` -> ``1.2 MB`` (decimal units, as file managers show them)."""
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{n:,} bytes"  # pragma: no cover


def done_text(result: ExportResult) -> tuple[str, str]:
    """The title and body of a written export's panel."""
    noun = "event" if result.count == 1 else "events"
    lines = [
        f"{result.count:,} verified {noun} of {result.origin} (checkpoint size "
        f"{result.tree_size:,}), in {result.seconds:.1f} s.",
        f"File: {result.path} ({human_size(result.bytes)})",
    ]
    if result.evidence_path is not None:
        lines.append(f"Evidence: {result.evidence_path}")
    return f"Exported {result.count:,} {noun}", "\n".join(lines)


def completeness_text(result: ExportResult, offline: bool) -> str:
    """The panel's last line: attested complete, or why not (``offline``: no server session)."""
    noun = "event" if result.count == 1 else "events"
    if result.record_index is not None:
        return (
            f"✔ Complete: the server attests {result.count:,} {noun} matching this filter "
            f"at tree size {result.tree_size:,} (recorded as an audit.exported event at "
            f"index {result.record_index:,})."
        )
    if offline:
        return f"⚠ {NOT_ATTESTED}{OFFLINE}"
    return f"⚠ {result.completeness_note}"


class RecordWatch:
    """Wraps an :data:`Attester` to remember whether, and where, the server recorded the export.

    The writer only says whether the export is attested; the window also wants to know that a
    record was appended (a selection is recorded without attestation) to sync it into the table.
    Called on the export thread; read on the GUI thread after the job has finished.
    """

    def __init__(self, attest: Attester) -> None:
        self._attest = attest
        self.index: int | None = None

    def __call__(self, request: AttestRequest) -> Completeness:
        try:
            completeness = self._attest(request)
        except RecordedNotAttestedError as exc:
            self.index = exc.index
            raise
        self.index = completeness.index
        return completeness


class ResultPanel(QFrame):
    """Title, text, digest and completeness line of the export's outcome."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ExportResult")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QVBoxLayout(self)
        layout.setSpacing(4)
        self.title = QLabel()
        self.title.setStyleSheet("font-weight: 700; font-size: 11pt;")
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.digest = QLabel()
        self.digest.setObjectName("ExportDigest")
        self.digest.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.record = QLabel()
        self.record.setObjectName("ExportRecord")
        self.record.setWordWrap(True)
        self.record.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for widget in (self.title, self.text, self.digest, self.record):
            layout.addWidget(widget)
        self.setVisible(False)

    def show_outcome(self, state: str, title: str, text: str) -> None:
        """Show ``title`` and ``text`` in the colours of ``state`` (done, cancelled, refused)."""
        _restyle(self, "state", state)
        self.title.setText(title)
        self.text.setText(text)
        self.digest.setVisible(False)
        self.record.setVisible(False)
        self.setVisible(True)

    def show_written(self, result: ExportResult, record_text: str) -> None:
        """A written export: its summary, its SHA-256, and the completeness line."""
        self.show_outcome("done", *done_text(result))
        self.digest.setText(f"SHA-256 {result.sha256}")
        self.digest.setVisible(True)
        _restyle(self.record, "attested", result.record_index is not None)
        self.record.setText(record_text)
        self.record.setVisible(True)


def _restyle(widget: QWidget, name: str, value: object) -> None:
    """Set a property the style sheet selects on, and apply the matching rules at once."""
    widget.setProperty(name, value)
    widget.style().unpolish(widget)
    widget.style().polish(widget)
