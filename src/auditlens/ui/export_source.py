"""What an export dialog exports: a filter or a selection of rows, and how to say it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from auditlens.core.errors import compress_ranges, format_ranges
from auditlens.mirror.filter import EventFilter, filter_description

__all__ = ["ExportSource"]


@dataclass(frozen=True)
class ExportSource:
    """What to export from which mirror, and how to say it to the person.

    ``query`` is the query bar's line the rows were picked by. The evidence keeps it as
    information only: a search or an excluded value is exported as the rows themselves (a
    selection no attested filter describes), and the line says how they were chosen.
    """

    mirror_path: Path
    selection: EventFilter | tuple[int, ...]
    description: str
    query: str | None = None

    @property
    def filter_record(self) -> dict[str, object]:
        """The filter as the evidence and the ``audit.exported`` event record it."""
        if isinstance(self.selection, EventFilter):
            return filter_description(self.selection)
        runs = format_ranges(compress_ranges(self.selection), 50)
        return {"selected_rows": len(self.selection), "indexes": runs}
