"""The Case view's "Export case…": the usual export dialog over the case's events, then notes.

The case's events go through exactly the path of File -> Export… (the same dialog, writer,
re-verification and server record), as an explicit set of log indexes: a hand-picked
selection, which the server records without attesting completeness (no filter describes a
case; the dialog says so before the click). When the export is written, the notes go beside it
as ``<file>.notes.json`` (:func:`auditlens.export.case_export.write_notes`), and the dialog's
result says where, in words that keep them apart from the evidence. Events of the case file
that this mirror does not hold (another log's case) are left out, and the status bar says so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import QLabel

from auditlens.export.case_export import write_notes
from auditlens.export.writer import ExportResult
from auditlens.mirror.case_file import Annotation
from auditlens.ui.export_dialog import ExportDialog
from auditlens.ui.export_source import ExportSource

if TYPE_CHECKING:
    from auditlens.ui.case_view import Case, CaseEntry

DEFAULT_NAME = "auditlens-case.json"
NOTES_NOTE = (
    "Your notes are written beside the export, in a separate file (<file>.notes.json), marked "
    "as your words and not part of the evidence. auditlens verify checks the events and lists "
    "the notes as unverified annotations."
)


def open_case_export(case: Case) -> None:
    """Read the case's events from the mirror (on the worker), then open the export dialog."""
    window, file = case._window, case.file
    reader = window.reader
    if reader is None or file is None:
        window.statusBar().showMessage("Nothing to export: no mirror is open.", 8000)
        return
    annotations = file.annotations()
    if not annotations:
        window.statusBar().showMessage(
            "The case is empty: star an event (b) or write a note first.", 8000
        )
        return
    from auditlens.ui.case_view import read_entries

    def show(entries: list[CaseEntry]) -> None:
        show_case_export(case, entries)

    window.runner.submit(lambda: read_entries(reader, annotations), show)


def show_case_export(case: Case, entries: list[CaseEntry]) -> ExportDialog | None:
    """The export dialog for ``entries`` (those this mirror holds); notes once it is written."""
    window = case._window
    present = [e.annotation for e in entries if e.row is not None]
    missing = len(entries) - len(present)
    if window.reader is None or not present:
        window.statusBar().showMessage("None of the case's events is in this mirror.", 8000)
        return None
    if missing:
        window.statusBar().showMessage(
            f"{missing:,} noted event(s) are not in this mirror and are left out.", 10_000
        )
    if window.export_dialog is not None and window.export_dialog.worker is not None:
        window.export_dialog.raise_()
        return window.export_dialog
    noun = "event" if len(present) == 1 else "events"
    source = ExportSource(
        window.reader.path,
        tuple(a.idx for a in present),
        f"the case: {len(present):,} starred or annotated {noun}",
    )
    dialog = ExportDialog(source, window.runner, window.export_attester, parent=window)
    dialog.setWindowTitle("Export the case")
    dialog.set_format("json")
    dialog.path_edit.setText(str(dialog.last_folder() / DEFAULT_NAME))
    note = QLabel(NOTES_NOTE)
    note.setObjectName("CaseNotesNote")
    note.setWordWrap(True)
    dialog.main_layout.insertWidget(dialog.main_layout.indexOf(dialog.attest_note) + 1, note)
    dialog.refused.connect(
        lambda finding: window.banner.show_finding(
            finding, "found while exporting the case; nothing was written"
        )
    )
    dialog.recorded.connect(
        lambda outcome: window.sync_requested.emit() if outcome.recorded else None
    )
    dialog.finished_export.connect(lambda outcome: _exported(dialog, outcome, present))
    window.export_dialog = dialog
    dialog.show()
    return dialog


def _exported(dialog: ExportDialog, outcome: object, annotations: list[Annotation]) -> None:
    """Write the notes beside a finished export, and say so under the dialog's result."""
    if not isinstance(outcome, ExportResult):
        return
    label = QLabel()
    label.setObjectName("CaseNotesResult")
    label.setWordWrap(True)
    try:
        path = write_notes(outcome, annotations)
    except OSError as exc:
        label.setProperty("failed", True)
        label.setText(f"⚠ The export is written, but the notes could not be: {exc}")
    else:
        noted = sum(1 for a in annotations if a.note.strip())
        label.setText(
            f"Notes (your words, not evidence): {path}\n{noted:,} note(s) on "
            f"{len(annotations):,} event(s), kept apart from the verified export; "
            "auditlens verify lists them as unverified annotations."
        )
    layout = dialog.result_frame.layout()
    if layout is not None:
        layout.addWidget(label)
        label.show()  # a child added to a shown frame is otherwise shown only later
    outer = dialog.layout()
    if outer is not None:
        outer.activate()
    hint = dialog.sizeHint()  # grow to show the result and the notes line whole
    dialog.resize(max(dialog.width(), hint.width()), max(dialog.height(), hint.height()))
