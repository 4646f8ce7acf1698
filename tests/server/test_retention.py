"""Retention pruning: bodies go below a 256-aligned min_index, hashes stay, the log says so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from auditlens.core.errors import Code
from auditlens.server import retention
from auditlens.server.retention import DAY_MS
from tests.server.conftest import BACKENDS, Api, running_api, sample_event
from tests.server.thirdparty import verify_log

ORIGIN = "auditlens.local/acme"


@pytest.fixture(scope="module")
def pruned(api: Api) -> tuple[Api, retention.PruneResult, list[str]]:
    r = api.ingest([sample_event(i) for i in range(600)])
    assert r.status_code == 201
    assert retention.prune(api.state.sequencer, api.orgs["acme"].org.id) is None  # nothing old yet
    later = api.state.sequencer.clock() + 91 * DAY_MS
    result = retention.prune(api.state.sequencer, api.orgs["acme"].org.id, now_ms=later)
    assert result is not None
    return api, result, r.json()["ids"]


def test_min_index_is_a_multiple_of_256_below_the_cutoff(
    pruned: tuple[Api, retention.PruneResult, list[str]],
) -> None:
    api, result, _ = pruned
    assert result.policy_days == 90  # business plan
    assert result.min_index % 256 == 0
    assert result.min_index == (result.event_index // 256) * 256
    assert (
        api.http.get("/v1/log/info", headers=api.auth("admin")).json()["min_index"]
        == result.min_index
    )


def test_pruned_entry_bundles_are_410(pruned: tuple[Api, retention.PruneResult, list[str]]) -> None:
    api, _, _ = pruned
    r = api.http.get("/v1/log/tile/entries/000", headers=api.auth("admin"))
    assert r.status_code == 410
    assert r.headers["content-type"] == "application/problem+json"
    assert "retention" in r.json()["detail"]


def test_pruned_event_by_id_is_410(pruned: tuple[Api, retention.PruneResult, list[str]]) -> None:
    api, _, ids = pruned
    r = api.http.get(f"/v1/audit-logs/{ids[0]}", headers=api.auth("admin"))
    assert r.status_code == 410


def test_hashes_remain_so_the_log_still_verifies(
    pruned: tuple[Api, retention.PruneResult, list[str]],
) -> None:
    api, result, _ = pruned
    verify_log(api.http, api.auth("admin"), ORIGIN, api.state.vkey, min_index=result.min_index)


def test_the_prune_is_a_signed_event_in_the_log(
    pruned: tuple[Api, retention.PruneResult, list[str]],
) -> None:
    api, result, _ = pruned
    items = api.http.get(
        "/v1/audit-logs", params={"type": "audit.retention_pruned"}, headers=api.auth("admin")
    ).json()["items"]
    assert items[0]["index"] == result.event_index
    assert items[0]["event"]["event"]["min_index"] == result.min_index
    assert items[0]["event"]["event"]["policy_days"] == 90


def test_listing_skips_pruned_entries(pruned: tuple[Api, retention.PruneResult, list[str]]) -> None:
    api, result, _ = pruned
    items = api.http.get(
        "/v1/audit-logs", params={"order": "asc", "limit": 5}, headers=api.auth("admin")
    ).json()["items"]
    assert items[0]["index"] == result.min_index


def test_pruning_again_changes_nothing(
    pruned: tuple[Api, retention.PruneResult, list[str]],
) -> None:
    api, result, _ = pruned
    size = api.size()
    later = api.state.sequencer.clock() + 91 * DAY_MS
    again = retention.prune(api.state.sequencer, api.orgs["acme"].org.id, now_ms=later)
    assert again is None or again.min_index > result.min_index
    if again is None:
        assert api.size() == size


def test_bodies_above_min_index_still_cannot_be_nulled(
    pruned: tuple[Api, retention.PruneResult, list[str]],
) -> None:
    import sqlalchemy as sa

    api, result, _ = pruned
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), api.state.db.write() as conn:
        conn.execute(
            sa.text("UPDATE entries SET body = NULL WHERE idx = :i"), {"i": result.min_index}
        )


def test_the_running_server_prunes_on_its_own(tmp_path: Path) -> None:
    from auditlens.server import accounts

    with running_api("sqlite", tmp_path, retention_interval_seconds=0.1) as api:
        state = api.state
        with state.db.write() as conn:
            org = accounts.create_organization(conn, state.sequencer, "Oldco", "business")
            old = state.sequencer.clock() - 100 * DAY_MS
            state.sequencer.append_in(
                conn, org.id, [sample_event(i) for i in range(300)], timestamps=[old] * 300
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with state.db.read() as conn:
                if accounts.get_organization(conn, org.id).min_index == 256:
                    return
            time.sleep(0.05)
        pytest.fail("the retention loop did not prune")


def _check(api: Api, org: str = "acme") -> list[Any]:
    from auditlens.server.integrity import check_log

    return check_log(api.state, api.orgs[org].org).findings


def test_a_legitimate_prune_passes_the_operator_check(
    pruned: tuple[Api, retention.PruneResult, list[str]],
) -> None:
    api, _, _ = pruned
    assert _check(api) == []


@pytest.mark.parametrize("org", ["acme", "globex"])
def test_raising_min_index_without_a_signed_prune_event_is_refused(
    pruned: tuple[Api, retention.PruneResult, list[str]], org: str
) -> None:
    api, _, _ = pruned
    for statement in (
        "UPDATE organizations SET min_index = min_index + 256",
        "UPDATE organizations SET min_index = min_index + 512",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="retention_pruned"), api.state.db.write() as c:
            c.execute(sa.text(f"{statement} WHERE id = :o"), {"o": api.orgs[org].org.id})


@pytest.fixture(params=BACKENDS)
def private_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    with running_api(request.param, tmp_path) as api:
        yield api


def _drop(api: Api, trigger: str, table: str) -> None:
    with api.state.db.write() as conn:
        conn.exec_driver_sql(
            f"DROP TRIGGER {trigger} ON {table}"
            if api.backend == "postgresql"
            else f"DROP TRIGGER {trigger}"
        )


def test_bodies_erased_by_raising_min_index_by_hand_are_found(
    private_api: Api, capsys: pytest.CaptureFixture[str]
) -> None:
    """The attack: raise min_index, then NULL the bodies below it (triggers out of the way)."""
    from tests.server.test_commands import run

    api = private_api
    assert api.ingest([sample_event(i) for i in range(600)]).status_code == 201
    assert _check(api) == []
    _drop(api, "organizations_prune_signed", "organizations")
    org_id = api.orgs["acme"].org.id
    with api.state.db.write() as conn:
        conn.execute(
            sa.text("UPDATE organizations SET min_index = 512 WHERE id = :o"), {"o": org_id}
        )
        conn.execute(
            sa.text("UPDATE entries SET body = NULL WHERE org_id = :o AND idx < 512"), {"o": org_id}
        )
    findings = _check(api)
    assert [f.code for f in findings] == [Code.EVENT_MISSING], findings
    assert findings[0].ranges == ((0, 511),)
    assert "retention_pruned" in findings[0].message
    settings = api.state.settings
    argv = ["--data-dir", str(settings.data_dir), "--db", str(settings.database_url)]
    code, out, _ = run(capsys, "server", "verify", *argv)
    assert code == 1
    assert "auditlens.local/acme: FAILED" in out and "EVENT_MISSING" in out


def test_a_body_erased_above_min_index_is_found(private_api: Api) -> None:
    api = private_api
    assert api.ingest([sample_event(i) for i in range(20)]).status_code == 201
    _drop(api, "entries_prune_only", "entries")
    with api.state.db.write() as conn:
        conn.execute(
            sa.text("UPDATE entries SET body = NULL WHERE org_id = :o AND idx = 7"),
            {"o": api.orgs["acme"].org.id},
        )
    findings = _check(api)
    assert [f.code for f in findings] == [Code.EVENT_MISSING], findings
    assert findings[0].ranges == ((7, 7),)


def test_a_prune_after_a_prune_still_passes_the_operator_check(private_api: Api) -> None:
    api = private_api
    org_id = api.orgs["acme"].org.id
    assert api.ingest([sample_event(i) for i in range(300)]).status_code == 201
    first = retention.prune(
        api.state.sequencer, org_id, now_ms=api.state.sequencer.clock() + 91 * DAY_MS
    )
    assert first is not None and first.min_index == 256
    assert api.ingest([sample_event(i) for i in range(600)]).status_code == 201
    second = retention.prune(
        api.state.sequencer, org_id, now_ms=api.state.sequencer.clock() + 91 * DAY_MS
    )
    assert second is not None and second.previous_min_index == 256 and second.min_index > 512
    assert _check(api) == []
    verify_log(api.http, api.auth("admin"), ORIGIN, api.state.vkey, min_index=second.min_index)


def test_a_log_that_refuses_appends_is_reported_and_the_others_are_still_pruned(
    tmp_path: Path,
) -> None:
    """The retention round used to stop at the first log whose stored state refused appends."""
    from auditlens.server.app import prune_all

    with running_api("sqlite", tmp_path) as api:
        assert api.ingest([sample_event(i) for i in range(600)]).status_code == 201
        globex = api.orgs["globex"].org.id
        with api.state.db.write() as conn:  # a raised tree size: signing now could fork the log
            conn.execute(
                sa.text("UPDATE organizations SET tree_size = tree_size + 1000 WHERE id = :o"),
                {"o": globex},
            )
        clock = api.state.sequencer.clock
        api.state.sequencer.clock = lambda: clock() + 91 * DAY_MS  # type: ignore[method-assign]
        done = prune_all(api.state)
    assert [r.org_id for r in done.pruned] == [api.orgs["acme"].org.id]
    assert len(done.refused) == 1 and globex in done.refused[0].detail
