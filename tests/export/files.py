"""Read and rewrite export files record by record, keeping their framing: the tamper tools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from auditlens.export.layout import (
    JSON_EVENTS_END,
    JSON_EVIDENCE_KEY,
    JSON_HEAD,
    JSON_TAIL,
    sidecar_path,
)


@dataclass
class ExportFile:
    """One written export; ``records`` are its event lines (CSV: rows without the header)."""

    path: Path
    fmt: str

    @property
    def sidecar(self) -> Path:
        return sidecar_path(self.path)

    # -- records -------------------------------------------------------------------------------

    def _split_json(self) -> tuple[list[bytes], bytes]:
        data = self.path.read_bytes()
        head_end = len(JSON_HEAD)
        end = data.index(b"\n" + JSON_EVENTS_END) + 1 if b"\n" + JSON_EVENTS_END in data else 0
        if data[head_end:].startswith(JSON_EVENTS_END):
            return [], data[head_end + len(JSON_EVENTS_END) :]
        body = data[head_end : end - 1]
        return body.split(b",\n"), data[end + len(JSON_EVENTS_END) :]

    def records(self) -> list[bytes]:
        if self.fmt == "json":
            return self._split_json()[0]
        data = self.path.read_bytes()
        if self.fmt == "ndjson":
            return data.split(b"\n")[:-1]
        rows = data.split(b"\r\n")[:-1]
        return rows[1:]

    def header(self) -> bytes:
        return self.path.read_bytes().split(b"\r\n", 1)[0]

    def write_records(self, records: list[bytes]) -> None:
        if self.fmt == "json":
            _, tail = self._split_json()
            events = b",\n".join(records) + b"\n" if records else b""
            self.path.write_bytes(JSON_HEAD + events + JSON_EVENTS_END + tail)
        elif self.fmt == "ndjson":
            self.path.write_bytes(b"".join(r + b"\n" for r in records))
        else:
            header = self.header()
            self.path.write_bytes(b"".join(r + b"\r\n" for r in [header, *records]))

    # -- evidence ------------------------------------------------------------------------------

    def evidence(self) -> dict:
        if self.fmt == "json":
            tail = self._split_json()[1]
            assert tail.startswith(JSON_EVIDENCE_KEY) and tail.endswith(JSON_TAIL)
            return orjson.loads(tail[len(JSON_EVIDENCE_KEY) : -len(JSON_TAIL)])
        return orjson.loads(self.sidecar.read_bytes())

    def write_evidence(self, obj: dict) -> None:
        if self.fmt == "json":
            records = self.records()
            events = b",\n".join(records) + b"\n" if records else b""
            self.path.write_bytes(
                JSON_HEAD
                + events
                + JSON_EVENTS_END
                + JSON_EVIDENCE_KEY
                + orjson.dumps(obj)
                + JSON_TAIL
            )
        else:
            self.sidecar.write_bytes(orjson.dumps(obj) + b"\n")
