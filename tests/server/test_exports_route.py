"""``POST /v1/audit-logs/exports``: an export is recorded as ``audit.exported`` by its exporter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditlens.client.api import AuditApiClient
from auditlens.core import note
from auditlens.core.validation import validate_event
from auditlens.export.record import export_event_payload, record_export
from auditlens.export.writer import ExportResult
from tests.server.conftest import Api

ROUTE = "/v1/audit-logs/exports"
DIGEST = "ab" * 32


def record(**overrides: Any) -> dict[str, Any]:
    """A body as :func:`auditlens.export.record.export_event_payload` sends it."""
    body: dict[str, Any] = {
        "format": "csv",
        "count": 3,
        "filter": {"type": ["agent"], "outcome": "failure"},
        "sha256": DIGEST,
        "bytes": 1234,
        "tree_size": 3,
        "file_name": "failures.csv",
        "evidence_sha256": "cd" * 32,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def post(api: Api, body: Any, who: str = "admin", **kwargs: Any) -> Any:
    return api.http.post(ROUTE, json=body, headers=api.auth(who), **kwargs)


def stored(api: Api, index: int) -> dict[str, Any]:
    page = api.http.get(
        "/v1/audit-logs",
        params={"type": "audit.exported", "limit": 1000},
        headers=api.auth("admin"),
    ).json()
    [item] = [i for i in page["items"] if i["index"] == index]
    event: dict[str, Any] = item["event"]
    return event


def test_a_hand_picked_selection_is_recorded_and_answered_as_not_attested(api: Api) -> None:
    body = record(filter={"selected_rows": 2, "indexes": "0, 2"}, count=2, tree_size=3)
    r = post(api, body)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["attested"] is False
    assert "digest" not in answer and answer["count"] == 2
    fields = stored(api, answer["index"])["event"]
    assert "attestation" not in fields
    assert fields["filter"] == {"selected_rows": 2, "indexes": "0, 2"}


def test_an_export_is_appended_as_audit_exported_by_the_caller(api: Api) -> None:
    body = record(count=0)
    r = post(api, body)
    assert r.status_code == 201, r.text
    answer = r.json()
    assert set(answer) == {
        "index",
        "id",
        "checkpoint",
        "entry",
        "proof",
        "attested",
        "filter",
        "tree_size",
        "count",
        "digest",
        "min_index",
    }
    assert answer["attested"] is True
    event = stored(api, answer["index"])
    validate_event(event)
    assert event["id"] == answer["id"]
    assert event["type"] == "audit.exported"
    assert event["user_id"] == api.orgs["acme"].people["admin"].user.id
    fields = event["event"]
    assert fields["outcome"] == "success"
    for name, value in body.items():
        if name not in ("count", "filter"):
            assert fields[name] == value
    assert fields["filter"] == {"outcome": "failure", "type": ["agent"]}
    assert fields["attestation"] == "auditlens-completeness/1"
    assert (fields["count"], fields["min_index"]) == (answer["count"], 0)
    assert fields["credential"] == "session"
    assert fields["request"]["ip"] == "127.0.0.1"
    assert fields["request"]["user_agent"].startswith("python-httpx")


def test_the_answer_carries_a_signed_checkpoint_covering_the_record(api: Api) -> None:
    r = post(api, record(count=0))
    assert r.status_code == 201
    answer = r.json()
    cp = note.verify_checkpoint(answer["checkpoint"], api.state.vkey, "auditlens.local/acme")
    assert cp.size == answer["index"] + 1


def test_a_read_key_records_as_its_creator_and_says_so(api: Api) -> None:
    r = post(api, record(count=0), who="read")
    assert r.status_code == 201, r.text
    fields = stored(api, r.json()["index"])
    assert fields["user_id"] == api.orgs["acme"].people["admin"].user.id
    assert fields["event"]["credential"] == "read_key"
    assert fields["event"]["key_id"]


def test_the_record_lands_in_the_callers_organization_only(api: Api) -> None:
    before = api.size("globex")
    r = post(api, record(count=0), who="other")
    assert r.status_code == 201
    assert api.size("globex") == before + 1
    assert r.json()["checkpoint"].startswith("auditlens.local/globex\n")


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 401), ("member", 403), ("ingest", 403), ("owner", 201), ("admin", 201)],
)
def test_only_owners_and_admins_may_record(api: Api, who: str, status: int) -> None:
    size = api.size()
    r = post(api, record(count=0), who=who)
    assert r.status_code == status, r.text
    expected = size + 1 if status == 201 else size
    assert api.size() == expected
    if status >= 400:
        assert r.headers["content-type"] == "application/problem+json"
    if status == 401:
        assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (record(format="xlsx"), "format", "json, ndjson, csv"),
        (record(count=-1), "count", "between 0"),
        (record(count="3"), "count", "integer"),
        (record(count=True), "count", "integer"),
        (record(count=2.5), "count", "integer"),
        (record(sha256="AB" * 32), "sha256", "64 lowercase"),
        (record(sha256="ab"), "sha256", "SHA-256"),
        (record(evidence_sha256=7), "evidence_sha256", "SHA-256"),
        (record(filter=["agent"]), "filter", "JSON object"),
        (record(file_name="../etc/passwd"), "file_name", "bare file name"),
        (record(file_name=""), "file_name", "1 to 255"),
        (record(tree_size=None), "tree_size", "required"),
        (record(filter={"type": ["agents"]}), "filter.type", "neither an event type"),
        (record(filter={"since": "yesterday"}), "filter.since", "RFC 3339"),
        (record(filter={"user_email": "nobody@acme.test"}), "filter.user_email", "nobody"),
        (record(filter={"task_id": ""}), "filter.task_id", "non-empty"),
        (record(filter=None), "filter", "required"),
        ({**record(), "shaa256": DIGEST}, "shaa256", "not a field"),
        (record(count=5, tree_size=1), "count", "larger than tree_size"),
        (record(tree_size=10**9, count=0), "tree_size", "larger than this organization"),
        (record(filter={"x": 1.5}), "filter.x", "not a filter key"),
        (record(filter={"task_id": "y" * 300}), "filter.task_id", "longer than"),
        (record(file_name="y" * 255, sha256=None, count=None), None, None),
        ([1, 2], "body", "JSON object"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_bad_body_is_422_naming_the_field_and_nothing_is_stored(
    api: Api, body: Any, field: str | None, words: str | None
) -> None:
    size = api.size()
    r = post(api, body)
    if field is None:  # a valid body: nothing to refuse
        assert r.status_code == 201, r.text
        return
    assert r.status_code == 422, r.text
    problem = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert problem["invalid_params"][0]["name"] == field
    assert words in problem["invalid_params"][0]["reason"], problem
    assert api.size() == size


def test_malformed_json_is_400_and_wrong_media_type_415(api: Api) -> None:
    headers = {**api.auth("admin"), "Content-Type": "application/json"}
    r = api.http.post(ROUTE, content=b'{"format": "csv",', headers=headers)
    assert r.status_code == 400
    r = api.http.post(
        ROUTE, content=b"format=csv", headers={**api.auth("admin"), "Content-Type": "text/plain"}
    )
    assert r.status_code == 415


def test_duplicate_members_are_refused(api: Api) -> None:
    headers = {**api.auth("admin"), "Content-Type": "application/json"}
    raw = b'{"format":"csv","format":"json","filter":{},"tree_size":0}'
    assert api.http.post(ROUTE, content=raw, headers=headers).status_code == 400


def test_the_route_is_documented(api: Api) -> None:
    doc = api.http.get("/openapi.json").json()
    operation = doc["paths"][ROUTE]["post"]
    assert "requestBody" in operation
    assert "201" in operation["responses"]


def test_the_exporters_own_payload_is_accepted(api: Api, tmp_path: Path) -> None:
    """Both sides agree: what :func:`record_export` sends is what the route records."""
    result = ExportResult(
        path=tmp_path / "agents.csv",
        evidence_path=tmp_path / "agents.csv.evidence.json",
        format="csv",
        count=2,
        tree_size=api.size(),
        origin="auditlens.local/acme",
        sha256="12" * 32,
        bytes=999,
        filter={"type": ["agent"], "since": "2026-11-01T00:00:00.000Z"},
        seconds=0.1,
        evidence_sha256="34" * 32,
    )
    client = AuditApiClient(api.url, api.orgs["acme"].people["owner"].token)
    outcome = record_export(client, result)
    assert outcome.recorded, outcome.message
    assert outcome.event is not None
    event = stored(api, int(str(outcome.event["index"])))
    assert event["user_id"] == api.orgs["acme"].people["owner"].user.id
    sent = export_event_payload(result)
    assert {k: event["event"][k] for k in sent if k not in ("count", "filter")} == {
        k: v for k, v in sent.items() if k not in ("count", "filter")
    }
    assert event["event"]["filter"] == {"since": "2026-11-01T00:00:00.000Z", "type": ["agent"]}
    # No agent event exists after that date: the server attests 0 and keeps the exporter's 2.
    assert (event["event"]["count"], event["event"]["exporter_count"]) == (0, 2)
