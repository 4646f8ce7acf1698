"""The demo's cache: a seeded server and its synced mirror, made once, copied at each start.

Seeding 100,000 demo events and syncing them into a mirror takes seconds to tens of seconds, the
same for the same seed every time. So ``auditlens demo`` makes them once, in the user cache
directory (``~/.cache/auditlens/demo/<version>-data<generator version>-seed<seed>-<events>/``;
``AUDITLENS_CACHE_DIR`` overrides the root), and each later start copies them into its temporary
directory:

- ``server/``: the demo server's data directory (database, log key, people) right after
  seeding and one sign-in of the demo admin;
- ``mirror.sqlite``: that admin's mirror, synced and verified against the server's signed
  checkpoint at that moment.

Decisions:

- **The cache is never used in place.** Each start copies it, so a demo run (its sign-ins, its
  recorded exports) never changes it, and two demos can run at once.
- **Verified on every use.** ``manifest.json`` lists each file with its size and SHA-256; the copy
  hashes what it writes and refuses a file that differs (then the demo seeds afresh). The mirror
  is then re-checked by the viewer at open and extended by an ordinary verified sync, which
  proves with a consistency proof that the running server's log extends the cached one.
- **Same seed, same data; fresh enough.** The key names the package version, the generator's
  :data:`~auditlens.server.embedded.DATA_VERSION`, the seed and the event count. Demo events
  end at the moment they were made, so a cache older than :data:`MAX_AGE_DAYS` is made again
  (a demo whose events stopped a month ago looks broken).
- **Made atomically.** Everything is built in a staging directory beside the cache and renamed
  into place last; a crash leaves a staging directory that the next build removes, never a
  half cache. When two demos build at once, the first rename wins and the second uses its own
  staging copy.
- No Qt here: :mod:`auditlens.ui.commands` calls this from a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from auditlens import __version__
from auditlens.server.embedded import DATA_VERSION

MANIFEST = "manifest.json"
SERVER_DIR = "server"
MIRROR_FILE = "mirror.sqlite"
MAX_AGE_DAYS = 7
CHUNK = 4 << 20


class DemoCacheError(Exception):
    """The cache is missing, stale or does not match its manifest (the demo seeds afresh)."""


@dataclass(frozen=True)
class Restored:
    """A demo copied into ``target``: the server data directory and the mirror to open."""

    server_dir: Path
    mirror: Path
    reused: bool  # False when the cache was (re)made by this start


def cache_root() -> Path:
    """The folder that holds every cached demo (``AUDITLENS_CACHE_DIR`` overrides it)."""
    override = os.environ.get("AUDITLENS_CACHE_DIR")
    base = Path(override) if override else Path(platformdirs.user_cache_dir("auditlens", False))
    return base / "demo"


def cache_dir(seed: int, events: int, root: Path | None = None) -> Path:
    """Where the demo of ``seed`` with ``events`` events is cached for this package version."""
    return (root or cache_root()) / f"{__version__}-data{DATA_VERSION}-seed{seed}-{events}"


def _files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST:
            yield path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(folder: Path, seed: int, events: int) -> None:
    """Record what ``folder`` holds (each file's size and SHA-256) and for which demo."""
    files = {
        str(p.relative_to(folder)): {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in _files(folder)
    }
    manifest = {
        "version": __version__,
        "data_version": DATA_VERSION,
        "seed": seed,
        "events": events,
        "created_at": int(time.time()),
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def read_manifest(folder: Path, seed: int, events: int, now: float | None = None) -> dict[str, Any]:
    """The manifest of a usable cache; DemoCacheError says why it is not usable."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoCacheError(f"no cached demo in {folder}") from None
    except (OSError, ValueError) as exc:
        raise DemoCacheError(f"unreadable manifest in {folder}: {exc}") from None
    expected = {
        "version": __version__,
        "data_version": DATA_VERSION,
        "seed": seed,
        "events": events,
    }
    found = {key: manifest.get(key) for key in expected}
    if found != expected:
        raise DemoCacheError(f"the cached demo in {folder} is for {found}, not {expected}")
    age = (now if now is not None else time.time()) - int(manifest.get("created_at", 0))
    if age > MAX_AGE_DAYS * 86_400:
        raise DemoCacheError(f"the cached demo in {folder} is older than {MAX_AGE_DAYS} days")
    if not isinstance(manifest.get("files"), dict) or MIRROR_FILE not in manifest["files"]:
        raise DemoCacheError(f"the manifest in {folder} lists no mirror")
    return dict(manifest)


def copy_verified(cache: Path, target: Path, seed: int, events: int) -> None:
    """Copy every file the manifest lists into ``target``, checking size and SHA-256.

    The files are copied in parallel (the server database and the mirror are each about half
    of the bytes; hashing and file I/O release the GIL), which halves the wait on two cores.
    """
    manifest = read_manifest(cache, seed, events)
    files = sorted(manifest["files"].items(), key=lambda item: -int(item[1].get("size", 0)))
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        copies = [
            pool.submit(_copy_file, cache / name, target / name, expected)
            for name, expected in files
        ]
        for copy in copies:
            copy.result()


def _copy_file(source: Path, dest: Path, expected: dict[str, Any]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        with source.open("rb") as src, dest.open("wb") as out:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        shutil.copymode(source, dest)
    except OSError as exc:
        raise DemoCacheError(f"cannot copy {source}: {exc}") from None
    if size != expected.get("size") or digest.hexdigest() != expected.get("sha256"):
        raise DemoCacheError(f"{source} does not match the cache's manifest")


Builder = Callable[[Path, Path], None]
"""Seeds a demo server in its first argument (a data directory) and syncs its mirror into the
second (a file); :func:`auditlens.ui.commands.build_demo` is the real one."""


def restore(
    target: Path,
    seed: int,
    events: int,
    build: Builder,
    *,
    root: Path | None = None,
) -> Restored:
    """Copy the cached demo into ``target``, making the cache first when it is not usable.

    When the cache folder cannot be written (read-only home, full disk), the demo is built in
    ``target`` directly: slower, never broken.
    """
    cache = cache_dir(seed, events, root)
    restored = Restored(target / SERVER_DIR, target / MIRROR_FILE, reused=True)
    try:
        copy_verified(cache, target, seed, events)
        return restored
    except DemoCacheError:
        shutil.rmtree(target / SERVER_DIR, ignore_errors=True)
        (target / MIRROR_FILE).unlink(missing_ok=True)
        _discard(cache)
    restored = Restored(restored.server_dir, restored.mirror, reused=False)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{cache.name}.", dir=cache.parent))
    except OSError:
        build(restored.server_dir, restored.mirror)
        return restored
    try:
        build(staging / SERVER_DIR, staging / MIRROR_FILE)
        write_manifest(staging, seed, events)
        # Atomic: a directory renames onto a missing (or empty) one only. When another demo
        # put its cache there meanwhile, ours stays in staging and serves this run.
        with contextlib.suppress(OSError):
            os.replace(staging, cache)
        copy_verified(staging if staging.exists() else cache, target, seed, events)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_stale_staging(cache)
    return restored


def _discard(cache: Path) -> None:
    """Move a stale or damaged cache aside, then delete it (a demo still copying from it keeps
    its open files; the name is free at once for the new cache)."""
    aside = cache.with_name(f".{cache.name}.discarded-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.replace(cache, aside)
    except OSError:
        return  # missing (the usual case), or not ours to move
    shutil.rmtree(aside, ignore_errors=True)


def _remove_stale_staging(cache: Path, older_than_s: float = 3_600) -> None:
    """Remove staging folders left by a crashed build (an hour is far beyond a build)."""
    now = time.time()
    for leftover in cache.parent.glob(f".{cache.name}.*"):
        try:
            if now - leftover.stat().st_mtime > older_than_s:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue
