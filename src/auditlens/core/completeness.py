"""Checking what an export claims to answer: its filter, and the log's completeness attestation.

Inclusion proofs show each exported event is in the signed log; they cannot show that the
export holds *every* event its filter matches, nor that the filter is what was asked. Two
checks close that gap (docs/evidence-format.md, "Completeness attestation"):

* **Filter** (``FILTER_MISMATCH``): every exported event must match the filter the export
  states; a filter rewritten after the fact (to a task none of the events belong to, say) no
  longer sits next to a "verified".
* **Completeness** (``EVENTS_OMITTED`` / ``EVENTS_ADDED``): evidence v2 carries the
  ``audit.exported`` record the *server* appended when the export was made, with its inclusion
  proof under a checkpoint of the same log. The record states the canonical filter, the tree
  size, the retention floor ``min_index``, and the count and digest of every retained event of
  ``[min_index, tree_size)`` matching the filter. The verifier recomputes count and digest from
  the export's proven leaf hashes; equal means the export is the log's complete answer.

An export without the record (made offline, or with ``--no-record``) still verifies its
inclusion; the report says plainly that its completeness is not attested.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from auditlens.core import canonical
from auditlens.core.errors import Code, Finding, FormatError, VerificationError
from auditlens.core.export_filter import EventMatcher
from auditlens.core.merkle import HASH_SIZE, leaf_hash, verify_inclusion
from auditlens.core.note import verify_checkpoint

ATTESTATION_FORMAT = "auditlens-completeness/1"
"""The ``attestation`` field of an ``audit.exported`` record carrying count and digest."""


@dataclass(frozen=True)
class Completeness:
    """The ``completeness`` member of evidence v2: the server's record and its proof."""

    record: str
    """The record's exact canonical JSON text (its UTF-8 bytes are the log entry)."""
    index: int
    checkpoint: str
    proof: tuple[bytes, ...]

    def to_obj(self) -> dict[str, object]:
        return {
            "record": self.record,
            "index": self.index,
            "checkpoint": self.checkpoint,
            "proof": [base64.b64encode(h).decode("ascii") for h in self.proof],
        }

    @classmethod
    def from_obj(cls, obj: object) -> Completeness | None:
        """Parse ``evidence.completeness`` (``null`` = not attested); FormatError otherwise."""
        if obj is None:
            return None
        if not isinstance(obj, dict):
            raise FormatError("evidence.completeness must be an object or null")
        record, note, index, proof = (
            obj.get(k) for k in ("record", "checkpoint", "index", "proof")
        )
        if not isinstance(record, str) or not isinstance(note, str):
            raise FormatError("evidence.completeness.record and .checkpoint must be strings")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise FormatError("evidence.completeness.index must be a non-negative integer")
        if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
            raise FormatError("evidence.completeness.proof must be a list of base64 hashes")
        hashes: list[bytes] = []
        for h in proof:
            try:
                raw = binascii.a2b_base64(h.encode("ascii"), strict_mode=True)
            except (UnicodeEncodeError, binascii.Error):
                raw = b""
            if len(raw) != HASH_SIZE:
                raise FormatError("evidence.completeness.proof holds a value that is not a hash")
            hashes.append(raw)
        return cls(record=record, index=index, checkpoint=note, proof=tuple(hashes))


@dataclass(frozen=True)
class Attestation:
    """The fields of a parsed ``audit.exported`` record that the check compares."""

    filter: dict[str, object]
    tree_size: int
    count: int
    digest: str
    min_index: int
    user_id: object
    timestamp: object

    @classmethod
    def parse(cls, record: str) -> Attestation:
        try:
            obj = canonical.loads(record.encode("utf-8"))
        except (FormatError, UnicodeEncodeError) as exc:
            raise FormatError(f"the completeness record is not valid JSON: {exc}") from None
        body = obj.get("event") if isinstance(obj, dict) else None
        if not isinstance(obj, dict) or obj.get("type") != "audit.exported":
            raise FormatError("the completeness record is not an audit.exported event")
        if not isinstance(body, dict) or body.get("attestation") != ATTESTATION_FORMAT:
            raise FormatError(f"the completeness record does not carry {ATTESTATION_FORMAT!r}")
        numbers = [body.get(k) for k in ("tree_size", "count", "min_index")]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
            raise FormatError("the completeness record's tree_size, count, min_index are bad")
        digest, flt = body.get("digest"), body.get("filter")
        if not isinstance(digest, str) or len(digest) != 64 or not isinstance(flt, dict):
            raise FormatError("the completeness record's digest or filter is malformed")
        tree_size, count, min_index = (int(str(n)) for n in numbers)
        return cls(
            flt, tree_size, count, digest, min_index, obj.get("user_id"), obj.get("timestamp")
        )


