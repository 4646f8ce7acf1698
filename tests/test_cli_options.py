"""The demo and sync options mean the same in every sub-command that takes them."""

from __future__ import annotations

from auditlens.cli import build_parser
from auditlens.cli_options import DEMO_EVENTS


def test_every_demo_seeding_command_takes_the_same_seed_and_events() -> None:
    parser = build_parser()
    for argv in (["serve"], ["server", "seed"], ["demo"]):
        args = parser.parse_args(argv)
        assert (args.seed, args.events) == (1, DEMO_EVENTS), argv
        args = parser.parse_args([*argv, "--seed", "7", "--events", "500"])
        assert (args.seed, args.events) == (7, 500), argv


def test_the_viewer_commands_share_sync_every() -> None:
    parser = build_parser()
    for argv in (["gui"], ["demo"]):
        assert parser.parse_args(argv).sync_every == 0
        assert parser.parse_args([*argv, "--sync-every", "30"]).sync_every == 30
