"""Verification failures with stable codes (architecture.md §4).

Verification never ends in one vague "invalid": every failure is a :class:`Finding` with a
stable :class:`Code`, the log indexes (or inclusive index ranges) it concerns, and a sentence a
person understands. Code that must stop at the first failure raises :class:`VerificationError`,
which carries one finding; code that checks a whole file (the offline verifier) collects many
findings and reports them all.

Beyond the codes architecture.md §4 lists, two name what a lone Merkle proof check can tell:
``INCLUSION_FAILED`` (a well-formed inclusion proof does not lead from the leaf to the signed
root: the leaf or the proof was changed, and only a caller that knows more, such as the recorded
leaf hash of an export, can say which). A failed consistency check needs no code of its own: an
inconsistent pair of signed checkpoints *is* a fork, so it reports ``LOG_FORKED``.

Three codes concern what an export claims to answer (docs/evidence-format.md):
``FILTER_MISMATCH`` (an exported event does not match the filter the export states, or the
stated filter is not the one the log recorded), ``EVENTS_OMITTED`` (events the log attests as
matching are not in the export) and ``EVENTS_ADDED`` (the export holds events outside the log's
attested answer).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum


class Code(StrEnum):
    """Stable identifiers of what verification found; tools may match on them."""

    EVENT_MODIFIED = "EVENT_MODIFIED"
    EVENT_MISSING = "EVENT_MISSING"
    EVENT_INSERTED = "EVENT_INSERTED"
    EVENT_REORDERED = "EVENT_REORDERED"
    LOG_TRUNCATED = "LOG_TRUNCATED"
    LOG_FORKED = "LOG_FORKED"
    CHECKPOINT_BAD_SIGNATURE = "CHECKPOINT_BAD_SIGNATURE"
    UNTRUSTED_KEY = "UNTRUSTED_KEY"
    ORIGIN_MISMATCH = "ORIGIN_MISMATCH"
    PROOF_MALFORMED = "PROOF_MALFORMED"
    INCLUSION_FAILED = "INCLUSION_FAILED"
    FILE_MODIFIED = "FILE_MODIFIED"
    PRUNED_BY_POLICY = "PRUNED_BY_POLICY"
    FILTER_MISMATCH = "FILTER_MISMATCH"
    EVENTS_OMITTED = "EVENTS_OMITTED"
    EVENTS_ADDED = "EVENTS_ADDED"

    @property
    def informational(self) -> bool:
        """True for codes that describe the log without meaning it failed verification."""
        return self is Code.PRUNED_BY_POLICY


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Return inclusive ranges sorted, with overlapping or adjacent ones merged."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def compress_ranges(indexes: Iterable[int]) -> list[tuple[int, int]]:
    """Return merged inclusive ranges of ``indexes``: ``[1,2,3,7]`` -> ``[(1, 3), (7, 7)]``."""
    return merge_ranges((i, i) for i in indexes)


def format_ranges(ranges: Sequence[tuple[int, int]], limit: int = 20) -> str:
    """Return ranges as people write them (``"3, 7-9, 12"``); long lists end in ``"… (N more)"``."""
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in ranges[:limit]]
    if len(ranges) > limit:
        parts.append(f"… ({len(ranges) - limit} more)")
    return ", ".join(parts)


@dataclass(frozen=True)
class Finding:
    """One thing verification found: a code, where (inclusive index ranges), and why in words."""

    code: Code
    message: str
    ranges: tuple[tuple[int, int], ...] = field(default=())

    @classmethod
    def at(cls, code: Code, message: str, indexes: Iterable[int] = ()) -> Finding:
        """Build a finding from individual log indexes (merged into ranges)."""
        return cls(code, message, tuple(compress_ranges(indexes)))

    @classmethod
    def over(cls, code: Code, message: str, ranges: Iterable[tuple[int, int]]) -> Finding:
        """Build a finding from inclusive index ranges (merged)."""
        return cls(code, message, tuple(merge_ranges(ranges)))

    @property
    def indexes(self) -> list[int]:
        """Every index the finding concerns (expanded from its ranges)."""
        return [i for a, b in self.ranges for i in range(a, b + 1)]

    def __str__(self) -> str:
        where = f" (indexes {format_ranges(self.ranges)})" if self.ranges else ""
        return f"{self.code}: {self.message}{where}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready form for tools (``auditlens verify --json``)."""
        return {
            "code": str(self.code),
            "message": self.message,
            "ranges": [list(r) for r in self.ranges],
        }


class VerificationError(Exception):
    """Verification failed; ``code``, ``ranges`` and ``message`` say what, where and why."""

    def __init__(
        self,
        code: Code,
        message: str,
        indexes: Iterable[int] = (),
        ranges: Iterable[tuple[int, int]] = (),
    ) -> None:
        merged = merge_ranges([*((i, i) for i in indexes), *ranges])
        self.finding = Finding(code, message, tuple(merged))
        super().__init__(str(self.finding))

    @property
    def code(self) -> Code:
        return self.finding.code

    @property
    def message(self) -> str:
        return self.finding.message

    @property
    def ranges(self) -> tuple[tuple[int, int], ...]:
        return self.finding.ranges

    @property
    def indexes(self) -> list[int]:
        return self.finding.indexes


class FormatError(ValueError):
    """Input is not in the expected format (a note, a checkpoint, a tile, an event).

    The message names what is wrong and where; it never contains secret key material.
    """


class ExportRefusedError(Exception):
    """The log copy did not verify (or changed) and no export was written.

    Defined here, beside :class:`Finding`, because both sides of an export raise it: the export
    writer and the mirror's snapshot it reads from (which must not import the export layer).
    """

    def __init__(self, finding: Finding) -> None:
        self.finding = finding
        super().__init__(
            f"Export refused: {finding}. Nothing was written. Sync again and retry; if it "
            "persists, the local copy or the server's log was altered."
        )

    @property
    def code(self) -> Code:
        return self.finding.code


def got(value: object) -> str:
    """Describe a value for an error message: short, JSON-like, never a wall of text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return json.dumps(shown)
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return f"a {type(value).__name__}"
