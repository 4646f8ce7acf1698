"""Verifying export evidence: the checkpoint, the events' inclusion, order and claims, completeness.

The verifier reads a file (:mod:`auditlens.export.verify`) and hands the events' leaf hashes
here with the evidence; :func:`verify_evidence` adds each finding, with its stable code, to a
:class:`Report`, and the steps a person reads.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from auditlens.core.checkpoint import Checkpoint
from auditlens.core.completeness import (
    CompletenessResult,
    FilterCheck,
    check_completeness,
    check_filter,
    stated_filter,
)
from auditlens.core.errors import (
    Code,
    Finding,
    FormatError,
    VerificationError,
    format_ranges,
    merge_ranges,
)
from auditlens.core.evidence import FORMAT, FORMAT_V1, Evidence
from auditlens.core.evidence_tree import (
    evidence_root,
)
from auditlens.core.merkle import HASH_SIZE
from auditlens.core.note import verify_checkpoint

StepStatus = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Step:
    """One thing the verifier checked, for the report a person reads."""

    name: str
    status: StepStatus
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "status": self.status, "detail": self.detail}


@dataclass
class Report:
    """The outcome of verifying one export: the steps, the findings, and whether it verified.

    ``key_trusted`` is False when no key was given and the file's own key hint was used: such a
    report never counts as verified, whatever it found.
    """

    steps: list[Step] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    key_trusted: bool = False
    checkpoint: Checkpoint | None = None
    evidence: Evidence | None = None
    events: int = 0
    key_name: str | None = None
    """The signed-note name of the key the checkpoint verified with (or was meant to)."""
    completeness: CompletenessResult | None = None
    """None: the export carries no attestation (offline, ``--no-record`` or version 1)."""

    def step(self, name: str, status: StepStatus, detail: str) -> None:
        self.steps.append(Step(name, status, detail))

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)

    @property
    def failures(self) -> list[Finding]:
        """Findings that mean the export does not verify (informational ones excluded)."""
        return [f for f in self.findings if not f.code.informational]

    @property
    def consistent(self) -> bool:
        """True when nothing failed (with a trusted key or only the file's hint)."""
        return not self.failures and not any(s.status == "failed" for s in self.steps)

    @property
    def verified(self) -> bool:
        """True only when nothing failed AND the checkpoint was checked with a trusted key."""
        return self.consistent and self.key_trusted

    @property
    def status(self) -> str:
        """``verified``, ``failed`` or ``unverified`` (consistent, but no trusted key given)."""
        if not self.consistent:
            return "failed"
        return "verified" if self.key_trusted else "unverified"

    @property
    def completeness_status(self) -> str:
        """``complete``, ``failed`` or ``not attested`` (the export carries no record)."""
        return self.completeness.status if self.completeness else "not attested"

    def to_dict(self) -> dict[str, object]:
        ev = self.evidence
        cp = self.checkpoint
        return {
            "status": self.status,
            "verified": self.verified,
            "key_trusted": self.key_trusted,
            "origin": cp.origin if cp else (ev.origin if ev else None),
            "tree_size": cp.size if cp else (ev.tree_size if ev else None),
            "root": cp.root.hex() if cp else None,
            "key_name": self.key_name,
            "events": self.events,
            "format": (FORMAT if ev.version == 2 else FORMAT_V1) if ev else None,
            "completeness": self.completeness_status,
            "completeness_detail": self.completeness.detail if self.completeness else None,
            "exported_at": ev.exported_at if ev else None,
            "query": ev.query if ev else None,
            "filter": dict(ev.filter) if ev else None,
            "indexes": [list(r) for r in ev.indexes] if ev else [],
            "steps": [s.to_dict() for s in self.steps],
            "findings": [f.to_dict() for f in self.findings],
        }


def _position_label(position: int) -> str:
    return f"event #{position + 1}"


def _sample(labels: Sequence[str], limit: int = 5) -> str:
    more = f" and {len(labels) - limit} more" if len(labels) > limit else ""
    return ", ".join(labels[:limit]) + more


def match_events(
    evidence: Evidence,
    leaves: bytes,
    unreadable: Mapping[int, str] | None = None,
    label: Callable[[int], str] = _position_label,
) -> list[Finding]:
    """Compare the events of a file (their leaf hashes, in file order) with the evidence.

    ``leaves`` holds 32 bytes per event; ``unreadable`` maps positions whose event could not be
    read (its slot in ``leaves`` is ignored) to why. Events are matched to recorded leaf hashes
    by value; an unmatched event between two matched neighbours pairs with an unmatched record
    between theirs (EVENT_MODIFIED); records left alone are EVENT_MISSING, events left alone
    EVENT_INSERTED, a second copy of a matched event EVENT_INSERTED at that event's index, and
    matched events not in rising order EVENT_REORDERED.
    """
    unreadable = unreadable or {}
    recorded = evidence.leaf_hashes
    if leaves == recorded and not unreadable:
        return []
    m = evidence.count
    indexes = evidence.index_array()
    matched, used, duplicates, lone = _match_by_hash(leaves, recorded, m, unreadable)
    findings = _reordered(matched, indexes)
    free = [q for q in range(m) if not used[q]]
    modified, inserted = _pair_lone_events(matched, lone, free, m)
    if modified:
        parts = []
        for p, q in modified[:5]:
            why = unreadable.get(p)
            parts.append(f"{label(p)} (index {indexes[q]})" + (f": {why}" if why else ""))
        findings.append(
            Finding.at(
                Code.EVENT_MODIFIED,
                f"{len(modified)} event(s) differ from the bytes the log signed: "
                + _sample(parts, 5),
                (indexes[q] for _, q in modified),
            )
        )
    if free:
        missing = [indexes[q] for q in free]
        findings.append(
            Finding.at(
                Code.EVENT_MISSING,
                f"{len(missing)} event(s) listed in the evidence are not in the file",
                missing,
            )
        )
    if inserted:
        labels = [label(p) + (f" ({unreadable[p]})" if p in unreadable else "") for p in inserted]
        findings.append(
            Finding.at(
                Code.EVENT_INSERTED,
                f"{len(inserted)} event(s) in the file have no evidence (not part of this "
                f"signed export): {_sample(labels)}",
            )
        )
    if duplicates:
        labels = [f"{label(p)} repeats index {indexes[q]}" for p, q in duplicates]
        findings.append(
            Finding.at(
                Code.EVENT_INSERTED,
                f"{len(duplicates)} duplicate event(s): {_sample(labels)}",
                (indexes[q] for _, q in duplicates),
            )
        )
    return findings


def _match_by_hash(
    leaves: bytes, recorded: bytes, m: int, unreadable: Mapping[int, str]
) -> tuple[list[int], bytearray, list[tuple[int, int]], list[int]]:
    """Each file position's record (by leaf hash value; -1 when none), which records were
    used, the second copies ``(position, record)`` and the positions with no record."""
    n = len(leaves) // HASH_SIZE
    by_hash: dict[bytes, int] = {}
    for q in range(m):
        by_hash.setdefault(recorded[q * HASH_SIZE : (q + 1) * HASH_SIZE], q)
    used = bytearray(m)
    matched: list[int] = [-1] * n
    duplicates: list[tuple[int, int]] = []
    lone: list[int] = []
    for p in range(n):
        q = -1 if p in unreadable else by_hash.get(leaves[p * HASH_SIZE : (p + 1) * HASH_SIZE], -1)
        if q < 0:
            lone.append(p)
        elif used[q]:
            duplicates.append((p, q))
        else:
            used[q] = 1
            matched[p] = q
    return matched, used, duplicates, lone


def _reordered(matched: Sequence[int], indexes: Sequence[int]) -> list[Finding]:
    """The matched records, in file order, must rise; those out of place are reordered."""
    order = [q for q in matched if q >= 0]
    rising = sorted(order)
    out_of_place = [indexes[q] for q, s in zip(order, rising, strict=True) if q != s]
    if not out_of_place:
        return []
    return [
        Finding.at(
            Code.EVENT_REORDERED,
            f"{len(out_of_place)} event(s) are not in log order: each is authentic, but "
            "the file lists them in another order than the log",
            out_of_place,
        )
    ]


def _pair_lone_events(
    matched: Sequence[int], lone: Sequence[int], free: list[int], m: int
) -> tuple[list[tuple[int, int]], list[int]]:
    """Pair each lone event with a free record between its matched neighbours' records (an
    edited event, ``(position, record)``); the others were inserted. Paired records leave
    ``free``, which then holds the missing ones."""
    n = len(matched)
    prev_q = [-1] * n
    last = -1
    for p in range(n):
        prev_q[p] = last
        if matched[p] >= 0:
            last = matched[p]
    next_q = [m] * n
    last = m
    for p in range(n - 1, -1, -1):
        next_q[p] = last
        if matched[p] >= 0:
            last = matched[p]
    modified: list[tuple[int, int]] = []
    inserted: list[int] = []
    for p in lone:
        lo = bisect_right(free, prev_q[p])
        if lo < len(free) and free[lo] < next_q[p]:
            modified.append((p, free.pop(lo)))
        else:
            inserted.append(p)
    return modified, inserted


def verify_evidence(
    evidence: Evidence,
    leaves: bytes,
    vkeys: Sequence[str] | None,
    *,
    origin: str | None = None,
    unreadable: Mapping[int, str] | None = None,
    label: Callable[[int], str] = _position_label,
    report: Report | None = None,
    filter_check: FilterCheck | None = None,
) -> Report:
    """Verify ``evidence`` and the events of its file (``leaves``: their leaf hashes, in order).

    ``vkeys`` are the keys the user trusts; ``None`` falls back to the file's own key hint and
    the report is then at best ``unverified``. ``origin`` pins the log; by default it is the
    evidence's own ``origin`` field. ``filter_check`` (fed each event while the file was read)
    enables the filter check. Findings are added to ``report`` (a new one by default).
    """
    report = report if report is not None else Report()
    report.evidence = evidence
    report.events = len(leaves) // HASH_SIZE
    expected_origin = origin if origin is not None else evidence.origin
    if vkeys:
        keys: Sequence[str] = vkeys
        report.key_trusted = True
        key_note = "the trusted key you gave"
    else:
        keys = [evidence.vkey]
        key_note = "ONLY the key hint inside the file (not trusted: pass --vkey)"
    report.key_name = _key_name(keys[0])
    cp: Checkpoint | None = None
    try:
        cp = verify_checkpoint(evidence.checkpoint, keys, expected_origin)
    except VerificationError as exc:
        report.add(exc.finding)
        report.step("checkpoint signature", "failed", str(exc.finding))
    except FormatError as exc:  # only the file's hint can be malformed: callers check theirs
        finding = Finding.at(Code.UNTRUSTED_KEY, f"the file's key hint is not a vkey: {exc}")
        report.add(finding)
        report.step("checkpoint signature", "failed", str(finding))
    else:
        report.step(
            "checkpoint signature",
            "passed",
            f"signed checkpoint of {cp.origin!r}, size {cp.size}, checked with {key_note}",
        )
    report.checkpoint = cp
    if cp is not None and origin is not None and evidence.origin != cp.origin:
        report.add(
            Finding.at(
                Code.ORIGIN_MISMATCH,
                f"the evidence names origin {evidence.origin!r} but its checkpoint is for "
                f"{cp.origin!r}",
            )
        )
    all_ranges = list(evidence.indexes)
    if cp is None:
        report.step("inclusion proofs", "skipped", "no trusted checkpoint to check them against")
    elif cp.size != evidence.tree_size:
        report.add(
            Finding.at(
                Code.PROOF_MALFORMED,
                f"evidence.tree_size is {evidence.tree_size} but the checkpoint's size is "
                f"{cp.size}",
            )
        )
        report.step("inclusion proofs", "failed", "tree size disagrees with the checkpoint")
    else:
        try:
            root = evidence_root(cp.size, evidence.indexes, evidence.leaf_hashes, evidence.nodes)
        except VerificationError as exc:
            report.add(exc.finding)
            report.step("inclusion proofs", "failed", exc.message)
        else:
            if root == cp.root:
                report.step(
                    "inclusion proofs",
                    "passed",
                    f"the {evidence.count} recorded leaf hash(es) and "
                    f"{len(evidence.nodes) // HASH_SIZE} proof node(s) lead to the signed root",
                )
            else:
                report.add(
                    Finding.over(
                        Code.INCLUSION_FAILED,
                        "the recorded leaf hashes and proof nodes do not lead to the signed "
                        "root: the evidence was altered (a proof hash, or an event together "
                        "with its recorded hash); no event of this export can be trusted",
                        all_ranges,
                    )
                )
                report.step("inclusion proofs", "failed", "root mismatch")
    findings = match_events(evidence, leaves, unreadable, label)
    for f in findings:
        report.add(f)
    n = report.events
    if findings:
        report.step(
            "events against evidence",
            "failed",
            "; ".join(
                f"{f.code} ({format_ranges(merge_ranges(f.ranges), 5) or '-'})" for f in findings
            ),
        )
    else:
        report.step(
            "events against evidence",
            "passed",
            f"{n} event(s), each byte-identical to its recorded leaf, in log order, "
            "none missing, none extra",
        )
    _check_claims(evidence, leaves, unreadable or {}, filter_check, keys, expected_origin, report)
    return report


def _key_name(vkey: str) -> str | None:
    name = vkey.split("+", 1)[0] if isinstance(vkey, str) else ""
    return name or None


def _index_finder(
    evidence: Evidence, leaves: bytes, unreadable: Mapping[int, str]
) -> Callable[[int], int | None]:
    """Map a position in the file to the log index of its event when authentic, else None."""
    indexes = evidence.index_array()
    if leaves == evidence.leaf_hashes and not unreadable:
        return indexes.__getitem__
    by_hash: dict[bytes, int] = {}

    def index_of(p: int) -> int | None:
        if p in unreadable:
            return None
        if not by_hash:  # built only when the file and the evidence disagree somewhere
            for q in range(evidence.count):
                by_hash[evidence.leaf_hashes[q * HASH_SIZE : (q + 1) * HASH_SIZE]] = indexes[q]
        return by_hash.get(leaves[p * HASH_SIZE : (p + 1) * HASH_SIZE])

    return index_of


def _check_claims(  # noqa: PLR0917 (private; one call site)
    evidence: Evidence,
    leaves: bytes,
    unreadable: Mapping[int, str],
    filter_check: FilterCheck | None,
    keys: Sequence[str],
    origin: str,
    report: Report,
) -> None:
    """The filter check and, for attested exports, the completeness check."""
    record = evidence.completeness.record if evidence.completeness else None
    stated = stated_filter(evidence.filter, record)
    outside: list[int] = []
    if filter_check is None or filter_check.filter != stated:
        report.step("filter", "skipped", "the events were not checked against the filter")
    else:
        index_of = _index_finder(evidence, leaves, unreadable)
        found, outside, detail = check_filter(filter_check, index_of)
        for f in found:
            report.add(f)
        status: StepStatus = "failed" if found else "passed"
        report.step("filter", "skipped" if detail.startswith("not checked") else status, detail)
    if evidence.completeness is None:
        why = "a version 1 file" if evidence.version == 1 else "made offline or with --no-record"
        report.step(
            "completeness",
            "skipped",
            f"NOT ATTESTED ({why}): the log has not vouched for this export's filter and count, "
            "so it proves each event is in the log, not that none was left out",
        )
        return
    result = check_completeness(
        evidence.completeness,
        evidence_filter=evidence.filter,
        tree_size=evidence.tree_size,
        indexes=evidence.index_array(),
        leaf_hashes=evidence.leaf_hashes,
        outside_filter=outside,
        keys=keys,
        origin=origin,
    )
    report.completeness = result
    for f in result.findings:
        report.add(f)
    report.step(
        "completeness", "passed" if result.status == "complete" else "failed", result.detail
    )


def parse_evidence(obj: object, report: Report) -> Evidence | None:
    """Parse ``obj`` into ``report``: a malformed evidence object is a PROOF_MALFORMED finding."""
    try:
        return Evidence.from_obj(obj)
    except FormatError as exc:
        report.add(Finding.at(Code.PROOF_MALFORMED, f"the evidence is malformed: {exc}"))
        report.step("evidence format", "failed", str(exc))
        return None
