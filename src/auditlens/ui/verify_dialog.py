"""File -> Verify export...: the same offline check and report as ``auditlens verify``.

The person picks an export (JSON, NDJSON or CSV, or a sidecar) and a verifier key; the dialog
runs :func:`auditlens.export.verify.verify_file` in the background and shows the command line's
report word for word (monospace) under a header that cannot be misread: green when every event
verified, red with the codes when anything failed, amber when the file was only checked against
the key hint inside it.

Decisions:

- The key field is prefilled with the key pinned for the current server and says so; the
  person may replace it with a key obtained another way (an export may come from elsewhere).
  An empty field checks the file against its own hint only, which is reported as NOT VERIFIED,
  exactly as the command line's exit code 3.
- A file that cannot be read (missing, malformed key) is shown as such, not as a failure code.
- No file parsing or hashing here: the verifier lives in :mod:`auditlens.export.verify`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from auditlens.core.errors import FormatError
from auditlens.export.commands import render
from auditlens.export.verify import FileReport, verify_file
from auditlens.ui import theme
from auditlens.ui.resources import icon
from auditlens.ui.tasks import TaskRunner

STYLE = """
#VerifyHeader {
    border-radius: 4px; padding: 10px 12px; font-size: 12pt; font-weight: 700;
    background: #eef2f6; color: #33414f; border: 1px solid #cfd8e2;
}
#VerifyHeader[state="pass"] { background: #1e7a46; color: #ffffff; border-color: #165c35; }
#VerifyHeader[state="fail"] { background: #c62828; color: #ffffff; border-color: #8e1b1b; }
#VerifyHeader[state="unverified"] { background: #9a5b00; color: #ffffff; border-color: #6e4100; }
#VerifyNote { color: #51606f; }
#VerifyReport { background: #fbfcfd; }
"""


def _pinned_note(vkey: str | None, origin: str | None) -> str:
    if vkey:
        where = f" of {origin}" if origin else ""
        return (
            f"Prefilled with the key pinned for the current server{where}. Replace it with a "
            "key you obtained another way to check an export from elsewhere."
        )
    return (
        "No pinned key: paste the server's key. Without one the file is only checked against "
        "the key hint inside it, which anyone can forge (NOT VERIFIED)."
    )


class VerifyDialog(QDialog):
    """Pick a file and a key, verify offline in the background, read the report."""

    verified = Signal(object)  # FileReport, or the exception that stopped the check

    def __init__(
        self,
        runner: TaskRunner,
        pinned_vkey: str | None = None,
        pinned_origin: str | None = None,
        start_dir: Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.start_dir = start_dir or Path.home()
        self.report: FileReport | None = None
        self.busy = False
        self.setWindowTitle("Verify an export")
        self.setWindowIcon(icon("verified"))
        self.setMinimumSize(860, 600)
        self.setStyleSheet(theme.themed_stylesheet(STYLE, theme.current()))

        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 18)
        layout.setSpacing(10)
        intro = QLabel(
            "Checks an auditlens export offline, as <code>auditlens verify</code> does: the "
            "checkpoint signature against the key below, every event against its inclusion "
            "proof, the file's SHA-256, the CSV cells, order and duplicates."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        file_row = QHBoxLayout()
        self.file_edit = QLineEdit()
        self.file_edit.setAccessibleName("Export file to verify")
        self.file_edit.setPlaceholderText("An export: .json, .ndjson or .csv (or its sidecar)")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self._browse)
        file_row.addWidget(self.file_edit, 1)
        file_row.addWidget(self.browse_button)
        form.addRow("Export file", file_row)
        self.vkey_edit = QLineEdit(pinned_vkey or "")
        self.vkey_edit.setAccessibleName("Trusted verifier key")
        self.vkey_edit.setPlaceholderText("The log server's verifier key (name+hash+base64)")
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.vkey_edit.setFont(mono)
        key_column = QVBoxLayout()
        key_column.setSpacing(4)
        key_column.addWidget(self.vkey_edit)
        form.addRow("Verifier key", key_column)
        self._prefilled = pinned_vkey or ""
        self.vkey_note = QLabel(_pinned_note(pinned_vkey, pinned_origin))
        self.vkey_note.setObjectName("VerifyNote")
        self.vkey_note.setWordWrap(True)
        key_column.addWidget(self.vkey_note)
        layout.addLayout(form)

        self.header = QLabel("Choose an export file, then Verify.")
        self.header.setObjectName("VerifyHeader")
        self.header.setWordWrap(True)
        self.header.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout.addWidget(self.header)

        self.report_view = QPlainTextEdit()
        self.report_view.setAccessibleName("Verification report")
        self.report_view.setObjectName("VerifyReport")
        self.report_view.setReadOnly(True)
        self.report_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        report_font = QFont(["DejaVu Sans Mono", "Menlo", "Consolas", mono.family()])
        report_font.setStyleHint(QFont.StyleHint.TypeWriter)
        report_font.setPointSizeF(9.0)
        self.report_view.setFont(report_font)
        layout.addWidget(self.report_view, 1)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.verify_button = QPushButton("Verify")
        self.verify_button.setProperty("primary", True)
        self.verify_button.setDefault(True)
        self.verify_button.clicked.connect(self.start)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons.addWidget(self.verify_button)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)
        self.file_edit.textChanged.connect(self._update_button)
        self._update_button()

    def set_pinned(self, vkey: str | None, origin: str | None) -> None:
        """A new session's pinned key replaces the prefilled one (not a key the person typed)."""
        if vkey and self.vkey_edit.text().strip() in ("", self._prefilled):
            self.vkey_edit.setText(vkey)
            self._prefilled = vkey
            self.vkey_note.setText(_pinned_note(vkey, origin))

    def set_file(self, path: Path | str) -> None:
        self.file_edit.setText(str(path))

    def _browse(self) -> None:
        chosen, _ = QFileDialog.getOpenFileName(
            self,
            "Verify an export",
            str(self.start_dir),
            "auditlens exports (*.json *.ndjson *.csv *.html);;All files (*)",
        )
        if chosen:
            self.set_file(chosen)

    def _update_button(self, *_: object) -> None:
        self.verify_button.setEnabled(bool(self.file_edit.text().strip()) and not self.busy)

    def _set_header(self, state: str, text: str) -> None:
        self.header.setProperty("state", state)
        self.header.style().unpolish(self.header)
        self.header.style().polish(self.header)
        self.header.setText(text)

    @property
    def state(self) -> str:
        """``pass``, ``fail``, ``unverified``, ``error`` or ``""`` (nothing checked yet)."""
        return str(self.header.property("state") or "")

    def start(self) -> None:
        """Verify the chosen file in the background."""
        text = self.file_edit.text().strip()
        if not text or self.busy:
            return
        path = Path(text).expanduser()
        vkey = self.vkey_edit.text().strip()
        self.busy = True
        self._update_button()
        self.report = None
        self.report_view.clear()
        self._set_header("", f"Verifying {path.name}…")
        self.runner.submit(
            lambda: verify_file(path, [vkey] if vkey else None), self._done, self._failed
        )

    def _done(self, report: FileReport) -> None:
        self.busy = False
        self._update_button()
        self.report = report
        r = report.report
        if r.status == "verified":
            self._set_header(
                "pass",
                f"✔ VERIFIED — all {r.events:,} event(s) are exactly as signed in the log",
            )
        elif r.status == "unverified":
            self._set_header(
                "unverified",
                "NOT VERIFIED — consistent, but checked only against the key inside the file",
            )
        else:
            codes = sorted({str(f.code) for f in r.failures})
            self._set_header("fail", f"✘ FAILED — {', '.join(codes)}")
        self.report_view.setPlainText(render(report))
        self.verified.emit(report)

    def _failed(self, exc: BaseException) -> None:
        self.busy = False
        self._update_button()
        if isinstance(exc, OSError | FormatError):
            self._set_header("fail", "✘ Could not check the file")
            self.report_view.setPlainText(str(exc))
        else:
            self._set_header("fail", "✘ The check failed unexpectedly")
            self.report_view.setPlainText(f"{type(exc).__name__}: {exc}")
        self.verified.emit(exc)
