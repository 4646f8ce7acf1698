"""The bytes of a CSV export, rendered in Python: the layout, and the size estimate.

Exports are written by pyarrow's CSV writer (:class:`auditlens.export.sinks.CsvSink`), which
quotes in C++ and measured fastest (docs/benchmarks.md, "Export": about 2 µs a row ahead of
this module, and ahead of pandas -> pyarrow, the ``csv`` module and ``DataFrame.to_csv``). This
module states the same layout in a few lines of Python, renders it for the export dialog's size
estimate without importing pyarrow, and is what the tests hold pyarrow's output to, byte for
byte, so that the same events give the same bytes (and SHA-256) whichever version exported them.

The layout:

- the header names every column, each quoted: ``"index","id",…,"canonical_json"``;
- every text cell is quoted, a ``"`` inside it doubled; an empty cell (an absent value) is
  written as nothing at all, not as ``""``; the ``index`` cell is the plain decimal index;
- every row, the header included, ends with CRLF; an optional UTF-8 BOM precedes the header.

``canonical_json`` is always the last column (:data:`~auditlens.export.columns.CSV_COLUMNS`
order), so a row is its short cells, a comma, and the quoted canonical bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter

import orjson

from auditlens.export.columns import (
    DERIVED,
    REQUIRED_COLUMN,
    check_columns,
    derived_cells,
    neutralize,
)

EOL = "\r\n"


def quote(text: str) -> str:
    """One text cell as written: quoted, with its quotes doubled."""
    return '"' + text.replace('"', '""') + '"'


def cell_bytes(text: str | None) -> int:
    """How many bytes :func:`quote` writes for ``text`` (an empty cell writes none)."""
    if not text:
        return 0
    return len(text.encode()) + text.count('"') + 2


def header(columns: Sequence[str]) -> bytes:
    """The header row of an export with these (already checked) columns."""
    return (",".join(quote(c) for c in columns) + EOL).encode()


class RowWriter:
    """Renders export rows for one column choice; remembers the emails it wrote.

    ``directory`` is the organization's ``user_id -> email`` map (the ``user_email`` column);
    the emails actually written are kept for the sidecar's ``users`` map, which the verifier
    compares the ``user_email`` cells with.
    """

    def __init__(self, columns: Sequence[str], directory: Mapping[str, str]) -> None:
        self.columns = check_columns(columns)
        self.seen: dict[str, str] = {}
        self._directory = directory
        self._with_index = "index" in self.columns
        self._with_email = "user_email" in self.columns
        self._picks = self._cell_plan()

    def _cell_plan(self) -> Callable[[tuple[str, ...]], tuple[str, ...]]:
        """Picks the short cells, in column order, from :func:`derived_cells` + the email."""
        at = [
            len(DERIVED) if column == "user_email" else DERIVED.index(column)
            for column in self.columns
            if column not in ("index", REQUIRED_COLUMN)
        ]
        if len(at) > 1:
            return itemgetter(*at)  # a tuple for 2+ positions
        return lambda cells: tuple(cells[n] for n in at)

    def rows(self, indexes: Sequence[int], raws: Sequence[bytes]) -> bytes:
        """The rows of these events (log indexes and canonical bytes), one per event.

        The canonical bytes are escaped as bytes (never decoded and re-encoded): they are most
        of a row, and each copy of them costs more than all the short cells together.
        """
        out: list[bytes] = []
        append = out.append
        pick = self._picks
        email_of = self._email if self._with_email else None
        with_index, with_short = self._with_index, len(self.columns) > 1 + self._with_index
        q, qq = '"', '""'
        for idx, raw in zip(indexes, raws, strict=True):
            head = f"{idx}," if with_index else ""
            if with_short:
                event = orjson.loads(raw)
                cells = derived_cells(event)
                if email_of is not None:
                    cells = (*cells, email_of(event))
                short = ",".join([q + t.replace(q, qq) + q if t else "" for t in pick(cells)])
                head = f"{head}{short},"
            append(f'{head}"'.encode() + raw.replace(b'"', b'""') + b'"\r\n')
        return b"".join(out)

    def _email(self, event: Mapping[str, object]) -> str:
        user_id = event.get("user_id")
        email = self._directory.get(user_id) if isinstance(user_id, str) else None
        if not email:
            return ""
        self.seen[user_id] = email  # type: ignore[index]  # a str when an email was found
        return neutralize(email)

    def users_seen(self) -> dict[str, str] | None:
        """``user_id -> email`` of the emails written (sorted), or None without that column."""
        return dict(sorted(self.seen.items())) if self._with_email else None
