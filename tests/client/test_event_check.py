"""``auditlens verify-event`` against a real server: a SIEM's copy of an event checks out only
when it is, byte for byte after canonicalization, the log's entry at its index under a checkpoint
signed by the key."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from auditlens.cli import build_parser
from auditlens.client.api import AuditApiClient
from auditlens.server.schema import entries
from tests.server.conftest import Api, running_api, sample_event

ORIGIN = "auditlens.local/acme"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api("sqlite", tmp_path_factory.mktemp("event-check")) as api:
        assert api.ingest([sample_event(n) for n in range(40)]).is_success
        yield api


@pytest.fixture
def files(api: Api, tmp_path: Path) -> dict[str, Path]:
    """A SIEM's view: entry 17 re-spaced with its keys reversed, the checkpoint, a key file."""
    org_id = api.orgs["acme"].org.id
    with api.state.db.read() as conn:
        body = conn.execute(
            sa.select(entries.c.body).where(entries.c.org_id == org_id, entries.c.idx == 17)
        ).scalar_one()
    event = orjson.loads(bytes(body))
    shuffled = dict(reversed(list(event.items())))
    token = api.orgs["acme"].people["admin"].token
    with AuditApiClient(api.url, token) as client:
        note = client.checkpoint()
    out = {
        "event": tmp_path / "event.json",
        "checkpoint": tmp_path / "checkpoint.txt",
        "key": tmp_path / "read.key",
    }
    out["event"].write_bytes(orjson.dumps(shuffled, option=orjson.OPT_INDENT_2))
    out["checkpoint"].write_text(note, encoding="utf-8")
    out["key"].write_text(token + "\n", encoding="utf-8")
    return out


def run(api: Api, files: dict[str, Path], *extra: str, index: int = 17) -> int:
    args = build_parser().parse_args(
        [
            "verify-event",
            str(files["event"]),
            "--index",
            str(index),
            "--checkpoint",
            str(files["checkpoint"]),
            "--vkey",
            api.state.vkey,
            "--server",
            api.url,
            "--api-key-file",
            str(files["key"]),
            *extra,
        ]
    )
    return int(args.handler(args))


def test_the_siems_copy_of_an_event_is_the_logs_entry(
    api: Api, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(api, files, "--origin", ORIGIN) == 0
    out = capsys.readouterr().out
    assert out.startswith("VERIFIED") and f"entry 17 of {ORIGIN}" in out


def test_a_checkpoint_carried_in_base64_as_syslog_does_is_read(
    api: Api, files: dict[str, Path]
) -> None:
    note = files["checkpoint"].read_bytes()
    files["checkpoint"].write_text(base64.b64encode(note).decode(), encoding="utf-8")
    assert run(api, files) == 0


def test_an_edited_event_or_another_index_fails_inclusion(
    api: Api, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(api, files, index=18) == 1
    assert "INCLUSION_FAILED" in capsys.readouterr().out
    event = orjson.loads(files["event"].read_bytes())
    event["event"]["tool"] = "something.else"
    files["event"].write_bytes(orjson.dumps(event))
    assert run(api, files) == 1
    assert "not entry 17" in capsys.readouterr().out


def test_another_key_another_origin_or_an_uncovered_index_fail(
    api: Api, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from auditlens.core.note import generate_keys

    _skey, other_vkey = generate_keys(ORIGIN)
    args = build_parser().parse_args(
        [
            "verify-event",
            str(files["event"]),
            "--index",
            "17",
            "--checkpoint",
            str(files["checkpoint"]),
            "--vkey",
            other_vkey,
            "--server",
            api.url,
            "--api-key-file",
            str(files["key"]),
        ]
    )
    assert args.handler(args) == 1
    assert "the checkpoint fails" in capsys.readouterr().out
    assert run(api, files, "--origin", "auditlens.local/other") == 1
    assert "ORIGIN_MISMATCH" in capsys.readouterr().out
    assert run(api, files, index=10_000) == 1
    assert "does not cover index" in capsys.readouterr().out


def test_a_file_that_is_not_an_event_is_a_usage_error(
    api: Api, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    files["event"].write_text("[1, 2]", encoding="utf-8")
    assert run(api, files) == 2
    assert "not a JSON object" in capsys.readouterr().err
