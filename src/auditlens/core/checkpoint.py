"""The C2SP tlog-checkpoint body: origin, tree size and root hash (c2sp.org/tlog-checkpoint).

This module owns only the *text* of a checkpoint, the note body a log signs: building it,
formatting it byte-exactly and parsing it strictly. Signing and verifying the note around it
live in :mod:`auditlens.core.note` (``sign_checkpoint``, ``verify_checkpoint``), which imports
this module; nothing here touches keys, so a parsed-but-unverified body is never mistaken for a
trusted one by accident of import.

Parsing is strict on purpose: the same tree head has exactly one accepted text (no leading
zeros, no signs, canonical base64), so two checkpoints can be compared as text and a changed
byte can never leave the meaning unchanged.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from auditlens.core.errors import FormatError

HASH_SIZE = 32
"""Bytes in an RFC 6962 / RFC 9162 SHA-256 root hash."""

MAX_TREE_SIZE = (1 << 63) - 1
"""Largest size Go's ``golang.org/x/mod/sumdb/tlog`` (int64) can read; we stay interoperable."""

_SIZE_RE = re.compile(r"(?:0|[1-9][0-9]{0,18})")


def decode_base64_strict(text: str) -> bytes | None:
    """Return the bytes of canonical standard base64 ``text`` (RFC 4648 §4), else None.

    Canonical means what an encoder writes: the standard alphabet, exact ``=`` padding, no
    whitespace and zero unused trailing bits. Accepting only that form keeps one text per value,
    so a changed character in a key, a signature or a root is always a changed value.
    """
    try:
        raw = binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (UnicodeEncodeError, binascii.Error):
        return None
    if base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def check_line(text: str, what: str) -> None:
    """Raise FormatError unless ``text`` is one non-empty note line (signed-note character rules).

    A line may not contain a newline, an ASCII control character or a lone surrogate (which
    would not encode as UTF-8); any of these would make the signed note malformed.
    """
    if not text:
        raise FormatError(f"{what} is empty")
    for column, char in enumerate(text, start=1):
        code = ord(char)
        if code < 0x20:
            raise FormatError(f"{what} contains control character U+{code:04X} at column {column}")
        if 0xD800 <= code <= 0xDFFF:
            raise FormatError(f"{what} contains lone surrogate U+{code:04X} (not valid UTF-8)")


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: who (``origin``), how many leaves (``size``), which tree (``root``).

    ``extensions`` are the optional opaque lines after the root; the C2SP spec discourages them
    (monitors cannot audit them) but a verifier must carry them, since they are signed.
    Constructing a Checkpoint validates every field, so ``format()`` never emits a body that
    ``parse()`` would refuse.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_line(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise FormatError(f"checkpoint size must be an int, not {type(self.size).__name__}")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise FormatError(f"checkpoint size {self.size} is outside 0..{MAX_TREE_SIZE}")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            got = len(self.root) if isinstance(self.root, bytes) else type(self.root).__name__
            raise FormatError(f"checkpoint root must be {HASH_SIZE} bytes, got {got}")
        if not isinstance(self.extensions, tuple):
            raise FormatError("checkpoint extensions must be a tuple of lines")
        for number, line in enumerate(self.extensions, start=4):
            if not isinstance(line, str):
                raise FormatError(f"checkpoint extension line {number} is not text")
            check_line(line, f"checkpoint extension line {number}")

    @property
    def root_b64(self) -> str:
        """The root hash as the checkpoint writes it (standard base64)."""
        return base64.b64encode(self.root).decode("ascii")

    def format(self) -> str:
        """Return the note text: origin, size, root and extension lines, each ending in ``\\n``."""
        lines = [self.origin, str(self.size), self.root_b64, *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint body (the verified text of its note); raise FormatError naming the
        line that is wrong.

        Accepts exactly what :meth:`format` writes: at least three non-empty lines, each ending
        in a newline; a decimal size without sign or leading zeros; a canonical base64 root of
        32 bytes; any further non-empty lines are extensions.
        """
        if not text:
            raise FormatError("checkpoint is empty")
        if not text.endswith("\n"):
            raise FormatError("checkpoint does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise FormatError(
                f"checkpoint has {len(lines)} line(s); it needs origin, size and root hash"
            )
        origin, size_text, root_text, *extensions = lines
        check_line(origin, "checkpoint line 1 (origin)")
        if not _SIZE_RE.fullmatch(size_text):
            raise FormatError(
                f"checkpoint line 2 (tree size) {size_text[:40]!r} is not a decimal number "
                "without sign or leading zeros"
            )
        size = int(size_text)
        if size > MAX_TREE_SIZE:
            raise FormatError(f"checkpoint line 2 (tree size) {size} exceeds {MAX_TREE_SIZE}")
        root = decode_base64_strict(root_text)
        if root is None:
            raise FormatError(
                f"checkpoint line 3 (root hash) {root_text[:64]!r} is not canonical base64"
            )
        if len(root) != HASH_SIZE:
            raise FormatError(
                f"checkpoint line 3 (root hash) decodes to {len(root)} bytes, not {HASH_SIZE}"
            )
        for number, line in enumerate(extensions, start=4):
            check_line(line, f"checkpoint line {number} (extension)")
        return cls(origin, size, root, tuple(extensions))

    def __repr__(self) -> str:
        ext = f", extensions={self.extensions!r}" if self.extensions else ""
        return f"Checkpoint(origin={self.origin!r}, size={self.size}, root={self.root_b64}{ext})"
