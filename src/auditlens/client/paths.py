"""Where the viewer keeps its small files (pins, the list of signed-in accounts).

``AUDITLENS_CONFIG_DIR`` overrides the platform's user config directory so tests and the demo
never touch a person's real settings. Secrets live in the OS keyring
(:mod:`auditlens.client.credentials`), or, only when the person opts in, in a credentials file
here.

Every file is written private to its owner: mode 0600 in a directory this code creates with
mode 0700. Pins and account lists are not secret, but they say which servers a person audits,
and a file another local user can replace is a file an attacker can use to re-pin a log.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

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


PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) with mode 0700; an existing directory is left as
    it is (it may be shared on purpose, e.g. a mirror directory given on the command line)."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):  # parents first; mkdir(parents=True) ignores the mode
        directory.mkdir(mode=PRIVATE_DIR_MODE, exist_ok=True)
        os.chmod(directory, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` atomically (temp file + rename) with mode 0600 from the first byte."""
    make_private_dir(path.parent)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)  # an old temp file may have had another mode
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_json_file(path: Path, obj: object) -> None:
    """Write ``obj`` as JSON atomically and privately, so a crash never leaves half."""
    write_private_file(path, orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def normalize_server_url(url: str) -> str:
    """Return ``url`` as the canonical key for a server: scheme + host[:port] + path, no slash.

    Pins, keyring entries and mirror files are keyed by this, so ``HTTP://Host:8765/`` and
    ``http://host:8765`` must be the same server. Raises ValueError naming what is wrong.
    """
    text = url.strip()
    if "://" not in text:
        raise ValueError(f"Server URL {url!r} has no scheme: write it as http://host:port")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"Server URL {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"Server URL {url!r} has no host name")
    if parts.query or parts.fragment:
        raise ValueError(f"Server URL {url!r} must not contain '?' or '#'")
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme.lower()}://{host}{port}{parts.path.rstrip('/')}"
