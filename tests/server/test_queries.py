"""``GET /v1/audit-logs``: every filter, combinations, order, keyset pages and bad values."""

from __future__ import annotations

import base64
import json
from typing import Any

import orjson
import pytest

from auditlens.core.timestamps import format_timestamp, parse_timestamp
from auditlens.server.queries import AuditFilter
from tests.server.conftest import Api, sample_event

N = 240


@pytest.fixture(scope="module")
def logged(api: Api) -> tuple[Api, list[dict[str, Any]]]:
    """N events with known task/agent/outcome spread, plus a few of other categories."""
    owner = api.orgs["acme"].people["owner"].user.id
    events = [sample_event(i, user_id=owner if i % 4 == 0 else None) for i in range(N)]
    events += [
        {"type": "task.created", "user_id": owner, "task_id": "task-0", "agent_id": None,
         "event": {"outcome": "success", "title": "Quarterly report"}},
        {"type": "approval.denied", "user_id": owner, "task_id": "task-1", "agent_id": "agent-1",
         "event": {"outcome": "success", "reason": "too risky", "approval_id": "apr-1"}},
    ]  # fmt: skip
    for start in range(0, len(events), 100):
        assert api.ingest(events[start : start + 100]).status_code == 201
    return api, events


def _all(api: Api, **params: Any) -> list[dict[str, Any]]:
    """Follow next_cursor to the end; return every item."""
    items: list[dict[str, Any]] = []
    params = {"limit": 37, **params}
    while True:
        r = api.http.get("/v1/audit-logs", params=params, headers=api.auth("admin"))
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(body["items"])
        if body["next_cursor"] is None:
            assert "link" not in r.headers
            return items
        assert 'rel="next"' in r.headers["link"]
        params["cursor"] = body["next_cursor"]


def _ours(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i["event"] for i in items if i["event"]["type"] != "auth.login"]


def test_pages_cover_everything_once_newest_first(logged: tuple[Api, list[Any]]) -> None:
    api, events = logged
    items = _all(api)
    indexes = [i["index"] for i in items]
    assert indexes == sorted(indexes, reverse=True)
    assert len(set(indexes)) == len(indexes) == api.size()
    assert len(_ours(items)) == len(events)


def test_ascending_order_is_the_reverse(logged: tuple[Api, list[Any]]) -> None:
    api, _ = logged
    assert [i["index"] for i in _all(api, order="asc")] == sorted(i["index"] for i in _all(api))


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"type": "agent.action"}, lambda e: e["type"] == "agent.action"),
        ({"type": "task"}, lambda e: e["type"].startswith("task.")),
        ({"type": "approval"}, lambda e: e["type"].startswith("approval.")),
        ({"task_id": "task-3"}, lambda e: e["task_id"] == "task-3"),
        ({"agent_id": "agent-2"}, lambda e: e["agent_id"] == "agent-2"),
        ({"outcome": "failure"}, lambda e: e["event"]["outcome"] == "failure"),
        (
            {"task_id": "task-1", "outcome": "failure", "agent_id": "agent-1"},
            lambda e: (
                e["task_id"] == "task-1"
                and e["agent_id"] == "agent-1"
                and e["event"]["outcome"] == "failure"
            ),
        ),
    ],
    ids=["type", "category-task", "category-approval", "task", "agent", "outcome", "combined"],
)
def test_filter_returns_exactly_the_matching_events(
    logged: tuple[Api, list[Any]], params: dict[str, str], predicate: Any
) -> None:
    api, events = logged
    got = _ours(_all(api, **params))
    expected = [e for e in events if predicate(e)]
    assert got and len(got) == len(expected)
    assert all(predicate(e) for e in got)


def test_user_email_filter_maps_to_the_user_id(logged: tuple[Api, list[Any]]) -> None:
    api, events = logged
    owner = api.orgs["acme"].people["owner"].user
    got = _all(api, user_email="OWNER@acme.test")
    assert got and all(i["event"]["user_id"] == owner.id for i in got)
    assert len(_ours(got)) == sum(1 for e in events if e["user_id"] == owner.id)


def test_unknown_user_email_gives_an_empty_page(logged: tuple[Api, list[Any]]) -> None:
    api, _ = logged
    assert _all(api, user_email="nobody@acme.test") == []


def test_since_is_inclusive_and_until_exclusive(logged: tuple[Api, list[Any]]) -> None:
    api, _ = logged
    items = _all(api, order="asc")
    stamps = sorted({parse_timestamp(i["event"]["timestamp"]) for i in items})
    lo, hi = stamps[1], stamps[-1]
    got = _all(api, since=format_timestamp(lo), until=format_timestamp(hi))
    assert got
    assert all(lo <= parse_timestamp(i["event"]["timestamp"]) < hi for i in got)
    assert len(got) == sum(1 for i in items if lo <= parse_timestamp(i["event"]["timestamp"]) < hi)


def test_since_accepts_an_offset_and_converts_to_utc(logged: tuple[Api, list[Any]]) -> None:
    api, _ = logged
    assert _all(api, since="2000-01-01T05:00:00+05:00") == _all(api, since="2000-01-01T00:00:00Z")


