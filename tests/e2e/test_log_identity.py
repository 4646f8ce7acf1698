"""One origin and key mean one history, whatever URL or organization id serves them.

Two real `auditlens serve --demo` processes, one after the other on the same URL, with the same
log key: the second one's demo organization has another id, the same origin and another history.
The client must recognise the log it already trusts (no "first contact"), refuse the other
history as LOG_FORKED, keep both checkpoints as evidence beside the mirror and change nothing in
the mirror.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

from tests.e2e.cli import DemoProcess, client_env, free_port, run_cli

ORIGIN = "auditlens.local/acme"


def _mirror_state(path: Path) -> tuple[int, str, list[str]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        digest = hashlib.sha256()
        for idx, raw in conn.execute("SELECT idx, raw FROM entries ORDER BY idx"):
            digest.update(idx.to_bytes(8, "big") + bytes(raw))
        (size,) = conn.execute("SELECT max(size) FROM checkpoints").fetchone()
        notes = [n for (n,) in conn.execute("SELECT note FROM checkpoints ORDER BY size")]
    return size, digest.hexdigest(), notes


def _login(env: dict[str, str], server: DemoProcess, vkey: str) -> tuple[int, str]:
    done = run_cli(
        env,
        "login",
        "--server",
        server.url,
        "--email",
        server.admin_email,
        "--vkey",
        vkey,
        stdin=server.admin_password + "\n",
        check=None,
    )
    return done.returncode, done.stdout + done.stderr


def test_a_second_history_under_a_pinned_origin_and_key_is_log_forked(tmp_path: Path) -> None:
    env = client_env(tmp_path / "client")
    port = free_port()
    first = DemoProcess.start(tmp_path / "server-1", env, port=port)
    try:
        code, said = _login(env, first, first.vkey)
        assert code == 0 and "First contact" in said, said
        run_cli(env, "sync", "--server", first.url, "--quiet")
    finally:
        first.stop()
    (mirror,) = (tmp_path / "client" / "data" / "mirrors").glob("*.sqlite")
    before = _mirror_state(mirror)

    # The same URL, the same log key, a fresh database: another history under the same origin.
    second_dir = tmp_path / "server-2"
    second_dir.mkdir()
    for name in ("log.key", "log.vkey"):
        shutil.copy2(first.data_dir / name, second_dir / name)
    second = DemoProcess.start(second_dir, env, port=port)
    try:
        assert second.vkey == first.vkey
        code, said = _login(env, second, first.vkey)
        assert code == 0, said
        assert "First contact" not in said and "already trust" in said, said
        done = run_cli(env, "sync", "--server", second.url, "--quiet", check=1)
    finally:
        second.stop()

    assert done.stderr.startswith("LOG_FORKED"), done.stderr
    assert list(mirror.parent.glob("*.sqlite")) == [mirror]  # no second mirror
    assert _mirror_state(mirror) == before  # nothing changed in the mirror
    (evidence,) = mirror.parent.glob(mirror.stem + ".fork-*.json")
    assert str(evidence) in done.stderr
    record = json.loads(evidence.read_text(encoding="utf-8"))
    assert record["code"] == "LOG_FORKED"
    assert (record["origin"], record["vkey"]) == (ORIGIN, first.vkey)
    assert record["trusted_checkpoint"] == before[2][-1]
    assert record["conflicting_checkpoint"] != record["trusted_checkpoint"]
    assert record["conflicting_checkpoint"].startswith(ORIGIN + "\n")

    pins = json.loads((tmp_path / "client" / "config" / "pins.json").read_text(encoding="utf-8"))
    assert list(pins["logs"]) == [ORIGIN]
    assert pins["logs"][ORIGIN]["vkey"] == first.vkey

    # Asking again gives the same answer and keeps one evidence file per distinct fork.
    # ... and another mirror directory does not make the other history new.
    elsewhere = tmp_path / "elsewhere"
    again = DemoProcess.start(second_dir, env, port=port)
    try:
        run_cli(env, "sync", "--server", again.url, "--quiet", check=1)
        moved = run_cli(
            env, "sync", "--server", again.url, "--quiet", "--mirror-dir", str(elsewhere), check=1
        )
    finally:
        again.stop()
    assert moved.stderr.startswith("LOG_FORKED"), moved.stderr
    assert not list(elsewhere.glob("*.sqlite")) or all(
        _mirror_state(p)[0] is None for p in elsewhere.glob("*.sqlite")
    )
    assert len(list(mirror.parent.glob(mirror.stem + ".fork-*.json"))) == 1
    assert _mirror_state(mirror) == before
