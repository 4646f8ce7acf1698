"""The viewer's sub-commands are registered with their options."""

from __future__ import annotations

import argparse

from auditlens.ui import commands


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="auditlens")
    commands.register(p.add_subparsers(dest="command"))
    return p


def test_demo_takes_the_event_count_and_seed() -> None:
    args = parser().parse_args(["demo", "--events", "2000", "--seed", "7"])
    assert (args.events, args.seed, args.handler) == (2000, 7, commands.run_demo)


def test_demo_defaults_to_a_hundred_thousand_events() -> None:
    args = parser().parse_args(["demo"])
    assert (args.events, args.seed, args.sync_every) == (100_000, 1, 0)


def test_gui_resumes_a_server_and_can_sync_periodically() -> None:
    args = parser().parse_args(
        ["gui", "--server", "https://audit.example.com", "--sync-every", "60"]
    )
    assert (args.server, args.sync_every, args.handler) == (
        "https://audit.example.com",
        60,
        commands.run_gui,
    )


def test_demo_refuses_a_non_positive_event_count(capsys: object) -> None:
    args = parser().parse_args(["demo", "--events", "0"])
    assert commands.run_demo(args) == 2
