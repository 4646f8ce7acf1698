"""C2SP signed notes with Ed25519 (c2sp.org/signed-note), and signed tlog checkpoints.

A signed note is a text followed by a blank line and signature lines
``— <key name> base64(key ID || signature)``. This module writes and checks them byte for byte
like Go's ``golang.org/x/mod/sumdb/note``, so a third party can verify our checkpoints with any
signed-note implementation and we can verify theirs.

Key text forms (same as Go): a verifier key ``<name>+<key ID hex8>+base64(0x01 || public key)``
and a signer key ``PRIVATE+KEY+<name>+<key ID hex8>+base64(0x01 || seed)``; the key ID is the
first four bytes of SHA-256(name || "\\n" || 0x01 || public key), big-endian.

Errors: malformed key text raises FormatError. Verification raises VerificationError only:
a malformed note or a trusted key's failing signature is CHECKPOINT_BAD_SIGNATURE (the message
says which line or key), a note without a signature by any trusted key is UNTRUSTED_KEY,
and for checkpoints a different origin is ORIGIN_MISMATCH and a bad body PROOF_MALFORMED.
No message ever contains signer (private) key material.

Where the spec leaves room this module is stricter than Go, never looser: every signature by a
trusted key is verified (Go skips repeats by the same key), base64 must be canonical, names may
not contain control characters, and a note is limited to ``MAX_NOTE_BYTES``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from auditlens.core.checkpoint import Checkpoint, decode_base64_strict
from auditlens.core.errors import Code, FormatError, VerificationError

__all__ = [
    "ALG_ED25519",
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "Note",
    "Signature",
    "SignerKey",
    "VerifierKey",
    "generate_keys",
    "key_id",
    "open_note",
    "parse_skey",
    "parse_vkey",
    "sign",
    "sign_checkpoint",
    "verify_checkpoint",
    "verify_note",
    "vkey_from_public_key",
    "vkey_of",
]

ALG_ED25519 = 0x01
"""Signature type byte of Ed25519 in signed-note keys and key IDs."""

MAX_SIGNATURES = 100
"""Go's limit: a note with more signature lines is malformed (the spec demands at least 16)."""

MAX_NOTE_BYTES = 1 << 20
"""Our limit on a whole note: a checkpoint is ~200 bytes; 100 post-quantum signatures fit."""

SIGNATURE_PREFIX = "\u2014 "
"""Every signature line starts with an em dash (U+2014) and a space."""

_PRIVATE_PREFIX = "PRIVATE+KEY+"
_HEX8_RE = re.compile(r"[0-9a-fA-F]{8}")
# What a note may not contain: ASCII controls other than newline, and lone surrogates (a str
# that holds one has no UTF-8 encoding).
_FORBIDDEN_RE = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64

# Unicode White_Space, as Go's unicode.IsSpace sees it; key names must not contain any.
_SPACES = frozenset(
    (
        *range(0x09, 0x0E),
        0x20,
        0x85,
        0xA0,
        0x1680,
        *range(0x2000, 0x200B),
        0x2028,
        0x2029,
        0x202F,
        0x205F,
        0x3000,
    )
)

# ----------------------------------------------------------------------------------------------
# Keys


def key_id(name: str, key: bytes) -> int:
    """Return the 32-bit key ID of ``key`` (type byte || public key) under ``name``."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + key).digest()
    return int.from_bytes(digest[:4], "big")


def _name_problem(name: str) -> str | None:
    """Say why ``name`` cannot be a key name, or None when it can."""
    if not name:
        return "is empty"
    for char in name:
        code = ord(char)
        if char == "+":
            return "contains '+'"
        if code in _SPACES:
            return f"contains a space character U+{code:04X}"
        if code < 0x20:
            return f"contains control character U+{code:04X}"
        if 0xD800 <= code <= 0xDFFF:
            return f"contains lone surrogate U+{code:04X} (not valid UTF-8)"
    return None


def _check_name(name: str, what: str) -> None:
    problem = _name_problem(name)
    if problem is not None:
        raise FormatError(
            f"{what} {name!r} {problem}; key names must be non-empty, "
            "without '+', spaces or control characters"
        )


@dataclass(frozen=True)
class VerifierKey:
    """A trusted public key: its name, key ID and the 32-byte Ed25519 public key."""

    name: str
    key_id: int
    public_key: bytes
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_key", Ed25519PublicKey.from_public_bytes(self.public_key))

    @property
    def vkey(self) -> str:
        """The verifier key text ``<name>+<id hex8>+<base64(0x01 || public key)>``."""
        data = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{data}"

    @property
    def label(self) -> str:
        """``name+id`` as people and Go's errors write a key."""
        return f"{self.name}+{self.key_id:08x}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != _ED25519_SIG_SIZE:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SignerKey:
    """A signer (private) key. Its repr and errors never show the private key."""

    name: str
    key_id: int
    _private: Ed25519PrivateKey = field(repr=False, compare=False)

    @property
    def verifier(self) -> VerifierKey:
        """The matching verifier key."""
        public = self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, self.key_id, public)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return self._private.sign(message)


