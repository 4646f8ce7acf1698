"""The database itself keeps the log append-only; tampering behind the server's back shows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from auditlens.core.errors import Code, VerificationError
from tests.server.conftest import BACKENDS, Api, running_api, sample_event
from tests.server.thirdparty import verify_log

ORIGIN = "auditlens.local/acme"

REFUSED = [
    "UPDATE entries SET body = NULL",
    "UPDATE entries SET outcome = 'success'",
    "UPDATE entries SET ts = ts + 1",
    "DELETE FROM entries",
    "DELETE FROM entries WHERE idx = 1",
    "UPDATE tree_nodes SET idx = idx",
    "DELETE FROM tree_nodes",
    "UPDATE checkpoints SET note = 'x'",
    "DELETE FROM checkpoints",
    "UPDATE organizations SET tree_size = 0",
    "UPDATE organizations SET min_index = -1",
    "UPDATE organizations SET origin = 'evil/acme'",
    "DELETE FROM organizations",
]


@pytest.fixture(scope="module")
def filled(api: Api) -> Api:
    assert api.ingest([sample_event(i) for i in range(300)]).status_code == 201
    return api


@pytest.mark.parametrize("statement", REFUSED)
def test_direct_sql_that_rewrites_history_fails(filled: Api, statement: str) -> None:
    size = filled.size()
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), filled.state.db.write() as conn:
        conn.exec_driver_sql(statement)
    assert filled.size() == size
    verify_log(filled.http, filled.auth("admin"), ORIGIN, filled.state.vkey)


def test_postgres_refuses_truncate(filled: Api) -> None:
    if filled.backend != "postgresql":
        pytest.skip("TRUNCATE exists only on PostgreSQL")
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), filled.state.db.write() as conn:
        conn.exec_driver_sql("TRUNCATE entries")


@pytest.fixture(params=BACKENDS)
def private_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with running_api(request.param, tmp_path) as api:
        yield api


def test_editing_an_entry_behind_the_servers_back_fails_verification(private_api: Api) -> None:
    api = private_api
    assert api.ingest([sample_event(i) for i in range(20)]).status_code == 201
    verify_log(api.http, api.auth("admin"), ORIGIN, api.state.vkey)
    drop = (
        "DROP TRIGGER entries_prune_only ON entries"
        if api.backend == "postgresql"
        else "DROP TRIGGER entries_prune_only"
    )
    with api.state.db.write() as conn:
        conn.exec_driver_sql(drop)
        org_id = api.orgs["acme"].org.id
        body = conn.execute(
            sa.text("SELECT body FROM entries WHERE org_id = :o AND idx = 10"), {"o": org_id}
        ).scalar_one()
        forged = (
            bytes(body).replace(b'"failure"', b'"success"').replace(b"example.com", b"evil.com")
        )
        assert forged != bytes(body)
        conn.execute(
            sa.text("UPDATE entries SET body = :b WHERE org_id = :o AND idx = 10"),
            {"b": forged, "o": org_id},
        )
    with pytest.raises(VerificationError) as caught:
        verify_log(api.http, api.auth("admin"), ORIGIN, api.state.vkey)
    assert caught.value.code is Code.EVENT_MODIFIED


def test_operator_check_passes_on_an_intact_log_and_finds_a_forged_entry(
    private_api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditlens.server.integrity import check_log
    from tests.server.test_commands import run

    api = private_api
    assert api.ingest([sample_event(i) for i in range(300)]).status_code == 201
    org = api.orgs["acme"].org
    report = check_log(api.state, org)
    assert report.ok, report.findings
    assert report.size == api.size() and report.checkpoints >= 2
    with api.state.db.write() as conn:
        conn.exec_driver_sql(
            "DROP TRIGGER entries_prune_only ON entries"
            if api.backend == "postgresql"
            else "DROP TRIGGER entries_prune_only"
        )
        conn.execute(
            sa.text("UPDATE entries SET body = :b WHERE org_id = :o AND idx = 42"),
            {"b": b'{"forged":true}', "o": org.id},
        )
    report = check_log(api.state, org)
    assert [f.code for f in report.findings] == [Code.EVENT_MODIFIED]
    assert report.findings[0].indexes == [42]
    settings = api.state.settings
    argv = [
        "server",
        "verify",
        "--data-dir",
        str(settings.data_dir),
        "--db",
        str(settings.database_url),
    ]
    code, out, _ = run(capsys, *argv)
    assert code == 1
    assert "auditlens.local/acme: FAILED" in out and "auditlens.local/globex: OK" in out


def _drop_entry_trigger(api: Api) -> None:
    with api.state.db.write() as conn:
        conn.exec_driver_sql(
            "DROP TRIGGER entries_prune_only ON entries"
            if api.backend == "postgresql"
            else "DROP TRIGGER entries_prune_only"
        )


@pytest.mark.parametrize(
    "assignment",
    [
        "outcome = CASE WHEN outcome = 'success' THEN 'failure' ELSE 'success' END",
        "user_id = 'someone-else'",
        "task_id = 'task-x'",
        "agent_id = NULL",
        "category = 'billing'",
        "type = 'agent.tool_call'",
        "ts = ts + 1",
        "id = 'log_01JD0000000000000000000000'",
    ],
)
def test_operator_check_compares_every_indexed_column_with_the_body(
    private_api: Api, assignment: str
) -> None:
    """A filter column changed behind the server's back (body untouched) is a finding."""
    from auditlens.server.integrity import check_log

    api = private_api
    assert api.ingest([sample_event(i) for i in range(12)]).status_code == 201
    org = api.orgs["acme"].org
    _drop_entry_trigger(api)
    with api.state.db.write() as conn:
        conn.execute(
            sa.text(f"UPDATE entries SET {assignment} WHERE org_id = :o AND idx = 5"),
            {"o": org.id},
        )
    report = check_log(api.state, org)
    assert report.findings and report.findings[0].code is Code.EVENT_MODIFIED, report.findings
    assert report.findings[0].indexes == [5]
    assert {f.code for f in report.findings} <= {Code.EVENT_MODIFIED, Code.EVENT_REORDERED}
