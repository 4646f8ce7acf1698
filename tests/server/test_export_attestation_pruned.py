"""The attestation after retention pruning: only retained events count, and it says from where."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import sqlalchemy as sa

from auditlens.server.retention import prune
from auditlens.server.schema import entries
from tests.server.conftest import running_api, sample_event


def test_a_pruned_log_attests_its_retained_events_and_its_floor(tmp_path: Path) -> None:
    with running_api("sqlite", tmp_path) as api:
        for start in range(0, 300, 100):
            r = api.ingest([sample_event(n) for n in range(start, start + 100)])
            assert r.status_code in (200, 201), r.text
        org_id = api.orgs["acme"].org.id
        far_future = api.state.sequencer.clock() + 10 * 365 * 86_400_000
        assert prune(api.state.sequencer, org_id, now_ms=far_future) is not None
        size = api.size()
        r = api.http.post(
            "/v1/audit-logs/exports",
            json={"format": "json", "filter": {"type": ["agent"]}, "tree_size": size},
            headers=api.auth("admin"),
        )
        assert r.status_code == 201, r.text
        answer = r.json()
        floor = answer["min_index"]
        assert floor > 0 and floor % 256 == 0
        with api.state.db.read() as conn:
            rows = conn.execute(
                sa.select(entries.c.idx, entries.c.leaf_hash, entries.c.body)
                .where(entries.c.org_id == org_id, entries.c.idx >= floor, entries.c.idx < size)
                .order_by(entries.c.idx)
            ).all()
        kept = [
            (int(i), bytes(h))
            for i, h, body in rows
            if str(orjson.loads(body)["type"]).startswith("agent.")
        ]
        digest = hashlib.sha256(b"".join(i.to_bytes(8, "big") + h for i, h in kept)).hexdigest()
        assert (answer["count"], answer["digest"]) == (len(kept), digest)
