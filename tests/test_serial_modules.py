"""`make test` runs the tests marked ``serial`` alone, collecting only SERIAL_MODULES (the
Makefile): a serial test in another module would silently never run. This keeps the list whole."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_module_with_a_serial_test_is_in_the_makefiles_list() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^SERIAL_MODULES :=((?:.*\\\n)*.*)$", makefile, re.MULTILINE)
    assert match, "the Makefile lists no SERIAL_MODULES"
    listed = set(match.group(1).replace("\\\n", " ").split())
    marked = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if re.search(
            r"^\s*@pytest\.mark\.serial|pytest\.mark\.serial[,\]]",
            path.read_text(encoding="utf-8"),
            re.M,
        )
    }
    assert marked, "no test is marked serial any more: drop the second run"
    assert marked == listed, f"marked serial: {sorted(marked)}; listed: {sorted(listed)}"
