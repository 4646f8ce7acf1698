"""What the export dialog says before the click: the filter as chips, and the completeness.

The selection is fixed when the dialog opens, so its chips are the window's, read-only. A
condition the server will not attest (an IP address, an email prefix, hand-picked rows;
:func:`auditlens.export.record.attestation_limits`) is marked on its chip, and the forecast says
why and how to get an attested export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PySide6.QtWidgets import QHBoxLayout, QWidget

from auditlens.export.record import attestation_limits
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.snapshot import ViewRows
from auditlens.ui.filter_chips import FilterChip
from auditlens.ui.filter_panel import filter_chips

CHIP_PARTS: dict[str, str] = {"ip": "ip", "user_email": "user", "selected_rows": "rows"}
"""The filter key each attestation limit concerns -> the chip that shows it."""


def unattested_parts(filter_record: Mapping[str, object]) -> dict[str, str]:
    """``{chip part: why}`` for the conditions of this filter the server will not attest."""
    limits = attestation_limits(filter_record)
    return {CHIP_PARTS.get(key, key): why for key, why in limits.items()}


def filter_chip_row(
    selection: EventFilter | ViewRows | Sequence[int], limited: Mapping[str, str]
) -> tuple[QWidget, list[FilterChip]]:
    """The window's chips for this export's filter, the unattested ones marked."""
    row = QWidget()
    chip_layout = QHBoxLayout(row)
    chip_layout.setContentsMargins(0, 0, 0, 0)
    chip_layout.setSpacing(6)
    if isinstance(selection, EventFilter):
        parts = filter_chips(selection) or [("all", "All events")]
    elif isinstance(selection, ViewRows):
        parts = [("rows", "Rows of this view")]
    else:
        n = len(selection)
        parts = [("rows", f"{n:,} selected row" + ("" if n == 1 else "s"))]
    chips: list[FilterChip] = []
    for part, text in parts:
        chip = FilterChip(part, f"⚠ {text}" if part in limited else text, row)
        chip.close_button.setVisible(False)
        chip_inner = chip.layout()
        if chip_inner is not None:
            chip_inner.setContentsMargins(8, 1, 8, 1)
        if part in limited:
            chip.setProperty("unattested", True)
            chip.setToolTip(f"Not attested: {limited[part]}")
        chip_layout.addWidget(chip)
        chips.append(chip)
    chip_layout.addStretch(1)
    return row, chips


def completeness_forecast(limited: Mapping[str, str], *, offline: bool) -> str:
    """What the export will say about its completeness (``offline``: no server session)."""
    if offline:
        return (
            "Completeness will not be attested: not signed in to a server (an offline "
            "copy). Every event's inclusion is still proven."
        )
    if "rows" in limited:
        return (
            f"Completeness will not be attested: {limited['rows']}. The export is recorded "
            "on the server as audit.exported. For an attested export, export the filter "
            "instead (select a single row, or all)."
        )
    if limited:
        return (
            f"Completeness will not be attested: {'; '.join(limited.values())}, so the "
            "export is not recorded either. Remove the marked condition in the window for "
            "an attested export."
        )
    return (
        "The server will record this export and attest that it holds every event matching "
        "this filter."
    )
