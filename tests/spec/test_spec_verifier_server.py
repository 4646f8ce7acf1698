"""The independent verifier accepts completeness records the real server makes.

``test_spec_verifier`` checks exports attested by a test stand-in for the server, which reuses
auditlens's own digest and filter code: if the server's attestation drifted from
docs/evidence-format.md, both would drift together. Here the reference server itself records
the exports (``POST /v1/audit-logs/exports`` over HTTP), and ``spec_verifier``, written from the
document alone, must find each one complete, and must still catch a forged filter.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from auditlens.client.api import AuditApiClient
from auditlens.export.record import attester
from auditlens.export.writer import ExportOptions, export
from auditlens.mirror.filter import EventFilter, filter_description
from auditlens.mirror.snapshot import MirrorSnapshot
from tests.export.test_completeness_server import mirror_of
from tests.server.conftest import running_api, sample_event
from tests.spec.spec_verifier import verify

pytestmark = pytest.mark.slow

ORIGIN = "auditlens.local/acme"
FILTERS = (
    EventFilter(task_id="task-2", types=frozenset({"agent"})),
    EventFilter(outcome="failure"),
    EventFilter(),
)


def test_exports_recorded_by_the_real_server_verify_independently(tmp_path: Path) -> None:
    with running_api("sqlite", tmp_path / "api") as api:
        api.ingest([sample_event(n) for n in range(80)])
        mirror = mirror_of(api, tmp_path / "m.sqlite")
        client = AuditApiClient(api.url, api.orgs["acme"].people["admin"].token)
        made = []
        for n, flt in enumerate(FILTERS):
            for fmt in ("json", "ndjson", "csv"):
                path = tmp_path / f"export-{n}.{fmt}"
                with MirrorSnapshot(mirror, flt) as snap:
                    options = ExportOptions(fmt, path, filter_description(flt))
                    result = export(snap, options, attest=attester(client))
                made.append((path, result.count))
                codes, attested = verify(path, api.state.vkey, ORIGIN)
                assert (codes, attested) == (set(), True), (path.name, filter_description(flt))
        assert {count for _, count in made} != {0}, "every export was empty: nothing was tested"
        vkey = api.state.vkey

    # The stated filter rewritten after the fact: the server's record still says what was asked.
    path = tmp_path / "export-0.json"
    doc = orjson.loads(path.read_bytes())
    doc["evidence"]["filter"] = {"task_id": "task-9"}
    path.write_bytes(orjson.dumps(doc))
    codes, attested = verify(path, vkey, ORIGIN)
    assert attested and "FILTER_MISMATCH" in codes
