"""The server's completeness attestation: count and digest of the events matching a filter."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from auditlens.core import merkle, note
from auditlens.core.export_filter import EventMatcher
from auditlens.server.schema import entries
from tests.server.conftest import Api, sample_event

ROUTE = "/v1/audit-logs/exports"


def expected(api: Api, org_id: str, flt: dict[str, Any], size: int) -> tuple[int, str]:
    """Count and digest recomputed from the stored entries with the shared filter semantics."""
    matcher = EventMatcher.of(flt)
    digest = hashlib.sha256()
    count = 0
    with api.state.db.read() as conn:
        rows = conn.execute(
            sa.select(entries.c.idx, entries.c.leaf_hash, entries.c.body)
            .where(entries.c.org_id == org_id, entries.c.idx < size)
            .order_by(entries.c.idx)
        ).all()
    for idx, leaf, body in rows:
        if body is not None and matcher.matches(orjson.loads(body)):
            digest.update(int(idx).to_bytes(8, "big") + bytes(leaf))
            count += 1
    return count, digest.hexdigest()


@pytest.fixture(scope="module")
def seeded(api: Api) -> int:
    events = [sample_event(n) for n in range(60)]
    events[7]["type"] = "task.created"
    events[7]["event"] = {"outcome": "success", "title": "t"}
    events[9]["user_id"] = api.orgs["acme"].people["member"].user.id
    events[10]["event"]["failure_reason"] = "policy_denied"  # a refusal: verdict "denied"
    r = api.ingest(events)
    assert r.status_code in (200, 201), r.text
    return api.size()


@pytest.mark.parametrize(
    "flt",
    [
        {},
        {"task_id": "task-3"},
        {"type": ["agent"]},
        {"type": "task.created"},
        {"type": ["task", "agent.action"], "outcome": "failure"},
        {"agent_id": "agent-1", "task_id": "task-2"},
        {"user_email": "MEMBER@acme.test"},
        {"task_id": "no-such-task"},
        {"task_id": "task-*"},
        {"agent_id": "agent-1*", "outcome": "failure"},
        {"outcome": "denied"},
        {"outcome": "success", "type": ["agent"]},
    ],
    ids=repr,
)
def test_the_server_attests_the_matching_set(api: Api, seeded: int, flt: dict[str, Any]) -> None:
    r = api.http.post(
        ROUTE,
        json={"format": "json", "filter": flt, "tree_size": seeded},
        headers=api.auth("admin"),
    )
    assert r.status_code == 201, r.text
    answer = r.json()
    org_id = api.orgs["acme"].org.id
    canonical = answer["filter"]
    assert (answer["count"], answer["digest"]) == expected(api, org_id, canonical, seeded)
    assert answer["tree_size"] == seeded
    if "user_email" in flt:
        assert canonical["user_id"] == api.orgs["acme"].people["member"].user.id
        assert answer["count"] >= 1  # the seeded event, and their sign-in
    if flt.get("task_id") == "no-such-task":
        assert answer["digest"] == hashlib.sha256(b"").hexdigest()


def test_the_answer_proves_the_record_is_in_the_log(api: Api, seeded: int) -> None:
    r = api.http.post(
        ROUTE,
        json={"format": "csv", "filter": {"task_id": "task-1"}, "tree_size": seeded, "count": 12},
        headers=api.auth("owner"),
    )
    assert r.status_code == 201, r.text
    answer = r.json()
    cp = note.verify_checkpoint(answer["checkpoint"], api.state.vkey, "auditlens.local/acme")
    entry = answer["entry"].encode()
    proof = [base64.b64decode(h) for h in answer["proof"]]
    merkle.verify_inclusion(merkle.leaf_hash(entry), answer["index"], cp.size, proof, cp.root)
    record = orjson.loads(entry)
    assert record["type"] == "audit.exported"
    body = record["event"]
    assert body["filter"] == {"task_id": "task-1"}
    assert (body["tree_size"], body["count"], body["digest"]) == (
        seeded,
        answer["count"],
        answer["digest"],
    )
    assert body["exporter_count"] == 12


@pytest.mark.parametrize(
    ("flt", "key"),
    [({"ip": "127.0.0.1"}, "filter.ip"), ({"user_email": "adm*"}, "filter.user_email")],
)
def test_filters_the_server_cannot_recount_are_refused_not_attested(
    api: Api, seeded: int, flt: dict[str, Any], key: str
) -> None:
    r = api.http.post(
        ROUTE,
        json={"format": "json", "filter": flt, "tree_size": seeded},
        headers=api.auth("admin"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["invalid_params"][0]["name"] == key
