"""What an export dialog exports: a filter or a selection of rows, and how to say it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from auditlens.core.errors import compress_ranges, format_ranges
from auditlens.mirror.filter import EventFilter, filter_description
from auditlens.mirror.snapshot import ViewRows

__all__ = ["ExportSource", "ViewRows"]


@dataclass(frozen=True)
class ExportSource:
    """What to export from which mirror, and how to say it to the person.

    ``selection`` is a filter the evidence states (attested when the server can), the indexes
    of hand-picked rows, or :class:`ViewRows`: every row of a view whose filter no evidence can
    state (a search, an excluded value, a pivot's window), collected when the dialog prepares
    and exported as a hand-picked selection. ``query`` is the query bar's line the rows were
    picked by; the evidence keeps it as information only.
    """

    mirror_path: Path
    selection: EventFilter | ViewRows | tuple[int, ...]
    description: str
    query: str | None = None

    @property
    def is_rows(self) -> bool:
        """True when the export is a selection of rows, never a filter."""
        return not isinstance(self.selection, EventFilter)

    def filter_record(self, rows: Iterable[int] = ()) -> dict[str, object]:
        """The filter as the evidence and the ``audit.exported`` event record it. A view's
        rows are known once collected: pass them (the prepared snapshot's indexes)."""
        if isinstance(self.selection, EventFilter):
            return filter_description(self.selection)
        picked = self.selection if isinstance(self.selection, tuple) else tuple(rows)
        runs = format_ranges(compress_ranges(picked), 50)
        return {"selected_rows": len(picked), "indexes": runs}
