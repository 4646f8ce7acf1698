"""The CSV layout in Python (csv_rows) and pyarrow's CSV writer (the export sink): same bytes."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Mapping, Sequence

import orjson
import pytest

from auditlens.core.canonical import canonicalize_event
from auditlens.core.event_ids import EventIdGenerator
from auditlens.export.columns import CSV_COLUMNS, derived_cells
from auditlens.export.csv_rows import RowWriter, cell_bytes, header
from auditlens.export.sinks import CsvSink, HashingFile
from tests.export.logs import _TRICKY, make_event

USERS = {"usr_0": "=cmd|calc", "usr_1": 'a "quoted", name@x', "usr_2": "plain@example.com"}


def _events() -> list[bytes]:
    """Realistic events, plus ones whose short cells hold every awkward text."""
    rng, ids = random.Random(3), EventIdGenerator(random.Random(3))
    raws = [canonicalize_event(make_event(i, rng, ids)) for i in range(70)]
    for n, text in enumerate(_TRICKY):
        event = make_event(n, rng, ids)
        event.update(user_id=f"usr_{n % 4}", task_id=text, agent_id=text + "\r\n")
        event["event"] = {"outcome": "failure", "tool": text, "request": {"ip": text}}
        raws.append(canonicalize_event(event))
    return raws


def _pyarrow_bytes(columns: Sequence[str], raws: list[bytes], users: Mapping[str, str]) -> bytes:
    """What the export's CSV sink (pyarrow's CSV writer) writes for these events."""
    out = io.BytesIO()
    sink = CsvSink(HashingFile(out), columns, users, bom=False, rows=20)  # several batches
    for start in range(0, len(raws), 10):
        sink.write(range(start, min(start + 10, len(raws))), raws[start : start + 10])
    sink.end(None)  # type: ignore[arg-type]  # a CSV sink writes no evidence into the file
    return out.getvalue()


@pytest.mark.parametrize(
    "columns",
    [
        CSV_COLUMNS,
        ("canonical_json",),
        ("summary", "user_email", "canonical_json"),
        ("index", "ip"),
    ],
)
def test_rows_are_byte_for_byte_what_pyarrow_wrote(columns: Sequence[str]) -> None:
    raws = _events()
    writer = RowWriter(columns, USERS)
    ours = header(writer.columns) + writer.rows(range(len(raws)), raws)
    assert ours == _pyarrow_bytes(writer.columns, raws, USERS)


def test_rows_read_back_as_the_derived_cells_and_the_canonical_bytes() -> None:
    raws = _events()
    writer = RowWriter(CSV_COLUMNS, USERS)
    text = (header(writer.columns) + writer.rows(range(len(raws)), raws)).decode()
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert tuple(rows[0]) == CSV_COLUMNS
    for n, (row, raw) in enumerate(zip(rows[1:], raws, strict=True)):
        cells = dict(zip(CSV_COLUMNS, row, strict=True))
        assert cells["index"] == str(n)
        assert cells["canonical_json"].encode() == raw
        assert cells["summary"] == derived_cells(orjson.loads(raw))[-1]
    assert writer.users_seen() == dict(sorted(USERS.items()))


def test_cell_bytes_counts_what_is_written() -> None:
    for text in [*_TRICKY, "", None, "plain"]:
        written = ('"' + text.replace('"', '""') + '"') if text else ""
        assert cell_bytes(text) == len(written.encode())