def test_cursor_with_changed_filters_is_refused(logged: tuple[Api, list[Any]]) -> None:
    api, _ = logged
    first = api.http.get("/v1/audit-logs", params={"limit": 5}, headers=api.auth("admin")).json()
    r = api.http.get(
        "/v1/audit-logs",
        params={"limit": 5, "cursor": first["next_cursor"], "type": "task"},
        headers=api.auth("admin"),
    )
    assert r.status_code == 422
    assert r.json()["invalid_params"][0]["name"] == "cursor"


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"type": "agent.teleport"}, "type"),
        ({"type": "' OR 1=1 --"}, "type"),
        ({"outcome": "maybe"}, "outcome"),
        ({"order": "sideways"}, "order"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01T00:00:00Z"}, "until"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"usr_email": "a@b.c"}, "usr_email"),
    ],
)
def test_bad_query_values_are_422_naming_the_parameter(
    logged: tuple[Api, list[Any]], params: dict[str, str], name: str
) -> None:
    api, _ = logged
    r = api.http.get("/v1/audit-logs", params=params, headers=api.auth("admin"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["invalid_params"][0]["name"] == name


@pytest.mark.parametrize("field", ["task_id", "agent_id", "user_email"])
def test_sql_looking_values_are_just_values(logged: tuple[Api, list[Any]], field: str) -> None:
    api, _ = logged
    for value in ("' OR '1'='1", "x'; DROP TABLE entries; --", "%", "_"):
        assert _all(api, **{field: value}) == []
    assert len(_all(api)) == api.size()


def test_event_by_id_returns_index_and_exact_event(logged: tuple[Api, list[Any]]) -> None:
    api, _ = logged
    item = _all(api, type="approval.denied")[0]
    r = api.http.get(f"/v1/audit-logs/{item['event']['id']}", headers=api.auth("admin"))
    assert r.status_code == 200
    assert r.json() == item


def test_unknown_event_id_is_404(logged: tuple[Api, list[Any]]) -> None:
    api, _ = logged
    r = api.http.get("/v1/audit-logs/log_00000000000000000000000000", headers=api.auth("admin"))
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def _unsigned_cursor(k: int, order: str = "desc", **filters: Any) -> str:
    """A cursor in the old unsigned format, built from the predictable fingerprint."""
    fingerprint = AuditFilter(**filters).fingerprint(order)  # type: ignore[arg-type]
    raw = json.dumps({"v": 1, "k": k, "o": order, "f": fingerprint}).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _page(api: Api, who: str = "admin", org: str = "acme", **params: Any) -> Any:
    return api.http.get("/v1/audit-logs", params=params, headers=api.auth(who, org))


@pytest.mark.parametrize("k", [2**63, 2**64 + 5, 2**53, -1, 10**30])
def test_forged_cursors_with_huge_or_negative_indexes_are_422(
    logged: tuple[Api, list[Any]], k: int
) -> None:
    # 2^63 and above used to overflow SQLite's integer binding: a 500.
    api, _ = logged
    r = _page(api, limit=5, cursor=_unsigned_cursor(k))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["invalid_params"][0]["name"] == "cursor"


def _tampered(cursor: str, **changes: Any) -> str:
    payload, _, tag = cursor.partition(".")
    data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(changes)
    raw = base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode("ascii")
    return f"{raw}.{tag}"


def test_a_cursor_is_signed_so_its_index_cannot_be_edited(logged: tuple[Api, list[Any]]) -> None:
    api, _ = logged
    first = _page(api, limit=5).json()
    assert _page(api, limit=5, cursor=first["next_cursor"]).status_code == 200
    for changes in ({"k": 1}, {"k": 2**63}, {"o": "asc"}, {"extra": 1}):
        r = _page(api, limit=5, cursor=_tampered(first["next_cursor"], **changes))
        assert r.status_code == 422, (changes, r.text)
        assert "not a cursor this server issued" in r.json()["detail"]


def test_a_cursor_is_bound_to_its_organization(logged: tuple[Api, list[Any]]) -> None:
    api, _ = logged
    first = _page(api, limit=5).json()
    r = _page(api, "admin", "globex", limit=5, cursor=first["next_cursor"])
    assert r.status_code == 422, r.text
    assert r.json()["invalid_params"][0]["name"] == "cursor"


@pytest.mark.parametrize(
    "cursor", ["", ".", "a.b.c", "!!!.???", "e30.AAAA", "bm90LWEtY3Vyc29y", "x" * 512]
)
def test_malformed_cursors_are_422(logged: tuple[Api, list[Any]], cursor: str) -> None:
    api, _ = logged
    r = _page(api, limit=5, cursor=cursor)
    assert r.status_code in (200, 422), r.text  # "" means no cursor
    if cursor:
        assert r.status_code == 422
        assert r.json()["invalid_params"][0]["name"] == "cursor"


def test_cursors_survive_a_restart_of_the_server(tmp_path: Any) -> None:
    from auditlens.server.settings import ServerSettings
    from auditlens.server.state import open_server

    settings = ServerSettings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'x.db'}")
    first = open_server(settings)
    second = open_server(settings)
    try:
        assert first.cursor_key == second.cursor_key and len(first.cursor_key) == 32
    finally:
        first.close()
        second.close()
