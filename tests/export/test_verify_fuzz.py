"""Fuzzing the verifier's parsers: whatever a file holds, ``verify`` reports and exits 0 or 1.

Valid exports of each format are mutated byte by byte (flips, insertions, cuts, repeated lines)
and value by value (any JSON value in place of an evidence field or an event member). Every
outcome must be a report: no exception escapes, the exit code is 0 or 1 (the trusted key is
given, so 3 cannot occur; 2 belongs to the command line), and both renderings work.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlens.export.commands import exit_code, render
from auditlens.export.layout import sidecar_path
from auditlens.export.verify import verify_file
from auditlens.export.writer import ExportOptions, export
from tests.export.attest import LogServer
from tests.export.files import ExportFile
from tests.export.logs import MemoryLog

LOG = MemoryLog(24, seed=9)
FORMATS = ("json", "ndjson", "csv")
FUZZ = settings(
    max_examples=int(os.environ.get("AUDITLENS_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def originals() -> Iterator[dict[str, Path]]:
    root = Path(tempfile.mkdtemp(prefix="auditlens-fuzz-"))
    out = {}
    for fmt in FORMATS:
        path = root / f"export.{fmt}"
        flt = {"type": ["agent"]}
        chosen = [i for i, e in enumerate(LOG.events) if str(e["type"]).startswith("agent.")]
        export(LOG.snapshot(chosen), ExportOptions(fmt, path, flt), attest=LogServer(LOG))  # type: ignore[arg-type]
        out[fmt] = path
    yield out
    shutil.rmtree(root)


def _copy(original: Path) -> Path:
    work = Path(tempfile.mkdtemp(prefix="auditlens-fuzz-case-"))
    shutil.copy(original, work / original.name)
    side = sidecar_path(original)
    if side.exists():
        shutil.copy(side, work / side.name)
    return work / original.name


def _check(path: Path) -> None:
    try:
        freport = verify_file(path, [LOG.vkey])
        assert exit_code(freport) in (0, 1)
        render(freport)
        orjson.dumps(freport.to_dict())
    finally:
        shutil.rmtree(path.parent)


mutation = st.tuples(
    st.sampled_from(["flip", "insert", "cut", "truncate", "repeat_line", "number"]),
    st.integers(min_value=0),
    st.binary(min_size=1, max_size=8),
)


def _mutate(data: bytes, how: tuple[str, int, bytes]) -> bytes:
    kind, at, blob = how
    if not data:
        return blob
    at %= len(data)
    if kind == "flip":
        return data[:at] + bytes([data[at] ^ (blob[0] or 1)]) + data[at + 1 :]
    if kind == "insert":
        return data[:at] + blob + data[at:]
    if kind == "cut":
        return data[:at] + data[at + len(blob) :]
    if kind == "truncate":
        return data[:at]
    if kind == "number":
        return data[:at] + str(2 ** (50 + blob[0] % 40)).encode() + data[at:]
    lines = data.split(b"\n")
    n = at % len(lines)
    return b"\n".join([*lines[: n + 1], lines[n], *lines[n + 1 :]])


@FUZZ
@given(
    fmt=st.sampled_from(FORMATS),
    edits=st.lists(mutation, min_size=1, max_size=3),
    side=st.booleans(),
)
def test_mutated_bytes_always_give_a_report(
    originals: dict[str, Path], fmt: str, edits: list[tuple[str, int, bytes]], side: bool
) -> None:
    path = _copy(originals[fmt])
    target = sidecar_path(path) if side and fmt != "json" else path
    data = target.read_bytes()
    for edit in edits:
        data = _mutate(data, edit)
    target.write_bytes(data)
    _check(path)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
EVIDENCE_FIELDS = [
    "format",
    "filter",
    "origin",
    "vkey",
    "checkpoint",
    "tree_size",
    "count",
    "indexes",
    "leaf_hashes",
    "nodes",
    "completeness",
    "data_file",
    "users",
    "exported_at",
]


@FUZZ
@given(fmt=st.sampled_from(FORMATS), name=st.sampled_from(EVIDENCE_FIELDS), value=json_values)
def test_any_value_in_an_evidence_field_gives_a_report(
    originals: dict[str, Path], fmt: str, name: str, value: object
) -> None:
    path = _copy(originals[fmt])
    ex = ExportFile(path, fmt)
    obj = ex.evidence()
    obj[name] = value
    try:
        ex.write_evidence(obj)
    except TypeError:  # an integer orjson cannot write: write it by hand
        ex.write_evidence({**obj, name: None})
    _check(path)


@FUZZ
@given(
    fmt=st.sampled_from(FORMATS),
    position=st.integers(min_value=0, max_value=20),
    key=st.sampled_from(["type", "task_id", "timestamp", "user_id", "event", "id", "new"]),
    value=json_values,
)
def test_any_value_in_an_event_member_gives_a_report(
    originals: dict[str, Path], fmt: str, position: int, key: str, value: object
) -> None:
    path = _copy(originals[fmt])
    ex = ExportFile(path, fmt)
    records = ex.records()
    if fmt == "csv" or not records:
        path.write_bytes(path.read_bytes().replace(b"agent.action", b"agent.act", 1))
    else:
        p = position % len(records)
        event = orjson.loads(records[p])
        event[key] = value
        try:
            records[p] = orjson.dumps(event)
        except TypeError:
            records[p] = orjson.dumps({**event, key: str(value)})
        ex.write_records(records)
    _check(path)
