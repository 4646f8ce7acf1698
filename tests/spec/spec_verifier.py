"""An independent verifier of auditlens exports, written from docs/evidence-format.md alone.

Standard library, ``rfc8785`` and ``cryptography`` only; nothing from auditlens. It checks what
the specification makes normative (not the CSV derived cells): checkpoint, multi-proof, the
events against the evidence, a derived RFC 9162 proof per event (§4.1), the filter (§7) and the
completeness record (§8). ``verify`` returns the set of error codes found (empty = verified)
and whether completeness was attested.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import itertools
import json
from datetime import datetime
from pathlib import Path

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMATS = ("auditlens-evidence/1", "auditlens-evidence/2")
KEYS = ("since", "until", "user_id", "task_id", "agent_id", "ip", "outcome", "type", "user_email")


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def b64(text: str) -> bytes:
    raw = binascii.a2b_base64(text.encode(), strict_mode=True) if text else b""
    if base64.b64encode(raw).decode() != text:
        raise ValueError("non-canonical base64")
    return raw


def no_duplicates(pairs: list) -> dict:
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("duplicate member")
    return dict(pairs)


def loads(data: bytes) -> object:
    return json.loads(data, object_pairs_hook=no_duplicates)


def leaf(event: object) -> bytes | None:
    """The leaf hash of an event (None: unreadable: not an object, floats, unsafe integers)."""

    def ok(v: object) -> bool:
        if isinstance(v, float) or (isinstance(v, int) and abs(v) > 2**53 - 1):
            return False
        return (
            all(map(ok, v.values() if isinstance(v, dict) else v))
            if isinstance(v, dict | list)
            else True
        )

    return H(b"\x00" + rfc8785.dumps(event)) if isinstance(event, dict) and ok(event) else None


def checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    name, key_id, key = vkey.split("+", 2)
    raw_key = b64(key)
    assert (
        raw_key[0] == 1
        and len(raw_key) == 33
        and H(f"{name}\n".encode() + raw_key)[:4].hex() == key_id
    )
    text, _, sigs = note.partition("\n\n")
    text += "\n"
    for line in sigs.splitlines():
        who, _, sig = line.removeprefix("\u2014 ").partition(" ")
        raw = b64(sig)
        if who == name and raw[:4].hex() == key_id:
            Ed25519PublicKey.from_public_bytes(raw_key[1:]).verify(raw[4:], text.encode())
            origin, size, root = text.split("\n")[:3]
            return origin, int(size), b64(root)
    raise LookupError("UNTRUSTED_KEY")


def split(n: int) -> int:  # the largest power of two smaller than n (n >= 2)
    return 1 << ((n - 1).bit_length() - 1)


def mth(pieces: dict[tuple[int, int], bytes], a: int, b: int) -> bytes:
    if (a, b) in pieces:
        return pieces[(a, b)]
    if b - a == 1:
        raise KeyError(f"leaf {a} is covered by no piece")
    k = split(b - a)
    return H(b"\x01" + mth(pieces, a, a + k) + mth(pieces, a + k, b))


def inclusion_path(pieces: dict, m: int, a: int, b: int) -> list[bytes]:
    if b - a == 1:
        return []
    k = split(b - a)
    if m < a + k:
        return [*inclusion_path(pieces, m, a, a + k), mth(pieces, a + k, b)]
    return [*inclusion_path(pieces, m, a + k, b), mth(pieces, a, a + k)]


def root_from_proof(leaf_hash: bytes, m: int, n: int, proof: list[bytes]) -> bytes:
    """RFC 9162 §2.1.3.2."""
    fn, sn, r = m, n - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            r = H(b"\x01" + p + r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = H(b"\x01" + r + p)
        fn, sn = fn >> 1, sn >> 1
    if sn:
        raise ValueError("proof too short")
    return r


def gap_nodes(a: int, b: int) -> list[tuple[int, int]]:
    out = []
    while a < b:
        k = 0
        while (a == 0 or a % (2 ** (k + 1)) == 0) and a + 2 ** (k + 1) <= b:
            k += 1
        out.append((a, a + 2**k))
        a += 2**k
    return out


def ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


REFUSALS = {"access_denied", "account_locked", "forbidden", "mfa_rejected", "permission_denied"}
REFUSALS |= {"policy_denied", "policy_violation", "rate_limited"}


def verdict(e: dict, body: dict) -> object:
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    reasons = {body.get("failure_reason"), body.get("reason"), error.get("code")}
    failed = body.get("outcome") == "failure" and any(
        r in REFUSALS for r in reasons if isinstance(r, str)
    )
    return "denied" if e.get("type") == "approval.denied" or failed else body.get("outcome")


def same(got: object, want: str) -> bool:
    head = want.rstrip("*")
    return isinstance(got, str) and (got.startswith(head) if want.endswith("*") else got == want)


def matches(flt: dict, e: dict) -> bool:
    body = e.get("event") if isinstance(e.get("event"), dict) else {}
    req = body.get("request") if isinstance(body.get("request"), dict) else {}
    t = e.get("type") if isinstance(e.get("type"), str) else ""
    return all(
        (k == "since" and ms(e["timestamp"]) >= ms(v))
        or (k == "until" and ms(e["timestamp"]) < ms(v))
        or (k in ("user_id", "task_id", "agent_id") and same(e.get(k), v))
        or (k == "ip" and same(req.get("ip"), v))
        or (k == "outcome" and verdict(e, body) == v)
        or (k == "type" and (t in v or t.split(".")[0] in v))
        or k == "user_email"
        for k, v in flt.items()
    )


def read(path: Path) -> tuple[list[object], dict, set[str]]:
    side = path.with_name(path.name + ".evidence.json")
    codes: set[str] = set()
    if not side.exists():
        doc = loads(path.read_bytes())
        return doc["events"], doc["evidence"], codes
    data, ev = path.read_bytes(), loads(side.read_bytes())
    if (
        hashlib.sha256(data).hexdigest() != ev["data_file"]["sha256"]
        or len(data) != ev["data_file"]["bytes"]
    ):
        codes.add("FILE_MODIFIED")
    if ev["data_file"]["format"] == "ndjson":
        return [loads(line) for line in data.split(b"\n")[:-1]], ev, codes
    rows = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    return [loads(r["canonical_json"].encode()) for r in rows], ev, codes


def verify(path: Path, vkey: str, origin: str | None = None) -> tuple[set[str], bool]:
    events, ev, codes = read(path)
    assert ev["format"] in FORMATS and ("completeness" in ev) == (ev["format"] == FORMATS[1])
    cp_origin, n, root = checkpoint(ev["checkpoint"], vkey)
    if cp_origin != (origin or ev["origin"]) or ev["origin"] != cp_origin:
        codes.add("ORIGIN_MISMATCH")
    assert n == ev["tree_size"]
    indexes = [i for a, b in ev["indexes"] for i in range(a, b + 1)]
    leaves, nodes = b64(ev["leaf_hashes"]), b64(ev["nodes"])
    recorded = [leaves[32 * q : 32 * q + 32] for q in range(len(indexes))]
    assert len(leaves) == 32 * len(indexes) == 32 * ev["count"]
    pieces = {(i, i + 1): h for i, h in zip(indexes, recorded, strict=True)}
    bounds = [-1, *indexes, n]
    gaps = [g for lo, hi in itertools.pairwise(bounds) for g in gap_nodes(lo + 1, hi)]
    if len(nodes) != 32 * len(gaps):
        return codes | {"PROOF_MALFORMED"}, False
    pieces.update({g: nodes[32 * j : 32 * j + 32] for j, g in enumerate(gaps)})
    if mth(pieces, 0, n) != root if n else H(b"") != root:
        return codes | {"INCLUSION_FAILED"}, False
    for i, h in zip(indexes, recorded, strict=True):  # §4.1, one standard proof per event
        assert root_from_proof(h, i, n, inclusion_path(pieces, i, 0, n)) == root
    if [leaf(e) for e in events] != recorded:
        diff = (len(events) > len(recorded)) - (len(events) < len(recorded))
        codes.add(("EVENT_MODIFIED", "EVENT_INSERTED", "EVENT_MISSING")[diff])
    comp = ev.get("completeness")
    record = loads(comp["record"].encode()) if comp else None
    flt, outside = (record["event"]["filter"] if record else ev["filter"]), []
    if set(flt) <= set(KEYS):
        authentic = zip(indexes, recorded, events, strict=False)  # only proven events count
        outside = [i for i, h, e in authentic if leaf(e) == h and not matches(flt, e)]
        codes |= {"FILTER_MISMATCH"} if outside else set()
    if comp is None:
        return codes, False
    r_origin, r_size, r_root = checkpoint(comp["checkpoint"], vkey)
    proof = [b64(p) for p in comp["proof"]]
    if (
        r_origin != cp_origin
        or root_from_proof(H(b"\x00" + comp["record"].encode()), comp["index"], r_size, proof)
        != r_root
    ):
        return codes | {"INCLUSION_FAILED"}, True
    att = record["event"]
    assert record["type"] == "audit.exported" and att["attestation"] == "auditlens-completeness/1"
    if att["tree_size"] != n or comp["index"] < n:  # recorded after the export's checkpoint
        codes.add("FILE_MODIFIED")
    if att["filter"] != ev["filter"]:
        codes.add("FILTER_MISMATCH")
    kept = [(i, h) for i, h in zip(indexes, recorded, strict=True) if i >= att["min_index"]]
    digest = hashlib.sha256(b"".join(i.to_bytes(8, "big") + h for i, h in kept)).hexdigest()
    if (len(kept), digest) != (att["count"], att["digest"]):
        codes.add("EVENTS_OMITTED" if len(kept) - len(outside) < att["count"] else "EVENTS_ADDED")
    return codes, True
