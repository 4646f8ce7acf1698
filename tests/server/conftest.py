"""Shared set-up for the server tests: a real server on loopback, per database backend.

Every API test module runs against SQLite and, when ``AUDITLENS_TEST_PG_URL`` points at a
PostgreSQL server, against PostgreSQL too (a fresh database per module, dropped afterwards).
A module shares one server (``api``): two organizations (``acme``, ``globex``), each with an
owner, an admin and a member, an ingest key and an admin's read key, logged in once.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from auditlens.server import accounts
from auditlens.server.app import create_app
from auditlens.server.embedded import ThreadedServer
from auditlens.server.settings import ServerSettings
from auditlens.server.state import ServerState, open_server

# Real argon2id, cheaper parameters: the suite logs in dozens of times.
accounts.set_password_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))

PG_ENV = "AUDITLENS_TEST_PG_URL"
PASSWORD = "correct horse battery"

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def database_url(backend: str, tmp: Path) -> Iterator[str]:
    """A fresh, empty database of ``backend``; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'server.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@host/db)")
    name = f"auditlens_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield sa.make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class Member:
    user: accounts.User
    token: str = ""


@dataclass
class OrgFixture:
    org: accounts.Organization
    people: dict[str, Member] = field(default_factory=dict)
    ingest_key: str = ""
    read_key: str = ""


@dataclass
class Api:
    """A running server and what a test needs to talk to it."""

    url: str
    state: ServerState
    http: httpx.Client
    orgs: dict[str, OrgFixture]
    backend: str

    def auth(self, who: str, org: str = "acme") -> dict[str, str]:
        """Headers for ``who``: owner|admin|member|ingest|read|anonymous|other (globex admin)."""
        if who == "anonymous":
            return {}
        if who == "other":
            return self.auth("admin", "globex")
        fx = self.orgs[org]
        if who == "ingest":
            secret = fx.ingest_key
        elif who == "read":
            secret = fx.read_key
        else:
            secret = fx.people[who].token
        return {"Authorization": f"Bearer {secret}"}

    def ingest(self, events: list[dict[str, Any]], org: str = "acme") -> httpx.Response:
        return self.http.post(
            "/v1/events", json={"events": events}, headers=self.auth("ingest", org)
        )

    def size(self, org: str = "acme") -> int:
        r = self.http.get("/v1/log/info", headers=self.auth("admin", org))
        assert r.status_code == 200, r.text
        return int(r.json()["size"])


def sample_event(n: int = 0, **overrides: Any) -> dict[str, Any]:
    """A valid ``agent.action`` submission."""
    event: dict[str, Any] = {
        "type": "agent.action",
        "user_id": None,
        "task_id": f"task-{n % 7}",
        "agent_id": f"agent-{n % 3}",
        "event": {
            "outcome": "failure" if n % 5 == 0 else "success",
            "tool": "browser.navigate",
            "url": f"https://example.com/{n}",
            "params": {"n": n},
        },
    }
    event.update(overrides)
    return event


def make_org(state: ServerState, name: str) -> OrgFixture:
    with state.db.write() as conn:
        org = accounts.create_organization(conn, state.sequencer, name, "business")
        fx = OrgFixture(org)
        for role in accounts.ROLES:
            user = accounts.create_user(
                conn,
                org.id,
                email=f"{role}@{org.slug}.test",
                name=f"{role.title()} of {name}",
                role=role,
                password=PASSWORD,
            )
            fx.people[role] = Member(user)
        _, fx.ingest_key = accounts.create_api_key(
            conn, org.id, "platform", "ingest", fx.people["owner"].user.id
        )
        _, fx.read_key = accounts.create_api_key(
            conn, org.id, "reports", "read", fx.people["admin"].user.id
        )
    return fx


@contextmanager
def running_api(backend: str, tmp: Path, **settings: Any) -> Iterator[Api]:
    with database_url(backend, tmp) as url:
        options: dict[str, Any] = {
            "login_failure_delay_seconds": 0,
            "sqlite_synchronous": "NORMAL",
            **settings,
        }
        config = ServerSettings(data_dir=tmp / "data", database_url=url, **options)
        state = open_server(config)
        orgs = {"acme": make_org(state, "Acme"), "globex": make_org(state, "Globex")}
        server = ThreadedServer(create_app(config, state)).start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as http:
                for fx in orgs.values():
                    for member in fx.people.values():
                        r = http.post(
                            "/v1/auth/login",
                            json={"email": member.user.email, "password": PASSWORD},
                        )
                        assert r.status_code == 200, r.text
                        member.token = r.json()["token"]
                yield Api(server.url, state, http, orgs, backend)
        finally:
            server.stop()


@pytest.fixture(scope="module", params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api(request.param, tmp_path_factory.mktemp("api")) as running:
        yield running
