"""Login, logout, who-am-I and API keys over real HTTP, and the audit events they leave."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from tests.server.conftest import PASSWORD, Api, running_api


def _events_of_type(api: Api, event_type: str, org: str = "acme") -> list[dict[str, Any]]:
    r = api.http.get(
        "/v1/audit-logs", params={"type": event_type, "limit": 1000}, headers=api.auth("owner", org)
    )
    assert r.status_code == 200, r.text
    return [item["event"] for item in r.json()["items"]]


def test_login_returns_token_user_and_organization_with_vkey(api: Api) -> None:
    r = api.http.post("/v1/auth/login", json={"email": "ADMIN@acme.test", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["token"].startswith("als_")
    assert body["expires_at"].endswith("Z")
    assert body["user"] == api.orgs["acme"].people["admin"].user.to_dict()
    assert body["organization"]["origin"] == "auditlens.local/acme"
    assert body["organization"]["vkey"] == api.state.vkey


def test_successful_login_is_an_audit_event_with_the_request(api: Api) -> None:
    api.http.post(
        "/v1/auth/login",
        json={"email": "member@acme.test", "password": PASSWORD},
        headers={"User-Agent": "pytest-agent/1"},
    )
    member_id = api.orgs["acme"].people["member"].user.id
    logins = [e for e in _events_of_type(api, "auth.login") if e["user_id"] == member_id]
    assert logins[0]["event"]["outcome"] == "success"
    assert logins[0]["event"]["request"] == {"ip": "127.0.0.1", "user_agent": "pytest-agent/1"}


def test_wrong_password_is_401_problem_and_a_failed_login_event(api: Api) -> None:
    r = api.http.post(
        "/v1/auth/login", json={"email": "owner@globex.test", "password": "nope-nope"}
    )
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert "wrong email or password" in r.json()["detail"]
    failures = [
        e
        for e in _events_of_type(api, "auth.login", "globex")
        if e["event"]["outcome"] == "failure"
    ]
    assert failures and failures[0]["event"]["failure_reason"] == "invalid_password"
    assert failures[0]["user_id"] == api.orgs["globex"].people["owner"].user.id


def test_unknown_email_is_the_same_401(api: Api) -> None:
    r = api.http.post("/v1/auth/login", json={"email": "nobody@acme.test", "password": PASSWORD})
    assert r.status_code == 401
    assert r.json()["detail"] == "wrong email or password"


def test_repeated_failures_are_limited_with_retry_after(api: Api) -> None:
    email = "admin@globex.test"
    statuses = [
        api.http.post("/v1/auth/login", json={"email": email, "password": "bad-guess"}).status_code
        for _ in range(api.state.settings.login_max_failures)
    ]
    assert statuses == [401] * api.state.settings.login_max_failures
    r = api.http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0
    assert r.headers["content-type"] == "application/problem+json"
    api.state.limiter.clear(email, "127.0.0.1")


def test_malformed_login_body_is_422_problem(api: Api) -> None:
    r = api.http.post("/v1/auth/login", json={"email": "x"})
    assert r.status_code == 422
    assert r.json()["invalid_params"][0]["name"] == "password"


def test_me_reports_user_and_organization(api: Api) -> None:
    r = api.http.get("/v1/me", headers=api.auth("member"))
    assert r.status_code == 200
    assert r.json()["user"]["role"] == "member"
    assert r.json()["organization"]["name"] == "Acme"


def test_logout_ends_the_session_and_is_audited(api: Api) -> None:
    token = api.http.post(
        "/v1/auth/login", json={"email": "admin@acme.test", "password": PASSWORD}
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert api.http.post("/v1/auth/logout", headers=headers).status_code == 204
    assert api.http.get("/v1/me", headers=headers).status_code == 401
    assert (
        _events_of_type(api, "auth.logout")[0]["user_id"]
        == api.orgs["acme"].people["admin"].user.id
    )


def test_api_key_lifecycle_shows_the_key_once_and_audits_it(api: Api) -> None:
    r = api.http.post(
        "/v1/api-keys", json={"name": "ci", "scope": "read"}, headers=api.auth("owner")
    )
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith(created["prefix"])
    listed = api.http.get("/v1/api-keys", headers=api.auth("admin")).json()["items"]
    mine = [k for k in listed if k["id"] == created["id"]]
    assert mine and "key" not in mine[0]
    key_headers = {"Authorization": f"Bearer {created['key']}"}
    assert api.http.get("/v1/users", headers=key_headers).status_code == 200
    assert (
        api.http.delete(f"/v1/api-keys/{created['id']}", headers=api.auth("owner")).status_code
        == 204
    )
    assert api.http.get("/v1/users", headers=key_headers).status_code == 401
    kinds = {
        e["type"] for e in _events_of_type(api, "auth") if e["event"].get("key_id") == created["id"]
    }
    assert kinds == {"auth.api_key.created", "auth.api_key.deleted"}


def test_api_key_with_bad_scope_is_422(api: Api) -> None:
    r = api.http.post(
        "/v1/api-keys", json={"name": "x", "scope": "admin"}, headers=api.auth("owner")
    )
    assert r.status_code == 422
    assert r.json()["invalid_params"][0]["name"] == "scope"


def test_deleting_an_unknown_key_is_404(api: Api) -> None:
    r = api.http.delete("/v1/api-keys/key_doesnotexist", headers=api.auth("owner"))
    assert r.status_code == 404


def test_other_organizations_key_cannot_be_deleted(api: Api) -> None:
    created = api.http.post(
        "/v1/api-keys", json={"name": "g", "scope": "read"}, headers=api.auth("owner", "globex")
    ).json()
    r = api.http.delete(f"/v1/api-keys/{created['id']}", headers=api.auth("owner", "acme"))
    assert r.status_code == 404


def test_users_directory_lists_only_this_organization(api: Api) -> None:
    items = api.http.get("/v1/users", headers=api.auth("admin")).json()["items"]
    assert {u["email"] for u in items} == {"owner@acme.test", "admin@acme.test", "member@acme.test"}
    assert set(items[0]) == {"id", "email", "name", "role"}


def test_secrets_are_stored_only_as_hashes(api: Api) -> None:
    token = api.orgs["acme"].people["owner"].token
    with api.state.db.read() as conn:
        dump = orjson.dumps(
            [
                list(map(repr, row))
                for t in ("sessions", "api_keys", "users")
                for row in conn.exec_driver_sql(f"SELECT * FROM {t}")
            ]
        )
    assert token.encode() not in dump
    assert api.orgs["acme"].ingest_key.encode() not in dump
    assert PASSWORD.encode() not in dump


def test_a_read_key_follows_its_creators_current_role(api: Api) -> None:
    created = api.http.post(
        "/v1/api-keys",
        json={"name": "demoted", "scope": "read"},
        headers=api.auth("admin", "globex"),
    ).json()
    headers = {"Authorization": f"Bearer {created['key']}"}
    assert api.http.get("/v1/users", headers=headers).status_code == 200
    admin_id = api.orgs["globex"].people["admin"].user.id
    with api.state.db.write() as conn:
        conn.execute(sa.text("UPDATE users SET role = 'member' WHERE id = :u"), {"u": admin_id})
    try:
        assert api.http.get("/v1/users", headers=headers).status_code == 403
    finally:
        with api.state.db.write() as conn:
            conn.execute(sa.text("UPDATE users SET role = 'admin' WHERE id = :u"), {"u": admin_id})


def test_sessions_expire(tmp_path: Path) -> None:
    with running_api("sqlite", tmp_path, session_ttl_seconds=1) as api:
        headers = api.auth("admin")
        assert api.http.get("/v1/me", headers=headers).status_code == 200
        time.sleep(1.1)
        r = api.http.get("/v1/me", headers=headers)
        assert r.status_code == 401
        assert "expired" in r.json()["detail"]


def test_failed_logins_are_slowed_down(tmp_path: Path) -> None:
    with running_api("sqlite", tmp_path, login_failure_delay_seconds=0.2) as api:
        times = []
        for _ in range(2):
            start = time.monotonic()
            r = api.http.post(
                "/v1/auth/login", json={"email": "owner@acme.test", "password": "x" * 9}
            )
            times.append(time.monotonic() - start)
            assert r.status_code == 401
        assert times[0] >= 0.2 and times[1] >= 0.4
