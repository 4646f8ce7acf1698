"""Evidence of a forked or truncated log, kept in a file beside the mirror (never in it)."""

from __future__ import annotations

from base64 import b64encode
from collections.abc import Sequence
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path

import orjson

from auditlens.client.paths import write_private_file
from auditlens.client.trust import Pin
from auditlens.core.errors import Code

FORK_EVIDENCE_FORMAT = "auditlens-fork-evidence/1"


def fork_evidence_path(mirror_path: Path, trusted_note: str, conflicting_note: str) -> Path:
    """``<mirror stem>.fork-<hash12>.json`` beside the mirror; the hash is over both notes, so
    seeing the same conflict again names the same file."""
    digest = sha256(f"{trusted_note}\n\n{conflicting_note}".encode()).hexdigest()[:12]
    return mirror_path.with_name(f"{mirror_path.stem}.fork-{digest}.json")


def keep_fork_evidence(
    mirror_path: Path,
    *,
    code: Code,
    detail: str,
    pin: Pin,
    trusted_note: str,
    conflicting_note: str,
    consistency_proof: Sequence[bytes] | None = None,
) -> Path:
    """Write the evidence of LOG_FORKED / LOG_TRUNCATED as one self-contained JSON file.

    Two checkpoints signed by the same key for the same origin that cannot both be true are
    proof, for anyone holding the key, that the log's operator presented two histories: the
    file holds both signed notes verbatim, the origin and key, where and when it was seen, and
    the consistency proof the server offered (if any). It is written once (mode 0600, atomic)
    and never into the mirror, which stays exactly as it was.
    """
    path = fork_evidence_path(mirror_path, trusted_note, conflicting_note)
    if path.exists():
        return path
    record = {
        "format": FORK_EVIDENCE_FORMAT,
        "code": str(code),
        "detail": detail,
        "detected_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "origin": pin.origin,
        "vkey": pin.vkey,
        "server_url": pin.server_url,
        "organization_id": pin.organization_id,
        "mirror": mirror_path.name,
        "trusted_checkpoint": trusted_note,
        "conflicting_checkpoint": conflicting_note,
        "consistency_proof": (
            None
            if consistency_proof is None
            else [b64encode(h).decode() for h in consistency_proof]
        ),
    }
    write_private_file(path, orjson.dumps(record, option=orjson.OPT_INDENT_2) + b"\n")
    return path
