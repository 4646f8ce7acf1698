"""The PostgreSQL driver is an extra: without it, a PostgreSQL URL gets a sentence, not a trace."""

from __future__ import annotations

import sys

import pytest

from auditlens.server.db import Database


def test_a_postgresql_url_without_the_driver_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if `auditlens[postgres]` were absent
    with pytest.raises(ValueError, match=r"auditlens\[postgres\]"):
        Database("postgresql+psycopg://postgres@127.0.0.1:1/none")