def _split_key(text: str, fields: int) -> list[str] | None:
    parts = text.split("+", fields - 1)
    return parts if len(parts) == fields else None


def parse_vkey(vkey: str) -> VerifierKey:
    """Parse a verifier key ``<name>+<hex8>+<base64(0x01 || 32-byte public key)>``.

    Surrounding whitespace is ignored (keys are pasted and read from files); everything else
    must be exact, and the key ID must match the name and key. Raises FormatError naming what
    is wrong.
    """
    if not isinstance(vkey, str):
        raise FormatError(f"verifier key must be text, not {type(vkey).__name__}")
    text = vkey.strip()
    if text.startswith(_PRIVATE_PREFIX):
        # Never echo it: this is a secret pasted where a public key belongs.
        raise FormatError("a signer (PRIVATE) key was given where a verifier key is expected")
    parts = _split_key(text, 3)
    if parts is None:
        raise FormatError(
            f"verifier key {text[:80]!r} is not of the form <name>+<key ID hex8>+<base64 key>"
        )
    name, hex8, data = parts
    _check_name(name, "verifier key name")
    if not _HEX8_RE.fullmatch(hex8):
        raise FormatError(f"verifier key {name!r}: key ID {hex8[:16]!r} is not 8 hex digits")
    key = decode_base64_strict(data)
    if key is None or not key:
        raise FormatError(f"verifier key {name!r}: key data is not canonical base64")
    if key[0] != ALG_ED25519:
        raise FormatError(
            f"verifier key {name!r}: unknown signature algorithm 0x{key[0]:02x} "
            f"(only Ed25519, 0x{ALG_ED25519:02x}, is supported)"
        )
    if len(key) != 1 + _ED25519_KEY_SIZE:
        raise FormatError(
            f"verifier key {name!r}: Ed25519 public key is {len(key) - 1} bytes, "
            f"not {_ED25519_KEY_SIZE}"
        )
    expected = key_id(name, key)
    if int(hex8, 16) != expected:
        raise FormatError(
            f"verifier key {name!r}: key ID {hex8} does not match the key "
            f"(name and key give {expected:08x})"
        )
    try:
        return VerifierKey(name, expected, key[1:])
    except ValueError as exc:  # not a point the library accepts
        raise FormatError(f"verifier key {name!r}: not a valid Ed25519 public key") from exc