def attested_digest(indexes: Sequence[int], leaf_hashes: bytes, min_index: int) -> tuple[int, str]:
    """Count and digest of the exported events at or above ``min_index`` (the normative form).

    SHA-256 over ``uint64_be(index) || leaf_hash`` of each, in ascending index order.
    """
    digest = hashlib.sha256()
    count = 0
    step = 1 << 16
    start = next((p for p, i in enumerate(indexes) if i >= min_index), len(indexes))
    for lo in range(start, len(indexes), step):
        hi = min(len(indexes), lo + step)
        digest.update(
            b"".join(
                indexes[p].to_bytes(8, "big") + leaf_hashes[p * HASH_SIZE : (p + 1) * HASH_SIZE]
                for p in range(lo, hi)
            )
        )
        count += hi - lo
    return count, digest.hexdigest()


def stated_filter(evidence_filter: object, record: object) -> object:
    """The filter an export's events must match: the record's when it has one, else its own."""
    if isinstance(record, str):
        with contextlib.suppress(FormatError):
            return Attestation.parse(record).filter
    return evidence_filter


class FilterCheck:
    """Checks each event against the stated filter while a file is read; keeps only misses.

    Readers know the evidence before the events (a sidecar is read first; a JSON export's
    evidence line is read ahead), so nothing is kept per event: a million-event file costs the
    check nothing when the filter is empty, and one comparison per event otherwise.
    """

    def __init__(self, flt: object) -> None:
        self.filter = flt
        self.outside: list[int] = []
        self.seen = 0
        self.matcher: EventMatcher | None = None
        self.why = ""
        try:
            self.matcher = EventMatcher.of(flt)
        except FormatError as exc:
            self.why = f"not checked: the filter is not one this format defines ({exc})"
        self._trivial = self.matcher == EventMatcher.of({})

    def add(self, event: Mapping[str, object] | None) -> None:
        """Check the next event (None: unreadable, reported elsewhere)."""
        position = self.seen
        self.seen += 1
        if event is None or self.matcher is None or self._trivial:
            return
        if not self.matcher.matches(event):
            self.outside.append(position)


def _fmt(flt: Mapping[str, object]) -> str:
    return canonical.canonicalize(dict(flt)).decode("utf-8")


def check_filter(
    check: FilterCheck, index_of: Callable[[int], int | None]
) -> tuple[list[Finding], list[int], str]:
    """FILTER_MISMATCH for authentic exported events outside the stated filter; returns the
    findings, their log indexes, and a sentence for the report step.

    ``index_of(p)`` is the log index of the file's p-th event when it is authentic, else None
    (such an event is already reported as modified or inserted).
    """
    if check.matcher is None:
        return [], [], check.why
    stated = check.filter if isinstance(check.filter, Mapping) else {}
    bad = [i for p in check.outside if (i := index_of(p)) is not None]
    unchecked = check.matcher.unchecked
    note = f" ({', '.join(unchecked)} is not in the signed events)" if unchecked else ""
    if not bad:
        return [], [], f"every event matches the filter {_fmt(stated)}{note}"
    finding = Finding.at(
        Code.FILTER_MISMATCH,
        f"{len(bad)} exported event(s) do not match the filter the export states, "
        f"{_fmt(stated)}: the filter or the selection was changed",
        bad,
    )
    return [finding], bad, f"{len(bad)} event(s) outside the filter"


@dataclass
class CompletenessResult:
    """What the completeness check concluded, for the report."""

    status: str  # "complete", "failed", "not attested"
    detail: str
    findings: list[Finding] = field(default_factory=list)
    attestation: Attestation | None = None


