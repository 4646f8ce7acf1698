"""Failed-login budgets, the password gate, aggregated failure events and shared state.

Budgets and idempotency receipts live in the database, so two API processes on one database
(here: two servers in this process, each with its own state and engines) share them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from auditlens.server.app import create_app
from auditlens.server.embedded import ThreadedServer
from auditlens.server.password_gate import GateFullError, PasswordGate
from auditlens.server.ratelimit import LoginBudgets, LoginLimiter, source_of
from auditlens.server.settings import ServerSettings
from auditlens.server.state import open_server
from tests.server.conftest import BACKENDS, PASSWORD, Api, running_api, sample_event


def _login(http: httpx.Client, email: str, password: str = "wrong-guess") -> httpx.Response:
    return http.post("/v1/auth/login", json={"email": email, "password": password})


@contextmanager
def _client_from(api_url: str, source: str) -> Iterator[httpx.Client]:
    """A client whose requests come from ``source`` (any 127/8 address works on loopback)."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=api_url, transport=transport, timeout=30) as http:
        yield http


@contextmanager
def _second_server(api: Api, **settings: Any) -> Iterator[httpx.Client]:
    """Another API process on the same database: its own state, engines and password gate."""
    config = ServerSettings(
        data_dir=api.state.settings.data_dir,
        database_url=api.state.settings.database_url,
        login_failure_delay_seconds=0,
        sqlite_synchronous="NORMAL",
        **settings,
    )
    with (
        ThreadedServer(create_app(config, open_server(config))) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        yield http


def _failure_events(api: Api, user_id: str) -> list[dict[str, Any]]:
    r = api.http.get(
        "/v1/audit-logs",
        params={"type": "auth.login", "outcome": "failure", "limit": 1000},
        headers=api.auth("owner"),
    )
    assert r.status_code == 200, r.text
    return [i["event"] for i in r.json()["items"] if i["event"]["user_id"] == user_id]


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_unknown_emails_spend_the_source_budget(backend: str, tmp_path: Path) -> None:
    with running_api(backend, tmp_path, login_source_max_failures=3) as api:
        with _client_from(api.url, "127.0.0.7") as attacker:
            codes = [_login(attacker, f"x{n}@nowhere.test").status_code for n in range(4)]
            assert codes == [401, 401, 401, 429]
            r = _login(attacker, "owner@acme.test", PASSWORD)
            assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
            assert r.headers["content-type"] == "application/problem+json"
        with _client_from(api.url, "127.0.0.8") as user:
            assert _login(user, "owner@acme.test", PASSWORD).status_code == 200


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_overall_budget_refuses_only_sources_that_failed(backend: str, tmp_path: Path) -> None:
    with running_api(backend, tmp_path, login_total_max_failures=2) as api:
        for n, source in enumerate(("127.0.0.11", "127.0.0.12")):
            with _client_from(api.url, source) as http:
                assert _login(http, f"x{n}@nowhere.test").status_code == 401
        with _client_from(api.url, "127.0.0.11") as http:
            assert _login(http, "y@nowhere.test").status_code == 429
        with _client_from(api.url, "127.0.0.13") as http:
            assert _login(http, "owner@acme.test", PASSWORD).status_code == 200
            assert _login(http, "z@nowhere.test").status_code == 401
            assert _login(http, "owner@acme.test", PASSWORD).status_code == 429


@pytest.mark.parametrize("backend", BACKENDS)
def test_repeated_failures_leave_two_events_and_the_success_counts_them(
    backend: str, tmp_path: Path
) -> None:
    with running_api(backend, tmp_path, login_max_failures=5) as api:
        user_id = api.orgs["acme"].people["admin"].user.id
        with _client_from(api.url, "127.0.0.21") as http:
            codes = [_login(http, "admin@acme.test").status_code for _ in range(8)]
        assert codes == [401] * 5 + [429] * 3
        events = _failure_events(api, user_id)
        assert [e["event"]["failed_attempts"] for e in reversed(events)] == [1, 5]
        assert [e["event"]["locked_out"] for e in reversed(events)] == [False, True]
        assert {e["event"]["request"]["ip"] for e in events} == {"127.0.0.21"}
        with _client_from(api.url, "127.0.0.22") as http:
            for _ in range(2):
                _login(http, "admin@acme.test")
            assert _login(http, "admin@acme.test", PASSWORD).status_code == 200
        r = api.http.get(
            "/v1/audit-logs",
            params={"type": "auth.login", "outcome": "success", "limit": 1},
            headers=api.auth("owner"),
        )
        assert r.json()["items"][0]["event"]["event"]["failed_attempts"] == 2
        assert len(_failure_events(api, user_id)) == 3  # 127.0.0.22's first failure only


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_api_processes_share_the_login_budgets(backend: str, tmp_path: Path) -> None:
    with (
        running_api(backend, tmp_path, login_max_failures=3) as api,
        _second_server(api, login_max_failures=3) as other,
    ):
        assert [_login(api.http, "owner@globex.test").status_code for _ in range(2)] == [401] * 2
        assert _login(other, "owner@globex.test").status_code == 401
        assert _login(api.http, "owner@globex.test", PASSWORD).status_code == 429
        assert _login(other, "owner@globex.test", PASSWORD).status_code == 429


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_api_processes_share_idempotency_receipts(backend: str, tmp_path: Path) -> None:
    with running_api(backend, tmp_path) as api, _second_server(api) as other:
        body = orjson.dumps({"events": [sample_event(i) for i in range(3)]})
        headers = {
            **api.auth("ingest"),
            "Content-Type": "application/json",
            "Idempotency-Key": "shared-across-processes",
        }
        first = api.http.post("/v1/events", content=body, headers=headers)
        again = other.post("/v1/events", content=body, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()


@pytest.mark.parametrize("backend", BACKENDS)
def test_idempotency_receipts_expire(backend: str, tmp_path: Path) -> None:
    from auditlens.server import idempotency

    with running_api(backend, tmp_path, idempotency_ttl_seconds=1) as api:
        body = orjson.dumps({"events": [sample_event(1)]})
        headers = {
            **api.auth("ingest"),
            "Content-Type": "application/json",
            "Idempotency-Key": "short-lived",
        }
        first = api.http.post("/v1/events", content=body, headers=headers)
        assert api.http.post("/v1/events", content=body, headers=headers).headers.get(
            "idempotent-replayed"
        )
        time.sleep(1.1)
        later = api.http.post("/v1/events", content=body, headers=headers)
        assert later.status_code == 201 and "idempotent-replayed" not in later.headers
        assert later.json()["first_index"] > first.json()["first_index"]
        time.sleep(1.1)
        assert idempotency.purge_expired(api.state.db, 1) == 1
        assert idempotency.purge_expired(api.state.db, 1) == 0


def test_limiter_windows_expire_and_ipv6_sources_are_networks(tmp_path: Path) -> None:
    state = open_server(ServerSettings(data_dir=tmp_path))
    now = [1_000_000.0]
    limiter = LoginLimiter(state.db, LoginBudgets(2, 3, 100, 60), clock=lambda: now[0])
    try:
        a, b = "2001:db8:1:2::1", "2001:db8:1:2:ffff::9"
        assert source_of(a) == source_of(b) == "2001:db8:1:2::/64"
        assert source_of("::ffff:10.0.0.1") == "10.0.0.1"
        limiter.record_failure("e@x.test", a)
        limiter.record_failure("e@x.test", b)
        assert limiter.retry_after("e@x.test", "2001:db8:1:2::77") == 60
        assert limiter.retry_after("e@x.test", "2001:db8:1:3::1") is None
        now[0] += 30
        assert limiter.retry_after("e@x.test", a) == 30
        now[0] += 31
        assert limiter.retry_after("e@x.test", a) is None
        assert limiter.record_failure("e@x.test", a) == 1  # a new window
    finally:
        state.close()


def test_the_password_gate_refuses_beyond_its_queue() -> None:
    gate = PasswordGate(workers=1, queue=1)
    release = threading.Event()

    async def main() -> list[Any]:
        calls = [asyncio.ensure_future(gate.run(release.wait)) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert gate.admitted == 2
        with pytest.raises(GateFullError):
            await gate.run(lambda: None)
        release.set()
        return list(await asyncio.gather(*calls))

    try:
        assert asyncio.run(main()) == [True, True]
        assert gate.admitted == 0
    finally:
        gate.close()


def test_a_full_gate_answers_503_with_retry_after_and_health_still_answers(
    tmp_path: Path,
) -> None:
    config = ServerSettings(data_dir=tmp_path, password_check_workers=1, password_check_queue=1)
    app = create_app(config)
    gate: PasswordGate = app.state.password_gate
    release = threading.Event()
    unblocked = gate.run

    async def held(fn: Any) -> Any:
        return await unblocked(lambda: (release.wait(), fn())[1])

    gate.run = held  # type: ignore[method-assign]
    with ThreadedServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        waiting = [
            threading.Thread(target=_login, args=(http, f"q{n}@nowhere.test")) for n in range(2)
        ]
        try:
            for t in waiting:
                t.start()
            deadline = time.monotonic() + 10
            while gate.admitted < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            r = _login(http, "someone@nowhere.test")
            assert r.status_code == 503
            assert r.headers["Retry-After"] == "1"
            assert r.headers["content-type"] == "application/problem+json"
            assert http.get("/v1/health").status_code == 200
        finally:
            release.set()
            for t in waiting:
                t.join()


def test_an_anonymous_caller_cannot_grow_the_log_at_will(tmp_path: Path) -> None:
    with running_api("sqlite", tmp_path) as api:
        before = api.size()
        emails = ["owner@acme.test", "admin@acme.test", "member@acme.test"]
        with _client_from(api.url, "127.0.0.31") as http:
            codes = [_login(http, emails[n % 3]).status_code for n in range(40)]
        assert codes.count(401) == 15 and codes.count(429) == 25
        assert api.size() - before == 6  # first failure and lock-out, per account


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_same_retry_at_two_api_processes_at_once_is_stored_once(
    backend: str, tmp_path: Path
) -> None:
    with running_api(backend, tmp_path) as api, _second_server(api) as other:
        before = api.size()
        for attempt in range(5):
            body = orjson.dumps({"events": [sample_event(i) for i in range(50)]})
            headers = {
                **api.auth("ingest"),
                "Content-Type": "application/json",
                "Idempotency-Key": f"race-{attempt}",
            }
            answers = _at_once([api.http, other], body, headers)
            assert [r.status_code for r in answers] == [201, 201], [r.text for r in answers]
            assert answers[0].json() == answers[1].json()
        assert api.size() == before + 5 * 50


def _at_once(
    clients: list[httpx.Client], body: bytes, headers: dict[str, str]
) -> list[httpx.Response]:
    """POST the same batch through every client at the same moment."""
    answers: list[httpx.Response] = []
    start = threading.Barrier(len(clients))

    def send(http: httpx.Client) -> None:
        start.wait()
        answers.append(http.post("/v1/events", content=body, headers=headers))

    senders = [threading.Thread(target=send, args=(http,)) for http in clients]
    for t in senders:
        t.start()
    for t in senders:
        t.join()
    return answers
