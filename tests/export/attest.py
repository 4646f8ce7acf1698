"""The server's side of recording an export, played over a MemoryLog (for export tests).

It does what the route does (canonical filter, the matching set over the tree size, count and
digest, the record appended and proven under a new checkpoint), with the shared filter
semantics of :mod:`auditlens.core.export_filter`.
"""

from __future__ import annotations

import random

from auditlens.core import merkle
from auditlens.core.canonical import canonicalize_event
from auditlens.core.completeness import ATTESTATION_FORMAT, Completeness, attested_digest
from auditlens.core.event_ids import EventIdGenerator
from auditlens.core.export_filter import EventMatcher, canonical_filter
from auditlens.core.note import Checkpoint, sign_checkpoint
from auditlens.core.timestamps import format_timestamp
from auditlens.export.writer import AttestRequest
from tests.export.logs import T0, MemoryLog


def matching(log: MemoryLog, flt: dict[str, object], size: int | None = None) -> list[int]:
    """The indexes of ``log``'s events below ``size`` that match ``flt``."""
    matcher = EventMatcher.of(flt)
    n = log.size if size is None else size
    return [i for i in range(n) if matcher.matches(log.events[i])]


class LogServer:
    """The server's side of recording an export, over a MemoryLog."""

    def __init__(
        self, log: MemoryLog, *, lie: int = 0, min_index: int = 0, record_at: int | None = None
    ) -> None:
        self.log = log
        # A server holding the key that signs a second history: the record as entry
        # ``record_at`` of a tree that is the log's up to it (None: appended, as it must be).
        self.record_at = record_at
        self.lie = lie  # drop this many events from the answer (a server that disagrees)
        self.min_index = min_index  # the retention floor: entries below it were pruned
        self.requests: list[AttestRequest] = []

    def __call__(self, request: AttestRequest) -> Completeness:
        self.requests.append(request)
        flt = canonical_filter(request.filter)
        chosen = [i for i in matching(self.log, flt, request.tree_size) if i >= self.min_index]
        chosen = chosen[self.lie :]
        leaves = b"".join(self.log.leaves[i] for i in chosen)
        count, digest = attested_digest(chosen, leaves, self.min_index)
        ts = T0 + 10_000_000
        record = {
            "id": EventIdGenerator(random.Random(3)).new(ts),
            "timestamp": format_timestamp(ts),
            "type": "audit.exported",
            "user_id": "usr_0",
            "task_id": None,
            "agent_id": None,
            "event": {
                "outcome": "success",
                "attestation": ATTESTATION_FORMAT,
                "format": request.format,
                "filter": flt,
                "tree_size": request.tree_size,
                "count": count,
                "digest": digest,
                "min_index": self.min_index,
            },
        }
        raw = canonicalize_event(record)
        kept = self.log.leaves if self.record_at is None else self.log.leaves[: self.record_at]
        leaves_after = [*kept, merkle.leaf_hash(raw)]
        size = len(leaves_after)
        cp = Checkpoint(self.log.origin, size, merkle.root(leaves_after))
        proof = merkle.inclusion_proof(leaves_after, size - 1, size)
        return Completeness(
            raw.decode(), size - 1, sign_checkpoint(cp, self.log.skey), tuple(proof)
        )
