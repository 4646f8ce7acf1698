"""``auditlens verify-event``: check an event seen in a SIEM back against the signed log.

Forwarding (README "Forwarding to your SIEM") sends every event with its log index and the
signed checkpoint that covers its batch. An analyst who holds the log's verifier key can then
show that an event in the SIEM is, byte for byte, the log's entry at that index:

1. the checkpoint's signature verifies under the key (and its origin is the one expected), and
   its size exceeds the index;
2. the event's canonical JSON (RFC 8785: the SIEM may have re-spaced or re-ordered it) hashes to
   a leaf that an inclusion proof places at that index under the checkpoint's signed root.

The proof is fetched from the audit API, which need not be trusted: a proof that does not lead
to the signed root fails. What the SIEM shows in another shape (an OCSF rendering) is not the
log's bytes and cannot be checked this way; the forwarded canonical JSON can.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from auditlens.core.canonical import canonicalize
from auditlens.core.errors import Code, FormatError, VerificationError
from auditlens.core.merkle import leaf_hash, verify_inclusion
from auditlens.core.note import verify_checkpoint

EXIT_VERIFIED, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

ProofOf = Callable[[int, int], list[bytes]]


@dataclass(frozen=True)
class EventCheck:
    """The answer: verified, or the code and why; and which log, size and index were asked."""

    verified: bool
    message: str
    code: Code | None = None
    origin: str | None = None
    size: int | None = None


def check_event(
    event_json: bytes,
    index: int,
    note: str,
    *,
    vkey: str,
    origin: str | None,
    proof_of: ProofOf,
) -> EventCheck:
    """Whether ``event_json`` is the log's entry ``index`` under the signed checkpoint ``note``.

    ``origin`` None takes the note's own first line (printed in the answer); ``proof_of(index,
    size)`` gives the inclusion proof (the audit API's). Raises FormatError when the event is
    not a JSON object.
    """
    try:
        event = orjson.loads(event_json)
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"the event is not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise FormatError("the event is not a JSON object (give the event itself)")
    wanted = origin or note.split("\n", 1)[0]
    try:
        cp = verify_checkpoint(note, vkey, wanted)
    except VerificationError as exc:
        return EventCheck(False, f"the checkpoint fails: {exc.message}", exc.code, wanted)
    if not 0 <= index < cp.size:
        why = f"checkpoint size {cp.size:,} does not cover index {index:,}"
        return EventCheck(False, why, Code.PROOF_MALFORMED, cp.origin, cp.size)
    try:
        proof = proof_of(index, cp.size)
        verify_inclusion(leaf_hash(canonicalize(event)), index, cp.size, proof, cp.root)
    except VerificationError as exc:
        why = (
            f"this event is not entry {index:,} of {cp.origin} at size {cp.size:,} "
            f"({exc.message}): it was changed after it left the log, or the index is not its own"
        )
        return EventCheck(False, why, exc.code, cp.origin, cp.size)
    event_id = event.get("id")
    return EventCheck(
        True,
        f"event {event_id} is entry {index:,} of {cp.origin}, in the tree of size {cp.size:,} "
        "signed by the given key",
        None,
        cp.origin,
        cp.size,
    )


def read_note(path: Path) -> str:
    """The checkpoint note in ``path``: as text, or base64 as syslog carries it."""
    text = path.read_text(encoding="utf-8")
    stripped = text.strip()
    if "\n" not in stripped:
        try:
            decoded = base64.b64decode(stripped, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return text
        if "\n\n" in decoded:
            return decoded
    return text if text.endswith("\n") else text + "\n"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "verify-event",
        help="check an event seen in a SIEM against the signed log",
        description=(__doc__ or "").split("\n\n", 1)[1].split("\n\nThe proof", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("event", type=Path, help="a file holding the event's JSON")
    parser.add_argument("--index", type=int, required=True, help="the event's log index")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="the signed checkpoint note forwarded with the event (text, or base64 from syslog)",
    )
    keys = parser.add_mutually_exclusive_group(required=True)
    keys.add_argument("--vkey", help="the log's verifier key (signed-note vkey text)")
    keys.add_argument("--vkey-file", type=Path, help="a file holding the verifier key")
    parser.add_argument("--origin", help="the log's origin to require (default: the note's)")
    parser.add_argument("--server", required=True, help="the audit API giving the proof")
    parser.add_argument(
        "--api-key-file", type=Path, help="a read API key in this file (else the stored sign-in)"
    )
    parser.set_defaults(handler=run_verify_event)


def run_verify_event(args: argparse.Namespace) -> int:
    """0 when the event is the log's entry, 1 when it is not, 2 on bad input."""
    from auditlens.client.api import AuditApiClient
    from auditlens.client.credentials import CredentialStore, read_api_key_file
    from auditlens.client.errors import ApiError

    try:
        vkey = args.vkey_file.read_text(encoding="utf-8").strip() if args.vkey_file else args.vkey
        note = read_note(args.checkpoint)
        event_json = args.event.read_bytes()
        if args.api_key_file is not None:
            secret: str | None = read_api_key_file(args.api_key_file)
        else:
            stored = CredentialStore().load(args.server)
            secret = stored.secret if stored is not None else None
        with AuditApiClient(args.server, secret) as client:
            result = check_event(
                event_json,
                args.index,
                note,
                vkey=vkey,
                origin=args.origin,
                proof_of=client.inclusion_proof,
            )
    except (OSError, ValueError, FormatError) as exc:
        print(f"auditlens verify-event: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiError as exc:
        print(f"auditlens verify-event: the audit API gave no proof: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if result.verified:
        print(f"VERIFIED: {result.message}")
        return EXIT_VERIFIED
    code = result.code.value if result.code is not None else "FAILED"
    print(f"FAILED ({code}): {result.message}")
    return EXIT_FAILED