def parse_skey(skey: str) -> SignerKey:
    """Parse a signer key ``PRIVATE+KEY+<name>+<hex8>+<base64(0x01 || 32-byte seed)>``.

    The key ID must match the public key derived from the seed. Raises FormatError; its
    message names the field that is wrong but never contains any of the key data.
    """
    if not isinstance(skey, str):
        raise FormatError(f"signer key must be text, not {type(skey).__name__}")
    text = skey.strip()
    if not text.startswith(_PRIVATE_PREFIX):
        raise FormatError("signer key does not start with 'PRIVATE+KEY+'")
    parts = _split_key(text[len(_PRIVATE_PREFIX) :], 3)
    if parts is None:
        raise FormatError(
            "signer key is not of the form PRIVATE+KEY+<name>+<key ID hex8>+<base64 seed>"
        )
    name, hex8, data = parts
    if _name_problem(name) is not None or not _HEX8_RE.fullmatch(hex8):
        # The fields may be shifted, so the "name" could be part of the secret: don't echo it.
        raise FormatError("signer key has a malformed name or key ID field")
    seed = decode_base64_strict(data)
    if seed is None or not seed:
        raise FormatError(f"signer key {name!r}: key data is not canonical base64")
    if seed[0] != ALG_ED25519:
        raise FormatError(
            f"signer key {name!r}: unknown signature algorithm 0x{seed[0]:02x} "
            f"(only Ed25519, 0x{ALG_ED25519:02x}, is supported)"
        )
    if len(seed) != 1 + _ED25519_KEY_SIZE:
        raise FormatError(
            f"signer key {name!r}: Ed25519 seed is {len(seed) - 1} bytes, not {_ED25519_KEY_SIZE}"
        )
    private = Ed25519PrivateKey.from_private_bytes(seed[1:])
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    expected = key_id(name, bytes([ALG_ED25519]) + public)
    if int(hex8, 16) != expected:
        raise FormatError(
            f"signer key {name!r}: key ID {hex8} does not match the key "
            f"(name and key give {expected:08x})"
        )
    return SignerKey(name, expected, private)


def _encode_keys(name: str, private: Ed25519PrivateKey) -> tuple[str, str]:
    seed = private.private_bytes_raw()
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    pub = bytes([ALG_ED25519]) + public
    ident = key_id(name, pub)
    skey_data = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
    vkey_data = base64.b64encode(pub).decode("ascii")
    return (
        f"{_PRIVATE_PREFIX}{name}+{ident:08x}+{skey_data}",
        f"{name}+{ident:08x}+{vkey_data}",
    )


def generate_keys(name: str) -> tuple[str, str]:
    """Generate a new Ed25519 key pair for ``name``; return ``(skey, vkey)``.

    The skey is the secret: whoever holds it can sign checkpoints in this log's name.
    """
    _check_name(name, "key name")
    return _encode_keys(name, Ed25519PrivateKey.generate())


def vkey_of(skey: str | SignerKey) -> str:
    """Return the verifier key text matching a signer key."""
    signer = skey if isinstance(skey, SignerKey) else parse_skey(skey)
    return signer.verifier.vkey


def vkey_from_public_key(name: str, public_key: bytes) -> str:
    """Return the verifier key text for a raw 32-byte Ed25519 public key under ``name``."""
    _check_name(name, "key name")
    if len(public_key) != _ED25519_KEY_SIZE:
        raise FormatError(f"Ed25519 public key is {len(public_key)} bytes, not {_ED25519_KEY_SIZE}")
    pub = bytes([ALG_ED25519]) + public_key
    return f"{name}+{key_id(name, pub):08x}+{base64.b64encode(pub).decode('ascii')}"


# ----------------------------------------------------------------------------------------------
# Notes


def _text_problem(text: str) -> str | None:
    """Say why ``text`` cannot be a note text (or a whole note), or None when it can."""
    bad = _FORBIDDEN_RE.search(text)
    if bad is None:
        return None
    index, code = bad.start(), ord(bad.group())
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    kind = "lone surrogate (not valid UTF-8)" if code >= 0xD800 else "control character"
    return f"{kind} U+{code:04X} at line {line}, column {column}"


