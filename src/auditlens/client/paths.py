"""Where the viewer keeps its small non-secret files (pins, the list of signed-in accounts).

``AUDITLENS_CONFIG_DIR`` overrides the platform's user config directory so tests and the demo
never touch a person's real settings. Secrets never go here: they live in the OS keyring
(:mod:`auditlens.client.credentials`).
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import platformdirs

APP_NAME = "auditlens"


def config_dir() -> Path:
    """The directory of the viewer's non-secret settings files (created on first write)."""
    override = os.environ.get("AUDITLENS_CONFIG_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def read_json_file(path: Path) -> dict[str, object]:
    """Return the JSON object in ``path`` ({} when missing); ValueError names a broken file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); fix or remove it") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return obj


def write_json_file(path: Path, obj: object) -> None:
    """Write ``obj`` as JSON atomically (temp file + rename), so a crash never leaves half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
