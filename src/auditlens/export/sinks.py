"""How each export format's bytes are written as the verified events pass (one sink each).

The writer (:mod:`auditlens.export.writer`) re-verifies the log and hands each chunk's selected
events to the format's sink; the sink writes them through a :class:`HashingFile`, which hashes
and counts the bytes for the evidence's ``data_file`` and the export result. A JSON export
carries its evidence inside the file (:meth:`Sink.end` writes it); CSV and NDJSON exports keep
theirs in a sidecar, written by the writer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import IO

import orjson

from auditlens.core.evidence import Evidence
from auditlens.export.columns import DERIVED, check_columns, derived_cells, neutralize
from auditlens.export.layout import (
    BOM,
    JSON_EVENT_SEP,
    JSON_EVENTS_END,
    JSON_EVIDENCE_KEY,
    JSON_HEAD,
    JSON_TAIL,
)


class HashingFile:
    """A binary file that hashes and counts what is written through it."""

    def __init__(self, f: IO[bytes]) -> None:
        self._f = f
        self.sha = hashlib.sha256()
        self.size = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        self.sha.update(data)
        self.size += len(memoryview(data).cast("B"))
        return self._f.write(data)

    def flush(self) -> None:
        self._f.flush()

    def tell(self) -> int:
        return self.size


class Sink:
    """Writes selected events in one format; ``end`` gets the finished evidence."""

    def __init__(self, out: HashingFile) -> None:
        self.out = out
        self.count = 0

    def begin(self) -> None:
        """Write what precedes the events."""

    def write(self, indexes: Sequence[int], raws: Sequence[bytes]) -> None:
        raise NotImplementedError

    def end(self, evidence: Evidence) -> None:
        """Write what follows the events."""

    def users_seen(self) -> Mapping[str, str] | None:
        return None

    def columns(self) -> tuple[str, ...]:
        return ()


class JsonSink(Sink):
    def begin(self) -> None:
        self.out.write(JSON_HEAD)

    def write(self, indexes: Sequence[int], raws: Sequence[bytes]) -> None:
        if not raws:
            return
        lead = JSON_EVENT_SEP if self.count else b""
        self.out.write(lead + JSON_EVENT_SEP.join(raws))
        self.count += len(raws)

    def end(self, evidence: Evidence) -> None:
        self.out.write((b"\n" if self.count else b"") + JSON_EVENTS_END + JSON_EVIDENCE_KEY)
        for piece in evidence.json_chunks():
            self.out.write(piece)
        self.out.write(JSON_TAIL)


class NdjsonSink(Sink):
    def write(self, indexes: Sequence[int], raws: Sequence[bytes]) -> None:
        if raws:
            self.out.write(b"\n".join(raws) + b"\n")
            self.count += len(raws)


class CsvSink(Sink):
    """Buffers rows into record batches of ``rows`` and writes them with pyarrow's CSV writer.

    pyarrow quotes in C++: measured on the same cells it writes each row about 2 µs faster than
    the pure-Python :class:`~auditlens.export.csv_rows.RowWriter`, which renders the very same
    bytes (docs/benchmarks.md, "Export"). Empty cells are nulls, which pyarrow writes as
    nothing at all (an empty string would be ``""``).
    """

    def __init__(
        self,
        out: HashingFile,
        columns: Sequence[str],
        directory: Mapping[str, str],
        bom: bool,
        rows: int = 8192,
    ) -> None:
        super().__init__(out)
        import pyarrow as pa  # heavy: only an export that writes CSV pays for it
        import pyarrow.csv as pacsv

        self._pa = pa
        self._columns = check_columns(columns)
        self._schema = pa.schema(
            [(c, pa.int64() if c == "index" else pa.string()) for c in self._columns]
        )
        self._directory = directory
        self._seen: dict[str, str] = {}
        self._rows = rows
        self._buffer: dict[str, list[object]] = {c: [] for c in self._columns}
        if bom:  # before the writer: pyarrow writes the header as soon as it is created
            out.write(BOM)
        self._writer = pacsv.CSVWriter(
            out,  # pyarrow takes any object with write()
            self._schema,
            write_options=pacsv.WriteOptions(eol="\r\n"),
        )

    def write(self, indexes: Sequence[int], raws: Sequence[bytes]) -> None:
        buf = self._buffer
        derived = [(buf[c], DERIVED.index(c)) for c in self._columns if c in DERIVED]
        emails = buf.get("user_email")
        directory, seen = self._directory, self._seen
        for raw in raws:
            event = orjson.loads(raw)
            cells = derived_cells(event)
            for column, at in derived:
                column.append(cells[at] or None)
            if emails is not None:
                user_id = event.get("user_id")
                email = directory.get(user_id) if isinstance(user_id, str) else None
                if email:
                    seen[user_id] = email
                emails.append(neutralize(email) if email else None)
        if "index" in buf:
            buf["index"].extend(indexes)
        buf["canonical_json"].extend(raw.decode("utf-8") for raw in raws)
        self.count += len(raws)
        if len(buf["canonical_json"]) >= self._rows:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer["canonical_json"]:
            return
        pa = self._pa
        arrays = [
            pa.array(self._buffer[c], type=f.type)
            for c, f in zip(self._columns, self._schema, strict=True)
        ]
        self._writer.write_batch(pa.record_batch(arrays, schema=self._schema))
        self._buffer = {c: [] for c in self._columns}

    def end(self, evidence: Evidence) -> None:
        self._flush()
        self._writer.close()

    def users_seen(self) -> Mapping[str, str] | None:
        return dict(sorted(self._seen.items())) if "user_email" in self._columns else None

    def columns(self) -> tuple[str, ...]:
        return self._columns
