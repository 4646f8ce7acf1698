"""The demo's cache: made once, copied and verified at each start, remade when it cannot be used.

A stand-in builder writes small files (the real one seeds a server and syncs a mirror, which
test_app_demo runs end to end)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from auditlens.ui import demo_cache
from auditlens.ui.demo_cache import MANIFEST, MIRROR_FILE, SERVER_DIR, restore


class Builder:
    """Writes a tiny "server" and "mirror" and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, server_dir: Path, mirror: Path) -> None:
        self.calls += 1
        server_dir.mkdir(parents=True)
        (server_dir / "auditlens.db").write_bytes(b"database %d" % self.calls)
        (server_dir / "log.key").write_bytes(b"secret")
        os.chmod(server_dir / "log.key", 0o600)
        mirror.write_bytes(b"mirror %d" % self.calls)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_the_first_start_builds_the_cache_and_the_second_copies_it(
    tmp_path: Path, root: Path
) -> None:
    build = Builder()
    first = restore(tmp_path / "run1", 1, 500, build, root=root)
    assert not first.reused and build.calls == 1
    second = restore(tmp_path / "run2", 1, 500, build, root=root)
    assert second.reused and build.calls == 1
    assert second.mirror.read_bytes() == b"mirror 1"
    assert (second.server_dir / "auditlens.db").read_bytes() == b"database 1"
    assert (second.server_dir / "log.key").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in root.iterdir()] == [demo_cache.cache_dir(1, 500, root).name]


def test_another_seed_or_size_is_another_cache(tmp_path: Path, root: Path) -> None:
    build = Builder()
    restore(tmp_path / "a", 1, 500, build, root=root)
    restore(tmp_path / "b", 2, 500, build, root=root)
    restore(tmp_path / "c", 1, 501, build, root=root)
    assert build.calls == 3


def test_a_damaged_cache_is_refused_and_made_again(tmp_path: Path, root: Path) -> None:
    build = Builder()
    restore(tmp_path / "run1", 1, 500, build, root=root)
    cache = demo_cache.cache_dir(1, 500, root)
    (cache / MIRROR_FILE).write_bytes(b"mirror 1 but edited")
    run = restore(tmp_path / "run2", 1, 500, build, root=root)
    assert not run.reused and build.calls == 2
    assert run.mirror.read_bytes() == b"mirror 2"
    assert (cache / MIRROR_FILE).read_bytes() == b"mirror 2"  # the cache was replaced


def test_a_cache_older_than_a_week_is_made_again(tmp_path: Path, root: Path) -> None:
    build = Builder()
    restore(tmp_path / "run1", 1, 500, build, root=root)
    manifest_path = demo_cache.cache_dir(1, 500, root) / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    manifest["created_at"] -= (demo_cache.MAX_AGE_DAYS + 1) * 86_400
    manifest_path.write_text(json.dumps(manifest))
    assert not restore(tmp_path / "run2", 1, 500, build, root=root).reused
    assert build.calls == 2


def test_an_unwritable_cache_folder_still_gives_a_demo(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    build = Builder()
    run = restore(tmp_path / "run", 1, 500, build, root=blocker / "demo")
    assert not run.reused and build.calls == 1
    assert run.mirror.read_bytes() == b"mirror 1"
    assert (run.server_dir / "auditlens.db").exists()


def test_a_failed_build_leaves_no_cache(tmp_path: Path, root: Path) -> None:
    def broken(server_dir: Path, mirror: Path) -> None:
        server_dir.mkdir(parents=True)
        raise RuntimeError("the new demo's mirror did not verify")

    with pytest.raises(RuntimeError):
        restore(tmp_path / "run", 1, 500, broken, root=root)
    assert list(root.iterdir()) == []
    assert not (tmp_path / "run" / SERVER_DIR).exists()


def test_a_cache_another_demo_made_meanwhile_is_kept(tmp_path: Path, root: Path) -> None:
    cache = demo_cache.cache_dir(1, 500, root)
    other = Builder()

    def racing(server_dir: Path, mirror: Path) -> None:
        # While this build runs, another demo finishes its own and puts it in place.
        other(cache / SERVER_DIR, cache / MIRROR_FILE)
        demo_cache.write_manifest(cache, 1, 500)
        server_dir.mkdir(parents=True)
        (server_dir / "auditlens.db").write_bytes(b"ours")
        mirror.write_bytes(b"our mirror")

    run = restore(tmp_path / "run", 1, 500, racing, root=root)
    assert run.mirror.read_bytes() == b"our mirror"  # this run uses what it built
    assert (cache / MIRROR_FILE).read_bytes() == b"mirror 1"  # the other demo's cache stays
    assert [p.name for p in root.iterdir()] == [cache.name]  # no staging left behind
