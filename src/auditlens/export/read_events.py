"""What every export reader shares: per-event leaf hashes, and the interface a reader fills.

Each format has its own reader (:mod:`~auditlens.export.read_json`,
:mod:`~auditlens.export.read_csv`, :mod:`~auditlens.export.read_ndjson`,
:mod:`~auditlens.export.read_html`); each turns its file into a :class:`Reading`: the events'
leaf hashes in file order (:class:`EventLeaves`), the evidence when the file embeds it, how to
name a position for a person, and the format's own checks once the evidence is checked.
:mod:`auditlens.export.verify` runs the same evidence checks on every reading.

Two readings of an event are refused everywhere (:func:`event_leaf`): a number with a fraction
or exponent, and duplicate member names; see :func:`float_problem`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

from auditlens.core import canonical
from auditlens.core.completeness import FilterCheck, stated_filter
from auditlens.core.errors import Code, Finding, FormatError
from auditlens.core.evidence import Evidence
from auditlens.core.evidence_check import Report, verify_evidence

NO_HASH = bytes(32)
"""The leaf hash recorded for an event that could not be read (it matches nothing)."""
_MAX_SAFE = 2**53 - 1


def not_this_format(report: Report, message: str, detail: str) -> None:
    """The file is not a readable export of its kind: FILE_MODIFIED saying ``message``, and
    the "file format" step failed with ``detail`` (every reader ends its reading there)."""
    report.add(Finding.at(Code.FILE_MODIFIED, message))
    report.step("file format", "failed", detail)


@dataclass
class EventLeaves:
    """Leaf hashes of a file's events in order, and why some could not be read."""

    leaves: bytearray = field(default_factory=bytearray)
    unreadable: dict[int, str] = field(default_factory=dict)
    check: FilterCheck | None = None
    """Checks each event against the stated filter as it is read (None: filter unknown)."""
    known: bytes | None = None
    """The evidence's recorded leaf hashes when read before the events (sidecars)."""

    def add(self, body: bytes) -> dict[str, object] | None:
        position = len(self.leaves) // 32
        known = self.known
        expected = known[position * 32 : position * 32 + 32] if known is not None else None
        leaf, why, obj = event_leaf(body, expected)
        self.leaves += leaf
        if why is not None:
            self.unreadable[position] = why
        if self.check is not None:
            self.check.add(obj)
        return obj

    def add_item(self, item: object) -> bytes | None:
        """Add an event already parsed from a whole document; return its canonical bytes."""
        why = float_problem(item)
        if why is None:
            try:
                body = (
                    canonical.canonicalize_event(item)
                    if isinstance(item, dict)
                    else orjson.dumps(item, default=str)
                )
            except (FormatError, TypeError, ValueError) as exc:
                why = str(exc)
            else:
                self.add(body)
                return body
        self.add_unreadable(why)
        return None

    def add_unreadable(self, why: str) -> None:
        self.unreadable[self.count] = why
        self.leaves += NO_HASH
        if self.check is not None:
            self.check.add(None)

    @property
    def count(self) -> int:
        return len(self.leaves) // 32

    def verify(
        self,
        evidence: Evidence,
        vkeys: Sequence[str] | None,
        origin: str | None,
        label: Callable[[int], str],
        report: Report,
    ) -> None:
        """Check these events against ``evidence`` (the same checks for every file format)."""
        verify_evidence(
            evidence,
            bytes(self.leaves),
            vkeys,
            origin=origin,
            unreadable=self.unreadable,
            label=label,
            report=report,
            filter_check=self.check,
        )


def event_leaf(
    body: bytes, expected: bytes | None = None
) -> tuple[bytes, str | None, dict[str, object] | None]:
    """Return ``(leaf hash, why unreadable or None, parsed event)`` of one event's JSON text.

    ``expected`` is the leaf hash the evidence records at this position, when known: text that
    hashes to it *is* the signed canonical bytes (or SHA-256 has a collision), so it needs no
    re-canonicalization. Anything else is re-canonicalized and strictly re-parsed.
    """
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        return NO_HASH, f"not valid JSON ({exc})", None
    if not isinstance(obj, dict):
        return NO_HASH, "not a JSON object", None
    if expected is not None:
        leaf = hashlib.sha256(b"\x00" + body).digest()
        if leaf == expected:
            return leaf, None, obj
    try:
        canon = canonical.canonicalize_event(obj)
        if canon != body:
            canonical.loads(body)  # strict: rejects duplicate names that orjson let through
            why = float_problem(obj)
            if why is not None:
                return NO_HASH, why, None
    except FormatError as exc:
        return NO_HASH, str(exc), None
    return hashlib.sha256(b"\x00" + canon).digest(), None, obj


def float_problem(value: object, path: str = "") -> str | None:
    """Say where ``value`` holds a non-integer number, or None when it holds none.

    The log signs no floats (docs/evidence-format.md §1.1), yet RFC 8785 maps ``1.0``, ``1e0`` and
    ``1.0000000000000001`` all to the signed ``1``: the canonical bytes would match while a
    reader that keeps decimal literals (``jq`` 1.7, a SIEM with big decimals) shows another
    value than the one signed. Like a duplicate member name, such an event has two readings,
    so it is not trusted.
    """
    if isinstance(value, float):
        where = path.lstrip(".") or "the top level"
        if not abs(value) <= _MAX_SAFE:  # 2**70, infinities and NaN alike
            return (
                f"the number at {where} is out of range: the log signs integers within "
                "±(2^53−1) only, and beyond that JSON readers disagree on its value"
            )
        return (
            f"the number at {where} is written with a fraction or exponent; the log signs "
            "integers only, so it may read as another value than the one signed"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            why = float_problem(item, f"{path}.{key}")
            if why is not None:
                return why
    elif isinstance(value, list):
        for n, item in enumerate(value):
            why = float_problem(item, f"{path}[{n}]")
            if why is not None:
                return why
    return None


def filter_check_for(evidence: object) -> FilterCheck | None:
    """The filter check for a raw evidence object (None when it is not an object)."""
    if not isinstance(evidence, dict):
        return None
    completeness = evidence.get("completeness")
    record = completeness.get("record") if isinstance(completeness, dict) else None
    return FilterCheck(stated_filter(evidence.get("filter"), record))


def filter_check_of(evidence: Evidence) -> FilterCheck:
    record = evidence.completeness.record if evidence.completeness else None
    return FilterCheck(stated_filter(evidence.filter, record))


@dataclass
class Reading:
    """What a reader made of one file: the interface between the readers and the verifier."""

    events: EventLeaves
    label: Callable[[int], str]
    """Names the event at a position for a person (``row 3``, ``line 2``, ``step #4``)."""
    evidence: object = None
    """The raw evidence object when the file embeds it (JSON, HTML); None for a sidecar's."""
    data_file: tuple[str, int] | None = None
    """The data file's SHA-256 and size as read (CSV, NDJSON: the sidecar records both)."""
    finish: Callable[[Evidence, Report], None] | None = None
    """The format's own checks, run after the evidence checks (CSV cells, a report's text)."""