@dataclass(frozen=True)
class Signature:
    """One signature line of a note: key name, key ID and the base64 as written."""

    name: str
    key_id: int
    b64: str

    @property
    def label(self) -> str:
        return f"{self.name}+{self.key_id:08x}"


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the signatures verified by trusted keys, and the others."""

    text: str
    signatures: tuple[Signature, ...]
    unverified: tuple[Signature, ...]


def _as_signers(skey: str | SignerKey | Sequence[str | SignerKey]) -> list[SignerKey]:
    items: Sequence[str | SignerKey] = [skey] if isinstance(skey, str | SignerKey) else skey
    return [k if isinstance(k, SignerKey) else parse_skey(k) for k in items]


def sign(text: str, skey: str | SignerKey | Sequence[str | SignerKey]) -> str:
    """Return the signed note of ``text``, signed by one key or by several in order.

    ``text`` must be non-empty, end with a newline and hold no control character other than
    newline (FormatError otherwise). Ed25519 is deterministic, so the result is reproducible.
    """
    if not isinstance(text, str) or not text.endswith("\n"):
        raise FormatError("note text must be non-empty text ending with a newline")
    problem = _text_problem(text)
    if problem is not None:
        raise FormatError(f"note text contains a {problem}")
    if len(text.encode("utf-8")) > MAX_NOTE_BYTES:
        raise FormatError(f"note text exceeds {MAX_NOTE_BYTES} bytes")
    signers = _as_signers(skey)
    if not signers:
        raise FormatError("no signer key given")
    if len(signers) > MAX_SIGNATURES:
        raise FormatError(f"more than {MAX_SIGNATURES} signer keys given")
    message = text.encode("utf-8")
    lines = []
    for signer in signers:
        data = signer.key_id.to_bytes(4, "big") + signer.sign(message)
        lines.append(f"{SIGNATURE_PREFIX}{signer.name} {base64.b64encode(data).decode('ascii')}\n")
    return text + "\n" + "".join(lines)


def _trusted_keys(vkeys: str | VerifierKey | Sequence[str | VerifierKey]) -> list[VerifierKey]:
    items: Sequence[str | VerifierKey] = [vkeys] if isinstance(vkeys, str | VerifierKey) else vkeys
    keys: dict[tuple[str, int], VerifierKey] = {}
    for item in items:
        key = item if isinstance(item, VerifierKey) else parse_vkey(item)
        other = keys.setdefault((key.name, key.key_id), key)
        if other.public_key != key.public_key:
            raise FormatError(
                f"two different verifier keys share the name and key ID {key.label}; "
                "refusing to guess which one is trusted"
            )
    return list(keys.values())


def _malformed(why: str) -> VerificationError:
    return VerificationError(Code.CHECKPOINT_BAD_SIGNATURE, f"malformed note: {why}")


def _decode_note(note: str | bytes) -> str:
    """Return the note as text, rejecting what the spec forbids before any parsing."""
    if isinstance(note, bytes | bytearray | memoryview):
        data = bytes(note)
        if len(data) > MAX_NOTE_BYTES:
            raise _malformed(f"it is {len(data)} bytes, more than the {MAX_NOTE_BYTES} allowed")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed(f"not valid UTF-8 (byte offset {exc.start})") from None
    elif isinstance(note, str):
        text = note
        if len(text) > MAX_NOTE_BYTES or len(text.encode("utf-8", "surrogatepass")) > (
            MAX_NOTE_BYTES
        ):
            raise _malformed(f"it is more than the {MAX_NOTE_BYTES} bytes allowed")
    else:
        raise _malformed(f"expected text or bytes, got {type(note).__name__}")
    problem = _text_problem(text)
    if problem is not None:
        raise _malformed(f"{problem} (only newline may be below U+0020)")
    return text


def open_note(note: str | bytes, vkeys: str | VerifierKey | Sequence[str | VerifierKey]) -> Note:
    """Parse ``note`` and verify every signature by a trusted key; return the opened note.

    Signatures by keys not in ``vkeys`` (other name or other key ID) are kept unverified and
    otherwise ignored, as the spec demands. Raises VerificationError: CHECKPOINT_BAD_SIGNATURE
    when the note is malformed or a trusted key's signature fails, UNTRUSTED_KEY when no
    trusted key signed it; FormatError when a vkey itself is malformed.
    """
    trusted = {(k.name, k.key_id): k for k in _trusted_keys(vkeys)}
    text = _decode_note(note)
    split = text.rfind("\n\n")
    if split < 0:
        raise _malformed("no blank line separates the text from the signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise _malformed("no signature lines after the last blank line")
    if not block.endswith("\n"):
        raise _malformed("the last signature line does not end with a newline")
    first_line = body.count("\n") + 2
    sig_lines = block[:-1].split("\n")
    if len(sig_lines) > MAX_SIGNATURES:
        raise _malformed(f"{len(sig_lines)} signature lines, more than {MAX_SIGNATURES}")
    message = body.encode("utf-8")
    verified: list[Signature] = []
    unverified: list[Signature] = []
    for number, line in enumerate(sig_lines, start=first_line):
        sig = _parse_signature_line(line, number)
        key = trusted.get((sig.name, sig.key_id))
        if key is None:
            if sig not in unverified:
                unverified.append(sig)
            continue
        raw = base64.b64decode(sig.b64)[4:]
        if not key.verify(message, raw):
            size = "" if len(raw) == _ED25519_SIG_SIZE else f" ({len(raw)} bytes, not 64)"
            raise VerificationError(
                Code.CHECKPOINT_BAD_SIGNATURE,
                f"the signature by trusted key {key.label} on line {number} does not "
                f"verify{size}: the note was changed or not signed by that key",
            )
        if sig not in verified:
            verified.append(sig)
    if not verified:
        raise VerificationError(Code.UNTRUSTED_KEY, _untrusted_message(unverified, trusted))
    return Note(body, tuple(verified), tuple(unverified))


def _parse_signature_line(line: str, number: int) -> Signature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise _malformed(
            f"line {number} is not a signature line (it must start with an em dash U+2014 "
            f"and a space): {line[:60]!r}"
        )
    name, space, b64 = line[len(SIGNATURE_PREFIX) :].partition(" ")
    problem = _name_problem(name)
    if problem is not None:
        raise _malformed(f"line {number}: key name {name[:60]!r} {problem}")
    if not space or not b64:
        raise _malformed(f"line {number}: no signature after key name {name!r}")
    raw = decode_base64_strict(b64)
    if raw is None:
        raise _malformed(f"line {number}: signature by {name!r} is not canonical base64")
    if len(raw) < 5:
        raise _malformed(
            f"line {number}: signature by {name!r} is {len(raw)} bytes, too short for a "
            "key ID and a signature"
        )
    return Signature(name, int.from_bytes(raw[:4], "big"), b64)


def _untrusted_message(
    found: Sequence[Signature], trusted: dict[tuple[str, int], VerifierKey]
) -> str:
    if not trusted:
        return "no trusted verifier key was given, so no signature can be checked"
    names = {name: key for (name, _), key in trusted.items()}
    for sig in found:
        key = names.get(sig.name)
        if key is not None:
            return (
                f"the note is signed by {sig.label}, but the trusted key named {sig.name!r} "
                f"has key ID {key.key_id:08x}: the signer's key has changed or is not trusted"
            )
    signed_by = ", ".join(s.label for s in found[:10]) + (" …" if len(found) > 10 else "")
    trusted_by = ", ".join(k.label for k in list(trusted.values())[:10])
    return f"the note is not signed by a trusted key (signed by {signed_by}; trusted: {trusted_by})"


def verify_note(note: str | bytes, vkeys: str | VerifierKey | Sequence[str | VerifierKey]) -> str:
    """Return the text of ``note`` once a trusted key's signature on it verifies.

    The returned text includes its final newline and excludes the blank line and signatures.
    See :func:`open_note` for the errors.
    """
    return open_note(note, vkeys).text


# ----------------------------------------------------------------------------------------------
# Checkpoints


def sign_checkpoint(cp: Checkpoint, skey: str | SignerKey | Sequence[str | SignerKey]) -> str:
    """Return ``cp`` as a signed note (the form served at ``/v1/log/checkpoint``)."""
    return sign(cp.format(), skey)


def verify_checkpoint(
    note: str | bytes,
    vkeys: str | VerifierKey | Sequence[str | VerifierKey],
    origin: str,
) -> Checkpoint:
    """Verify a signed checkpoint and return it: signature, then origin, then body.

    Raises VerificationError: the note's errors (see :func:`open_note`), ORIGIN_MISMATCH when
    the first line is not ``origin`` (naming both), PROOF_MALFORMED when the signed body is not
    a well-formed checkpoint.
    """
    text = verify_note(note, vkeys)
    got = text.split("\n", 1)[0]
    if got != origin:
        raise VerificationError(
            Code.ORIGIN_MISMATCH,
            f"the checkpoint is for log {got!r}, not the expected {origin!r}",
        )
    try:
        return Checkpoint.parse(text)
    except FormatError as exc:
        raise VerificationError(
            Code.PROOF_MALFORMED, f"signed checkpoint is malformed: {exc}"
        ) from None
