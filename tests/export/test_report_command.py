"""``auditlens report`` in a fresh process, on a real mirror, checked by ``auditlens verify``.

Each command runs as a person would run it: the installed ``auditlens`` script in its own
process, with no display (no ``DISPLAY``, no ``QT_QPA_PLATFORM``) and its data and config
directories in the test's temp directory.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.export.trail_seed import TASK, seeded_mirror
from tests.ui.mirror_factory import BuiltMirror


def auditlens() -> list[str]:
    script = Path(sys.executable).with_name("auditlens")
    return [str(script)] if script.exists() else [sys.executable, "-m", "auditlens.cli"]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> BuiltMirror:
    return seeded_mirror(tmp_path_factory.mktemp("cli") / "m.sqlite")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    out = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    out["AUDITLENS_DATA_DIR"] = str(tmp_path / "data")
    out["AUDITLENS_CONFIG_DIR"] = str(tmp_path / "config")
    return out


def run(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*auditlens(), *map(str, args)],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_html_report_is_written_and_verifies(
    mirror: BuiltMirror, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "task.html"
    done = run(env, "report", "--mirror", mirror.path, "--task-id", TASK, "--format", "html",
               "--out", out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "41 verified event(s)" in done.stdout and "auditlens verify" in done.stdout
    checked = run(env, "verify", out, "--vkey", mirror.vkey)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "VERIFIED: all 41 event(s)" in checked.stdout


def test_pdf_report_without_a_display_says_it_is_no_evidence(
    mirror: BuiltMirror, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "task.pdf"  # the format follows the suffix
    done = run(env, "report", "--mirror", mirror.path, "--task-id", TASK, "--out", out)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"%PDF")
    assert "carries no evidence" in done.stdout
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
        ).stdout
        assert "carol@acme.test" in text and f"Task {TASK}" in text


def test_the_only_mirror_is_used_as_by_export(
    mirror: BuiltMirror, env: dict[str, str], tmp_path: Path
) -> None:
    mirrors = Path(env["AUDITLENS_DATA_DIR"]) / "mirrors"
    mirrors.mkdir(parents=True)
    shutil.copy(mirror.path, mirrors / "only.sqlite")
    out = tmp_path / "task.html"
    done = run(env, "report", "--task-id", TASK, "--out", out)
    assert done.returncode == 0, done.stderr
    assert run(env, "verify", out, "--vkey", mirror.vkey).returncode == 0


def test_nothing_is_written_from_a_mirror_that_does_not_verify(
    env: dict[str, str], tmp_path: Path
) -> None:
    built = seeded_mirror(tmp_path / "bad.sqlite")
    conn = sqlite3.connect(built.path)
    conn.execute("UPDATE entries SET raw = CAST(? AS BLOB) WHERE idx = 3", (b'{"x":1}',))
    conn.commit()
    conn.close()
    out = tmp_path / "task.html"
    done = run(env, "report", "--mirror", built.path, "--task-id", TASK, "--out", out)
    assert done.returncode == 1
    assert "INCLUSION_FAILED" in done.stderr and "not written" in done.stderr
    assert not out.exists() and not list(tmp_path.glob(".task.html.*"))


def test_unknown_task_and_bad_usage(
    mirror: BuiltMirror, env: dict[str, str], tmp_path: Path
) -> None:
    unknown = run(env, "report", "--mirror", mirror.path, "--task-id", "tsk_nobody", "--out",
                  tmp_path / "r.html")  # fmt: skip
    assert unknown.returncode == 1 and "no event" in unknown.stderr
    no_mirror = run(env, "report", "--mirror", tmp_path / "none.sqlite", "--task-id", TASK,
                    "--out", tmp_path / "r.html")  # fmt: skip
    assert no_mirror.returncode == 2 and "no mirror at" in no_mirror.stderr
    no_dir = run(env, "report", "--mirror", mirror.path, "--task-id", TASK, "--out",
                 tmp_path / "missing" / "r.html")  # fmt: skip
    assert no_dir.returncode == 2 and "does not exist" in no_dir.stderr
    helped = run(env, "report", "--help")
    assert helped.returncode == 0 and "carries no evidence" in helped.stdout
