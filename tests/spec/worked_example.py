"""The worked example of docs/evidence-format.md, rebuilt with auditlens itself.

The document shows every value of a three-event log, its checkpoint, its key and a JSON export
of two of the events; ``build()`` recomputes them all, so a test can hold the document to the
code (and the independent verifier can check the document's own export).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditlens.core import merkle
from auditlens.core.canonical import canonicalize_event
from auditlens.core.completeness import attested_digest
from auditlens.core.note import Checkpoint, _encode_keys, sign_checkpoint
from auditlens.export.writer import ExportOptions, export
from tests.export.logs import MemorySnapshot

SEED = bytes(range(32))
"""The example's Ed25519 private key seed (0x00..0x1f): for the example only."""
KEY_NAME = "example.test"
ORIGIN = "example.test/acme"
EVENTS = [
    {
        "id": "log_01KDWCJ2M0G2J53JDWE0F7X90S",
        "timestamp": "2026-01-01T09:00:00.000Z",
        "type": "auth.login",
        "user_id": "usr_ana",
        "task_id": None,
        "agent_id": None,
        "event": {"outcome": "success", "method": "password"},
    },
    {
        "id": "log_01KDWCV7K0MPQ861PG7FSRPBZW",
        "timestamp": "2026-01-01T09:05:00.000Z",
        "type": "task.created",
        "user_id": "usr_bo",
        "task_id": "tsk_7",
        "agent_id": None,
        "event": {"outcome": "success", "title": "Q1 report"},
    },
    {
        "id": "log_01KDWCZT2G393F7X4J97E2HZWG",
        "timestamp": "2026-01-01T09:07:30.000Z",
        "type": "auth.logout",
        "user_id": "usr_ana",
        "task_id": None,
        "agent_id": None,
        "event": {"outcome": "success"},
    },
]
FILTER = {"user_id": "usr_ana"}
SELECTED = [0, 2]
EXPORTED_AT = 1_767_261_600_000  # 2026-01-01T10:00:00.000Z


@dataclass(frozen=True)
class Example:
    skey: str
    vkey: str
    raws: list[bytes]
    leaves: list[bytes]
    node01: bytes
    root: bytes
    note: str
    digest: str


class _Log:
    """Just enough of tests.export.logs.MemoryLog for a MemorySnapshot."""

    def __init__(self, ex: Example) -> None:
        self.size = len(ex.raws)
        self.raws = ex.raws
        self.origin = ORIGIN
        self.vkey = ex.vkey
        self.note = ex.note
        self.users: dict[str, str] = {}


def build() -> Example:
    skey, vkey = _encode_keys(KEY_NAME, Ed25519PrivateKey.from_private_bytes(SEED))
    raws = [canonicalize_event(e) for e in EVENTS]
    leaves = [merkle.leaf_hash(r) for r in raws]
    root = merkle.root(leaves)
    note = sign_checkpoint(Checkpoint(ORIGIN, len(raws), root), skey)
    _, digest = attested_digest(SELECTED, b"".join(leaves[i] for i in SELECTED), 0)
    node01 = hashlib.sha256(b"\x01" + leaves[0] + leaves[1]).digest()
    return Example(skey, vkey, raws, leaves, node01, root, note, digest)


def write_export(path: Path) -> Example:
    ex = build()
    snapshot = MemorySnapshot(_Log(ex), SELECTED)  # type: ignore[arg-type]
    export(snapshot, ExportOptions("json", path, FILTER), now=lambda: EXPORTED_AT / 1000)
    return ex
