"""End to end with the real server: an export recorded on it carries a record that verifies."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import orjson
import pytest
import sqlalchemy as sa

from auditlens.client.api import AuditApiClient
from auditlens.core import merkle
from auditlens.core.errors import Code
from auditlens.export.commands import exit_code
from auditlens.export.record import attester
from auditlens.export.verify import verify_file
from auditlens.export.writer import ExportOptions, export
from auditlens.mirror.filter import EventFilter, filter_description
from auditlens.mirror.snapshot import MirrorSnapshot
from auditlens.mirror.writer import MirrorWriter, UserRow, extract_row
from auditlens.server.schema import checkpoints, entries, users
from tests.export.files import ExportFile
from tests.server.conftest import Api, running_api, sample_event


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api("sqlite", tmp_path_factory.mktemp("api")) as running:
        r = running.ingest([sample_event(n) for n in range(80)])
        assert r.status_code in (200, 201), r.text
        yield running


def mirror_of(api: Api, path: Path) -> Path:
    """The mirror a finished sync of acme's log would leave (built from the server's rows)."""
    org_id = api.orgs["acme"].org.id
    with api.state.db.read() as conn:
        raws = [
            bytes(b)
            for (b,) in conn.execute(
                sa.select(entries.c.body).where(entries.c.org_id == org_id).order_by(entries.c.idx)
            )
        ]
        size, note, root = conn.execute(
            sa.select(checkpoints.c.size, checkpoints.c.note, checkpoints.c.root)
            .where(checkpoints.c.org_id == org_id)
            .order_by(checkpoints.c.size.desc())
            .limit(1)
        ).one()
        people = conn.execute(
            sa.select(users.c.id, users.c.email, users.c.role).where(users.c.org_id == org_id)
        ).all()
    raws = raws[:size]
    crange = merkle.CompactRange()
    crange.extend([merkle.leaf_hash(r) for r in raws])
    with MirrorWriter(path) as writer:
        batch = writer.begin(size)
        batch.add([extract_row(i, raw, orjson.loads(raw)) for i, raw in enumerate(raws)])
        batch.commit(
            checkpoint_note=note,
            checkpoint_size=size,
            checkpoint_root=bytes(root),
            frontier=crange.hashes,
            users=[UserRow(u, e, u, role) for u, e, role in people],
            meta={"origin": "auditlens.local/acme", "vkey": api.state.vkey, "server_url": api.url},
        )
    return path


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_an_export_recorded_on_the_server_verifies_as_complete(
    api: Api, tmp_path: Path, fmt: str
) -> None:
    mirror = mirror_of(api, tmp_path / "m.sqlite")
    flt = EventFilter(task_id="task-2", types=frozenset({"agent"}))
    out = tmp_path / f"e.{fmt}"
    client = AuditApiClient(api.url, api.orgs["acme"].people["admin"].token)
    with MirrorSnapshot(mirror, flt) as snapshot:
        result = export(
            snapshot,
            ExportOptions(fmt, out, filter_description(flt)),  # type: ignore[arg-type]
            attest=attester(client),
        )
    assert result.record_index is not None and result.count > 0
    freport = verify_file(out, [api.state.vkey], origin="auditlens.local/acme")
    assert freport.report.findings == [], freport.report.findings
    assert freport.report.completeness_status == "complete"
    assert exit_code(freport) == 0

    # Dropping an event and rebuilding the proof from the same mirror keeps the server's record:
    # the record is what exposes the gap.
    partial = tmp_path / f"p.{fmt}"
    with MirrorSnapshot(mirror, list(snapshot_indexes(out, fmt))[:-1]) as snapshot:
        export(snapshot, ExportOptions(fmt, partial, filter_description(flt)))  # type: ignore[arg-type]
    forged = ExportFile(partial, fmt)
    obj = forged.evidence()
    obj["completeness"] = ExportFile(out, fmt).evidence()["completeness"]
    obj["filter"] = ExportFile(out, fmt).evidence()["filter"]
    forged.write_evidence(obj)
    report = verify_file(partial, [api.state.vkey]).report
    assert {f.code for f in report.findings} == {Code.EVENTS_OMITTED}


def test_the_server_attests_the_same_without_numpy(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The viewer's bundle has no numpy; its embedded demo server still attests (stdlib)."""
    monkeypatch.setitem(sys.modules, "numpy", None)  # ``import numpy`` now raises ImportError
    mirror = mirror_of(api, tmp_path / "m.sqlite")
    flt = EventFilter(task_id="task-2")
    client = AuditApiClient(api.url, api.orgs["acme"].people["admin"].token)
    with MirrorSnapshot(mirror, flt) as snapshot:
        result = export(
            snapshot,
            ExportOptions("csv", tmp_path / "e.csv", filter_description(flt)),
            attest=attester(client),
        )
    assert result.record_index is not None and result.count > 0
    freport = verify_file(tmp_path / "e.csv", [api.state.vkey], origin="auditlens.local/acme")
    assert freport.report.findings == [], freport.report.findings
    assert freport.report.completeness_status == "complete"


def snapshot_indexes(path: Path, fmt: str) -> list[int]:
    obj = ExportFile(path, fmt).evidence()
    return [i for a, b in obj["indexes"] for i in range(a, b + 1)]


def test_the_export_command_records_and_attests_with_the_stored_credential(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditlens.client import credentials
    from auditlens.export import commands
    from tests.export.test_commands import run

    mirror = mirror_of(api, tmp_path / "m.sqlite")
    token = api.orgs["acme"].people["admin"].token
    monkeypatch.setattr(
        credentials.CredentialStore,
        "load",
        lambda self, server: SimpleNamespace(secret=token, organization_id="acme"),
    )
    monkeypatch.setattr(commands, "_mirror_for", lambda args: (mirror, api.url))
    out = tmp_path / "agents.ndjson"
    assert (
        run(
            "export",
            "--server",
            api.url,
            "--format",
            "ndjson",
            "--out",
            str(out),
            "--type",
            "agent",
        )
        == 0
    )
    assert "Recorded as an audit.exported event at index" in capsys.readouterr().out
    assert (
        run("verify", str(out), "--vkey", api.state.vkey, "--origin", "auditlens.local/acme") == 0
    )
    said = capsys.readouterr().out
    assert "COMPLETE: the log's own record attests" in said
    assert (
        run(
            "export",
            "--server",
            api.url,
            "--format",
            "json",
            "--out",
            str(tmp_path / "n.json"),
            "--no-record",
        )
        == 0
    )
    assert "Completeness is not attested" in capsys.readouterr().out
