"""``POST /v1/events``: a good batch is numbered, timed and signed; a bad one is refused whole."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from auditlens.core import note
from auditlens.core.timestamps import parse_timestamp
from tests.server.conftest import Api, sample_event


def test_batch_gets_consecutive_indexes_ids_and_a_signed_checkpoint(api: Api) -> None:
    before = api.size()
    r = api.ingest([sample_event(i) for i in range(3)])
    assert r.status_code == 201
    body = r.json()
    assert body["accepted"] == 3
    assert (body["first_index"], body["last_index"]) == (before, before + 2)
    assert len(set(body["ids"])) == 3 and all(i.startswith("log_") for i in body["ids"])
    cp = note.verify_checkpoint(body["checkpoint"], api.state.vkey, "auditlens.local/acme")
    assert cp.size == before + 3


def test_server_assigns_timestamps_that_never_decrease(api: Api) -> None:
    ids = api.ingest([sample_event(i) for i in range(5)]).json()["ids"]
    ids += api.ingest([sample_event(i) for i in range(5)]).json()["ids"]
    page = api.http.get(
        "/v1/audit-logs", params={"order": "asc", "limit": 1000}, headers=api.auth("admin")
    )
    stamps = [parse_timestamp(item["event"]["timestamp"]) for item in page.json()["items"]]
    assert stamps == sorted(stamps)
    seen = {item["event"]["id"] for item in page.json()["items"]}
    assert set(ids) <= seen


def _refused(api: Api, response: Any, status: int, before: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert api.size() == before, "nothing of a refused batch may be stored"
    problem: dict[str, Any] = response.json()
    return problem


def _post_raw(api: Api, data: bytes, content_type: str = "application/json") -> Any:
    headers = {**api.auth("ingest"), "Content-Type": content_type}
    return api.http.post("/v1/events", content=data, headers=headers)


@pytest.mark.parametrize(
    "data",
    [b"{", b"not json", b'{"events": [1,]}', b'{"events": []} trailing', b"\xff\xfe"],
    ids=["truncated", "text", "trailing-comma", "trailing-data", "bad-utf8"],
)
def test_malformed_json_is_400(api: Api, data: bytes) -> None:
    before = api.size()
    problem = _refused(api, _post_raw(api, data), 400, before)
    assert "not valid JSON" in problem["detail"]


def test_duplicate_member_names_are_refused(api: Api) -> None:
    before = api.size()
    data = b'{"events": [{"type": "agent.action", "type": "task.created"}]}'
    problem = _refused(api, _post_raw(api, data), 400, before)
    assert "duplicate" in problem["detail"]


def test_one_bad_event_rejects_the_whole_batch_and_names_the_field(api: Api) -> None:
    before = api.size()
    events = [sample_event(0), sample_event(1), sample_event(2)]
    events[2]["event"]["outcome"] = "maybe"
    problem = _refused(api, api.ingest(events), 422, before)
    assert problem["invalid_params"][0]["name"] == "events[2].event.outcome"


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda e: e.update(type="agent.teleport"), "events[0].type"),
        (lambda e: e["event"].update(cost=1.5), "events[0].event.cost"),
        (lambda e: e.update(task_id=42), "events[0].task_id"),
        (lambda e: e.update(id="log_01ARZ3NDEKTSV4RRFFQ69G5FAV"), "events[0]"),
        (lambda e: e.update(extra="x"), "events[0]"),
        (lambda e: e["event"].pop("outcome"), "events[0].event"),
        (lambda e: e["event"].update(n=2**60), "events[0].event.n"),
        (lambda e: e.update(type="approval.denied"), "events[0].event"),
    ],
    ids=[
        "unknown-type",
        "float",
        "wrong-type",
        "id-given",
        "extra-field",
        "no-outcome",
        "huge-int",
        "denied-without-reason",
    ],
)
def test_schema_violations_are_422_naming_the_field(api: Api, mutate: Any, field: str) -> None:
    before = api.size()
    event = sample_event(0)
    mutate(event)
    problem = _refused(api, api.ingest([event]), 422, before)
    assert problem["invalid_params"][0]["name"].startswith(field)
    assert problem["invalid_params"][0]["reason"]


def test_oversized_event_is_422(api: Api) -> None:
    before = api.size()
    event = sample_event(0)
    event["event"]["blob"] = "x" * 70_000
    problem = _refused(api, api.ingest([event]), 422, before)
    assert "65,535" in problem["invalid_params"][0]["reason"]


def test_event_just_under_the_limit_but_over_with_id_and_timestamp_is_422(api: Api) -> None:
    before = api.size()
    event = sample_event(0)
    base = len(orjson.dumps(event, option=orjson.OPT_SORT_KEYS))
    event["event"]["blob"] = "x" * (65_535 - base - len(',"blob":""'))
    problem = _refused(api, api.ingest([event]), 422, before)
    assert "id and timestamp" in problem["invalid_params"][0]["reason"]


@pytest.mark.parametrize(
    ("payload", "name"),
    [
        ({"events": []}, "events"),
        ({"events": {"type": "x"}}, "events"),
        ({"evnts": []}, "body"),
        ([sample_event(0)], "body"),
    ],
    ids=["empty", "not-a-list", "misspelt", "bare-array"],
)
def test_wrong_envelope_is_422(api: Api, payload: Any, name: str) -> None:
    before = api.size()
    problem = _refused(api, _post_raw(api, orjson.dumps(payload)), 422, before)
    assert problem["invalid_params"][0]["name"] == name


def test_batch_over_1000_is_422(api: Api) -> None:
    before = api.size()
    problem = _refused(api, api.ingest([sample_event(i) for i in range(1001)]), 422, before)
    assert "1 to 1000" in problem["detail"]


def test_batch_of_exactly_1000_is_accepted(api: Api) -> None:
    r = api.ingest([sample_event(i) for i in range(1000)])
    assert r.status_code == 201
    assert r.json()["accepted"] == 1000


def test_wrong_content_type_is_415(api: Api) -> None:
    before = api.size()
    _refused(api, _post_raw(api, b"events=1", "application/x-www-form-urlencoded"), 415, before)


def test_body_over_the_limit_is_413(api: Api) -> None:
    before = api.size()
    data = b" " * (api.state.settings.max_request_bytes + 1)
    _refused(api, _post_raw(api, data), 413, before)


def test_concurrent_ingest_gets_distinct_consecutive_indexes(api: Api) -> None:
    import threading

    from tests.server.thirdparty import verify_log

    before = api.size()
    ranges: list[tuple[int, int]] = []

    def client(n: int) -> None:
        with httpx.Client(base_url=api.url, timeout=30) as http:
            for i in range(5):
                r = http.post(
                    "/v1/events",
                    json={"events": [sample_event(n * 100 + i * 10 + j) for j in range(10)]},
                    headers=api.auth("ingest"),
                )
                assert r.status_code == 201
                ranges.append((r.json()["first_index"], r.json()["last_index"]))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    covered = sorted(i for a, b in ranges for i in range(a, b + 1))
    assert covered == list(range(before, before + 200))
    verify_log(api.http, api.auth("admin"), "auditlens.local/acme", api.state.vkey)


def _post_with_key(api: Api, events: list[dict[str, Any]], key: str) -> Any:
    body = orjson.dumps({"events": events})
    headers = {**api.auth("ingest"), "Content-Type": "application/json", "Idempotency-Key": key}
    return api.http.post("/v1/events", content=body, headers=headers)


def test_a_retried_batch_with_the_same_idempotency_key_is_stored_once(api: Api) -> None:
    events = [sample_event(i) for i in range(4)]
    first = _post_with_key(api, events, "batch-0001")
    size = api.size()
    again = _post_with_key(api, events, "batch-0001")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert api.size() == size


def test_an_idempotency_key_reused_for_other_events_is_409(api: Api) -> None:
    _post_with_key(api, [sample_event(1)], "batch-0002")
    before = api.size()
    r = _post_with_key(api, [sample_event(2)], "batch-0002")
    _refused(api, r, 409, before)


def test_idempotency_keys_are_per_organization(api: Api) -> None:
    events = [sample_event(7)]
    body = orjson.dumps({"events": events})
    for org in ("acme", "globex"):
        headers = {
            **api.auth("ingest", org),
            "Content-Type": "application/json",
            "Idempotency-Key": "shared-key",
        }
        r = api.http.post("/v1/events", content=body, headers=headers)
        assert r.status_code == 201 and "idempotent-replayed" not in r.headers


def test_a_malformed_idempotency_key_is_422(api: Api) -> None:
    before = api.size()
    r = _post_with_key(api, [sample_event(1)], "x" * 129)
    assert _refused(api, r, 422, before)["invalid_params"][0]["name"] == "Idempotency-Key"


@pytest.mark.parametrize("depth", [65, 990, 1023])
def test_json_nested_beyond_the_depth_limit_is_422_on_ingest(api: Api, depth: int) -> None:
    # ``depth`` counts the whole document: 990-1,023 levels got past orjson (which stops at
    # 1,024) and ended in a RecursionError, a 500.
    before = api.size()
    deep = b'{"a":' * (depth - 3) + b"1" + b"}" * (depth - 3)
    data = b'{"events": [{"type": "agent.action", "event": ' + deep + b"}]}"
    problem = _refused(api, _post_raw(api, data), 422, before)
    assert "the limit is 64" in problem["detail"]
    assert problem["invalid_params"][0]["name"] == "body"


@pytest.mark.parametrize("depth", [65, 990, 1023])
def test_json_nested_beyond_the_depth_limit_is_422_on_export_records(api: Api, depth: int) -> None:
    before = api.size()
    deep = b"[" * (depth - 1) + b"]" * (depth - 1)
    data = b'{"format": "json", "count": 0, "sha256": "' + b"0" * 64 + b'", "filter": ' + deep
    r = api.http.post(
        "/v1/audit-logs/exports",
        content=data + b"}",
        headers={**api.auth("admin"), "Content-Type": "application/json"},
    )
    problem = _refused(api, r, 422, before)
    assert "the limit is 64" in problem["detail"]