def check_completeness(
    completeness: Completeness,
    *,
    evidence_filter: Mapping[str, object],
    tree_size: int,
    indexes: Sequence[int],
    leaf_hashes: bytes,
    outside_filter: Sequence[int],
    keys: Sequence[str],
    origin: str,
) -> CompletenessResult:
    """Check the record is in the log and attests exactly the exported, proven events."""
    fail: list[Finding] = []
    try:
        att = Attestation.parse(completeness.record)
    except FormatError as exc:
        f = Finding.at(Code.PROOF_MALFORMED, str(exc))
        return CompletenessResult("failed", str(exc), [f])
    try:
        cp = verify_checkpoint(completeness.checkpoint, keys, origin)
        proof = list(completeness.proof)
        verify_inclusion(
            leaf_hash(completeness.record.encode("utf-8")),
            completeness.index,
            cp.size,
            proof,
            cp.root,
        )
    except VerificationError as exc:
        why = f"the audit.exported record is not proven to be in the log: {exc.finding.message}"
        return CompletenessResult("failed", why, [Finding.at(exc.finding.code, why)], att)
    except FormatError as exc:
        why = f"the completeness record's checkpoint is malformed: {exc}"
        return CompletenessResult("failed", why, [Finding.at(Code.PROOF_MALFORMED, why)], att)
    where = f"record at index {completeness.index}, checkpoint size {cp.size}"
    if att.tree_size != tree_size:
        fail.append(
            Finding.at(
                Code.FILE_MODIFIED,
                f"the log's record attests an export at tree size {att.tree_size}, but this "
                f"evidence proves size {tree_size}: the record belongs to another export",
            )
        )
    elif completeness.index < tree_size:  # M >= N: the record follows what it attests
        fail.append(
            Finding.at(
                Code.FILE_MODIFIED,
                f"the log's record sits at index {completeness.index}, inside the tree of size "
                f"{tree_size} it attests: a record is appended after the checkpoint of its "
                "export, so this one cannot be that export's",
                [completeness.index],
            )
        )
    if dict(evidence_filter) != att.filter:
        fail.append(
            Finding.at(
                Code.FILTER_MISMATCH,
                f"the export states the filter {_fmt(evidence_filter)} but the log recorded "
                f"{_fmt(att.filter)}",
            )
        )
    count, digest = attested_digest(indexes, leaf_hashes, att.min_index)
    if (count, digest) != (att.count, att.digest):
        outside = [i for i in outside_filter if i >= att.min_index]
        matching = count - len(outside)
        answer = (
            f"the log attests {att.count:,} event(s) matching the filter at size {att.tree_size:,}"
        )
        if outside or matching > att.count:
            extra = max(0, matching - att.count)
            fail.append(
                Finding.at(
                    Code.EVENTS_ADDED,
                    f"{len(outside) + extra:,} exported event(s) are not in the log's answer "
                    f"({answer})"
                    + (f"; {len(outside):,} of them do not match the filter" if outside else ""),
                    outside,
                )
            )
        if matching < att.count:
            fail.append(
                Finding.at(
                    Code.EVENTS_OMITTED,
                    f"{att.count - matching:,} event(s) matching the filter are not in the "
                    f"export ({answer}; the export holds {matching:,})",
                )
            )
        if matching == att.count and not outside:
            swapped = "the export holds as many events as the log's answer, but other ones"
            fail.append(Finding.at(Code.EVENTS_OMITTED, f"{swapped}: some were left out"))
            fail.append(Finding.at(Code.EVENTS_ADDED, f"{swapped}: some were put in"))
    below = sum(1 for i in indexes if i < att.min_index)
    info: list[Finding] = []
    if below:
        info.append(
            Finding.at(
                Code.PRUNED_BY_POLICY,
                f"{below:,} exported event(s) lie below the retention floor {att.min_index:,}: "
                "the log no longer retains them, so the attestation does not cover them",
            )
        )
    if fail:
        return CompletenessResult("failed", f"{where}: does not match the export", fail + info, att)
    detail = (
        f"{where}, by user {att.user_id} at {att.timestamp}: the log attests {att.count:,} "
        f"event(s) match {_fmt(att.filter)} in [{att.min_index:,}, {att.tree_size:,}); the "
        "export holds exactly those"
    )
    return CompletenessResult("complete", detail, info, att)
