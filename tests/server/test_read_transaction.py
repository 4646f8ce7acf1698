"""An audit-log page is read in one transaction, the credential check included.

On PostgreSQL each transaction is a pooled connection handed out (with its liveness ping), a
``BEGIN`` and a ``COMMIT``: round trips to a server that, under the mixed load of
``bench/server.py --mixed``, is busy with appends. The credential check and the page read the
same snapshot, so the page also sees exactly the organization the credential was checked
against (its retention floor included).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from tests.server.conftest import Api


@contextmanager
def transactions(api: Api) -> Iterator[list[int]]:
    """How many transactions the server's reader begins meanwhile (one counter)."""
    begun = [0]

    def count(*_: object) -> None:
        begun[0] += 1

    engine = api.state.db.reader
    sa.event.listen(engine, "begin", count)
    try:
        yield begun
    finally:
        sa.event.remove(engine, "begin", count)


@pytest.mark.parametrize("who", ["admin", "read"])
def test_an_audit_log_page_is_one_read_transaction(api: Api, who: str) -> None:
    api.ingest([{"type": "agent.action", "user_id": None, "event": {"n": n}} for n in range(3)])
    with transactions(api) as begun:
        r = api.http.get("/v1/audit-logs", params={"limit": 2}, headers=api.auth(who))
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) == 2
        cursor = r.json()["next_cursor"]
        r = api.http.get(
            "/v1/audit-logs", params={"limit": 2, "cursor": cursor}, headers=api.auth(who)
        )
        assert r.status_code == 200, r.text
    assert begun[0] == 2


@pytest.mark.parametrize(
    ("who", "status"), [("anonymous", 401), ("member", 403), ("ingest", 403), ("other", 200)]
)
def test_the_page_still_refuses_whom_it_refused(api: Api, who: str, status: int) -> None:
    r = api.http.get("/v1/audit-logs", params={"bogus": 1}, headers=api.auth(who))
    # The credential is checked before the parameters: a stranger learns nothing of them.
    assert r.status_code == (422 if status == 200 else status), r.text
