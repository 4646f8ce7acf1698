"""Retention by plan: remove old entry bodies, keep every hash, say so in the log.

Decisions:

* Business keeps 90 days, Enterprise 730 (``accounts.PLANS``). An entry may go once it is
  older than that; pruning works in whole entry bundles (tlog-tiles pruning), so the new
  ``min_index`` is the first expired-or-not index rounded *down* to a multiple of 256: a bundle
  holding any entry still under retention is kept whole (we keep slightly more, never less).
* One transaction: append an ``audit.retention_pruned`` event with ``min_index``,
  ``policy_days``, the previous ``min_index`` and the cutoff time (signed by the checkpoint the
  append makes), then raise ``organizations.min_index`` (the database refuses a raise no such
  event records, see :mod:`.schema`) and set ``body`` to NULL below it (the only UPDATE the
  entries trigger allows). Leaf hashes and
  tree nodes stay, so inclusion and consistency proofs of everything still work, and a
  verifier can tell pruning (``PRUNED_BY_POLICY``, covered by a signed event) from loss.
* Pruning is idempotent: nothing to prune means no event.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from auditlens.core.tiles import TILE_WIDTH
from auditlens.core.timestamps import format_timestamp
from auditlens.core.validation import validate_submission
from auditlens.server.accounts import PLANS
from auditlens.server.queries import first_index_at
from auditlens.server.schema import RETENTION_EVENT, entries, organizations
from auditlens.server.sequencer import Sequencer, lock_log

DAY_MS = 86_400_000


@dataclass(frozen=True)
class PruneResult:
    org_id: str
    previous_min_index: int
    min_index: int
    policy_days: int
    event_index: int


def prune(sequencer: Sequencer, org_id: str, now_ms: int | None = None) -> PruneResult | None:
    """Prune ``org_id`` by its plan's retention as of ``now_ms``; None when nothing expired."""
    now = sequencer.clock() if now_ms is None else now_ms
    with sequencer.db.write() as conn:
        lock_log(conn, org_id)  # before any read: the append below takes the same lock
        org = conn.execute(
            sa.select(
                organizations.c.plan, organizations.c.min_index, organizations.c.tree_size
            ).where(organizations.c.id == org_id)
        ).one()
        days = PLANS[org.plan]
        cutoff = now - days * DAY_MS
        first_kept = first_index_at(conn, org_id, cutoff)
        boundary = int(org.tree_size) if first_kept is None else int(first_kept)
        new_min = boundary // TILE_WIDTH * TILE_WIDTH
        old_min = int(org.min_index)
        if new_min <= old_min:
            return None
        event = {
            "type": RETENTION_EVENT,
            "user_id": None,
            "task_id": None,
            "agent_id": None,
            "event": {
                "outcome": "success",
                "min_index": new_min,
                "previous_min_index": old_min,
                "policy_days": days,
                "cutoff": format_timestamp(cutoff),
            },
        }
        validate_submission(event)
        appended = sequencer.append_in(conn, org_id, [event])
        conn.execute(
            sa.update(organizations).where(organizations.c.id == org_id).values(min_index=new_min)
        )
        conn.execute(
            sa.update(entries)
            .where(entries.c.org_id == org_id, entries.c.idx >= old_min, entries.c.idx < new_min)
            .values(body=None)
        )
    return PruneResult(org_id, old_min, new_min, days, appended.first_index)
