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

from auditlens.core.evidence import Evidence
from auditlens.export.csv_rows import RowWriter
from auditlens.export.csv_rows import header as csv_header
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
    """Writes each chunk's rows as they pass (:mod:`auditlens.export.csv_rows`)."""

    def __init__(
        self, out: HashingFile, columns: Sequence[str], directory: Mapping[str, str], bom: bool
    ) -> None:
        super().__init__(out)
        self._rows = RowWriter(columns, directory)
        self._bom = bom

    def begin(self) -> None:
        self.out.write((BOM if self._bom else b"") + csv_header(self._rows.columns))

    def write(self, indexes: Sequence[int], raws: Sequence[bytes]) -> None:
        if raws:
            self.out.write(self._rows.rows(indexes, raws))
            self.count += len(raws)

    def users_seen(self) -> Mapping[str, str] | None:
        return self._rows.users_seen()

    def columns(self) -> tuple[str, ...]:
        return self._rows.columns
