"""The layers keep to their lanes: a test that reads every module's imports.

docs/architecture.md §2: dependencies point one way (`ui -> export, mirror, client -> core`,
`server -> core`). A wrong import is cheap to write and expensive to undo, so the contract is
checked here rather than in review:

- `core` imports nothing of the project and nothing that does I/O on its own (sockets, HTTP,
  databases, Qt);
- `ui` imports neither `sqlite3`, `httpx` nor `auditlens.server`, except the embedded demo's one
  entry point, `auditlens.server.embedded`;
- `export` imports neither `sqlite3` nor `httpx` (the mirror owns SQL, the client owns HTTP);
- nothing imports `ui` except the command line (`auditlens.cli`) and `ui` itself.

Imports inside functions count: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "auditlens"

IO_MODULES = {"sqlite3", "httpx", "socket", "sqlalchemy", "PySide6", "keyring", "urllib"}

# Known departures, each a module path and the import it may make, with why it is still there.
# The test also fails when one of these is gone, so the list can only shrink.
KNOWN: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    return path.relative_to(SRC).as_posix()


def _imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ["auditlens", *path.relative_to(SRC).parent.parts]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package[: len(package) - node.level + 1]
                yield ".".join([*base, node.module] if node.module else base)
            elif node.module:
                yield node.module


def _violations() -> dict[tuple[str, str], str]:
    found: dict[tuple[str, str], str] = {}
    for path in sorted(SRC.rglob("*.py")):
        name = _module_name(path)
        layer = name.split("/", 1)[0] if "/" in name else ""
        for imported in _imports(path):
            top = imported.split(".", 1)[0]
            rule = _rule_broken(layer, name, imported, top)
            if rule:
                found[(name, imported)] = rule
    return found


def _rule_broken(layer: str, name: str, imported: str, top: str) -> str:
    if layer == "core":
        if top == "auditlens" and not imported.startswith("auditlens.core"):
            return "core imports nothing of the project"
        if top in IO_MODULES:
            return "core does no I/O"
    if layer == "ui":
        if top in {"sqlite3", "httpx"}:
            return "ui holds no SQL and no HTTP"
        if imported.startswith("auditlens.server") and imported != "auditlens.server.embedded":
            return "ui does not import the server"
    if layer == "export" and top in {"sqlite3", "httpx"}:
        return "export holds no SQL and no HTTP"
    if imported.startswith("auditlens.ui") and layer != "ui" and name != "cli.py":
        return "only the command line imports ui"
    return ""


def test_imports_follow_the_layers() -> None:
    unexpected = {k: v for k, v in _violations().items() if k not in KNOWN}
    assert not unexpected, "imports that break the layering:\n" + "\n".join(
        f"  {module} imports {imported}: {rule}" for (module, imported), rule in unexpected.items()
    )


def test_known_departures_are_still_needed() -> None:
    gone = set(KNOWN) - set(_violations())
    assert not gone, f"remove these from KNOWN, they no longer happen: {sorted(gone)}"


@pytest.mark.parametrize(
    ("layer", "name", "imported", "broken"),
    [
        ("core", "core/x.py", "auditlens.client.api", True),
        ("core", "core/x.py", "sqlite3", True),
        ("core", "core/x.py", "auditlens.core.merkle", False),
        ("ui", "ui/x.py", "httpx", True),
        ("ui", "ui/x.py", "auditlens.server.app", True),
        ("ui", "ui/x.py", "auditlens.server.embedded", False),
        ("export", "export/x.py", "sqlite3", True),
        ("mirror", "mirror/x.py", "auditlens.ui.tasks", True),
        ("", "cli.py", "auditlens.ui.app", False),
        ("mirror", "mirror/x.py", "sqlite3", False),
    ],
)
def test_the_rules_catch_what_they_name(layer: str, name: str, imported: str, broken: bool) -> None:
    assert bool(_rule_broken(layer, name, imported, imported.split(".", 1)[0])) is broken
