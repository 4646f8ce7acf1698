"""The command line's contract: --version and --help work and list only working commands."""

from __future__ import annotations

import subprocess
import sys

import pytest

from auditlens import __version__
from auditlens.cli import COMMAND_MODULES, build_parser, main


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"auditlens {__version__}"


def test_help_lists_every_registered_command() -> None:
    help_text = build_parser().format_help()
    parser = build_parser()
    commands = {
        name
        for action in parser._subparsers._group_actions  # type: ignore[union-attr]
        for name in getattr(action, "choices", {}) or {}
    }
    assert len(commands) >= len(COMMAND_MODULES)
    for command in commands:
        assert command in help_text


def test_console_script_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "auditlens.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "auditlens" in result.stdout
