"""Who may call what: every route against every kind of caller, and every refusal is a problem.

Callers: anonymous, member, admin, owner, ingest key, read key (an admin's), and the admin of
another organization (who must never see this organization's data).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.conftest import Api, sample_event

WHO = ("anonymous", "member", "admin", "owner", "ingest", "read", "other")

READ = {
    "anonymous": 401,
    "member": 403,
    "admin": 200,
    "owner": 200,
    "ingest": 403,
    "read": 200,
    "other": 200,
}
MANAGE = {**READ, "read": 403}
ANY = {
    "anonymous": 401,
    "member": 200,
    "admin": 200,
    "owner": 200,
    "ingest": 200,
    "read": 200,
    "other": 200,
}
SESSION = {**ANY, "ingest": 403, "read": 403}
INGEST = {
    "anonymous": 401,
    "member": 403,
    "admin": 403,
    "owner": 403,
    "ingest": 201,
    "read": 403,
    "other": 403,
}

ROUTES: list[tuple[str, str, dict[str, int]]] = [
    ("GET", "/v1/me", ANY),
    ("GET", "/v1/api-keys", READ),
    ("POST", "/v1/api-keys", {**MANAGE, "admin": 201, "owner": 201, "other": 201}),
    ("POST", "/v1/events", INGEST),
    ("GET", "/v1/audit-logs", READ),
    ("GET", "/v1/audit-logs/{event_id}", {**READ, "other": 404}),
    (
        "POST",
        "/v1/audit-logs/exports",
        {**READ, "admin": 201, "owner": 201, "read": 201, "other": 201},
    ),
    ("GET", "/v1/users", READ),
    ("GET", "/v1/log/checkpoint", READ),
    ("GET", "/v1/log/info", READ),
    ("GET", "/v1/log/tile/0/000.p/1", READ),
    ("GET", "/v1/log/tile/entries/000.p/1", READ),
    ("GET", "/v1/log/proof/inclusion?index=0&size=2", READ),
    ("GET", "/v1/log/proof/consistency?from=1&to=2", READ),
    (
        "POST",
        "/v1/auth/logout",
        {**SESSION, "member": 204, "admin": 204, "owner": 204, "other": 204},
    ),
]


@pytest.fixture(scope="module")
def event_id(api: Api) -> str:
    r = api.ingest([sample_event(1), sample_event(2)])
    assert r.status_code == 201, r.text
    return str(r.json()["ids"][0])


def _call(api: Api, method: str, path: str, who: str) -> Any:
    body: dict[str, Any] | None = None
    if path == "/v1/api-keys" and method == "POST":
        body = {"name": f"matrix-{who}", "scope": "read"}
    elif path == "/v1/events":
        body = {"events": [sample_event(3)]}
    elif path == "/v1/audit-logs/exports":
        body = {"format": "json", "count": 0, "filter": {}, "tree_size": 0, "sha256": "0" * 64}
    return api.http.request(method, path, json=body, headers=api.auth(who))


@pytest.mark.parametrize(
    ("method", "path", "expected"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES]
)
def test_route_answers_each_caller_as_the_matrix_says(
    api: Api, event_id: str, method: str, path: str, expected: dict[str, int]
) -> None:
    path = path.format(event_id=event_id)
    got = {}
    for who in WHO:
        if path == "/v1/auth/logout" and who in ("member", "admin", "owner", "other"):
            continue  # logging out would end the shared sessions; covered in test_api_auth
        r = _call(api, method, path, who)
        got[who] = r.status_code
        if r.status_code >= 400:
            assert r.headers["content-type"] == "application/problem+json", (who, r.text)
            problem = r.json()
            assert problem["status"] == r.status_code
            assert problem["type"].startswith("urn:auditlens:problem:")
            assert problem["detail"]
        if r.status_code == 401:
            assert r.headers["www-authenticate"].startswith("Bearer")
    assert got == {who: code for who, code in expected.items() if who in got}


def test_other_organization_sees_only_its_own_log(api: Api, event_id: str) -> None:
    acme = api.http.get("/v1/log/info", headers=api.auth("admin")).json()
    globex = api.http.get("/v1/log/info", headers=api.auth("other")).json()
    assert acme["origin"] == "auditlens.local/acme"
    assert globex["origin"] == "auditlens.local/globex"
    page = api.http.get("/v1/audit-logs", params={"limit": 1000}, headers=api.auth("other")).json()
    assert event_id not in {item["event"]["id"] for item in page["items"]}


def test_a_member_is_told_why_reads_are_refused(api: Api) -> None:
    r = api.http.get("/v1/audit-logs", headers=api.auth("member"))
    assert r.status_code == 403
    assert "only owners and admins" in r.json()["detail"]


def test_garbage_bearer_and_wrong_scheme_are_401(api: Api) -> None:
    for header in ("Bearer als_not-a-token", "Bearer alk_nope", "Basic dXNlcjpwYXNz", "Bearer"):
        r = api.http.get("/v1/users", headers={"Authorization": header})
        assert r.status_code == 401, header
        assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/v1/nope", 404), ("DELETE", "/v1/users", 405), ("PUT", "/v1/events", 405)],
)
def test_framework_errors_are_problems_too(api: Api, method: str, path: str, status: int) -> None:
    r = api.http.request(method, path, headers=api.auth("admin"))
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == status


def test_openapi_document_lists_every_route(api: Api) -> None:
    doc = api.http.get("/openapi.json").json()
    for path in ("/v1/auth/login", "/v1/events", "/v1/audit-logs", "/v1/log/checkpoint"):
        assert path in doc["paths"]
    assert "requestBody" in doc["paths"]["/v1/events"]["post"]
