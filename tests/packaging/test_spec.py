"""The desktop packaging's contract, checked without building a bundle (that is `make package`).

The spec's pruning lists must never cut a module the code imports; the .desktop and AppStream
files must carry what desktops and software centres need; the icons must be readable; the
frozen layout must find resources; and the self-check a bundle runs on itself must pass here.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from PySide6.QtGui import QImage, QImageReader

from auditlens import __version__
from auditlens.cli import main

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "auditlens.spec"
LINUX = PACKAGING / "linux"
APP_ID = "io.auditlens.Viewer"


def load_module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """The spec's settings: everything above the build section, run as plain Python."""
    text = SPEC.read_text(encoding="utf-8")
    head = text.split("\nfrom PyInstaller.utils.hooks import", 1)[0]
    namespace: dict[str, Any] = {"SPECPATH": str(PACKAGING), "__name__": "auditlens_spec"}
    exec(compile(head, str(SPEC), "exec"), namespace)
    return namespace


def imported_modules() -> set[str]:
    """Every absolute module name imported anywhere in src/auditlens (top level or lazily)."""
    names: set[str] = set()
    for path in (ROOT / "src" / "auditlens").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_whole_spec_is_valid_python() -> None:
    ast.parse(SPEC.read_text(encoding="utf-8"))


def test_the_spec_builds_the_package_version(spec: dict[str, Any]) -> None:
    assert spec["VERSION"] == __version__


# Server-only extras the desktop bundle leaves out on purpose: the server imports them only when
# it is configured for PostgreSQL or AWS Security Hub forwarding, never in the viewer or demo.
# numpy only speeds up the server's completeness attestation (the standard library does it
# without), so the viewer bundle leaves it out with pandas.
SERVER_EXTRAS = {"psycopg", "boto3", "botocore", "botocore.exceptions", "numpy"}


def test_no_module_the_code_imports_is_excluded(spec: dict[str, Any]) -> None:
    excluded = tuple(spec["EXCLUDES"])
    cut = sorted(
        name
        for name in imported_modules() - SERVER_EXTRAS
        if any(name == ex or name.startswith(f"{ex}.") for ex in excluded)
    )
    assert cut == []


def test_the_server_only_extras_stay_out_of_the_bundle(spec: dict[str, Any]) -> None:
    assert {"psycopg", "boto3", "botocore"} <= set(spec["EXCLUDES"])


def test_pandas_and_numpy_stay_out_of_the_bundle(spec: dict[str, Any]) -> None:
    assert {"pandas", "numpy"} <= set(spec["EXCLUDES"])
    assert "pandas" not in {name.split(".")[0] for name in imported_modules()}


def test_every_qt_module_the_code_imports_is_kept(spec: dict[str, Any]) -> None:
    used = {name.split(".")[1] for name in imported_modules() if name.startswith("PySide6.Qt")}
    assert used >= {"QtCore", "QtGui", "QtWidgets"}
    assert used <= set(spec["QT_MODULES_KEPT"])


def test_kept_qt_modules_are_not_also_excluded(spec: dict[str, Any]) -> None:
    assert {"QtSvg", "QtPrintSupport"} <= set(spec["QT_MODULES_KEPT"])
    assert not set(spec["QT_MODULES_KEPT"]) & set(spec["QT_MODULES_EXCLUDED"])


@pytest.mark.parametrize(
    "dest",
    [
        "PySide6/Qt/plugins/platforms/libqxcb.so",
        "PySide6/Qt/plugins/platforms/libqoffscreen.so",
        "PySide6/Qt/plugins/platforms/libqminimal.so",
        "PySide6/Qt/plugins/platforms/qwindows.dll",
        "PySide6/Qt/plugins/platforms/libqcocoa.dylib",
        "PySide6/Qt/plugins/imageformats/libqsvg.so",
        "PySide6/Qt/plugins/iconengines/libqsvgicon.so",
        "PySide6/Qt/plugins/printsupport/libcupsprintersupport.so",
        "PySide6/Qt/lib/libQt6Svg.so.6",
        "PySide6/Qt/lib/libQt6OpenGL.so.6",
        "pyarrow/lib.cpython-311-x86_64-linux-gnu.so",
        "pyarrow/libarrow.so.2600",
        "pyarrow/libarrow_python.so.2600",
        "pyarrow/_csv.cpython-311-x86_64-linux-gnu.so",
        "auditlens/resources/style.qss",
    ],
)
def test_the_bundle_keeps_what_auditlens_runs_on(spec: dict[str, Any], dest: str) -> None:
    assert spec["keep"]((dest, "/src", "BINARY"))


@pytest.mark.parametrize(
    "dest",
    [
        "PySide6/Qt/plugins/platforms/libqwayland.so",
        "PySide6/Qt/plugins/platforms/libqminimalegl.so",
        "PySide6/Qt/plugins/platformthemes/libqgtk3.so",
        "PySide6/Qt/plugins/platforminputcontexts/libqtvirtualkeyboardplugin.so",
        "PySide6/Qt/plugins/imageformats/libqpdf.so",
        "PySide6/Qt/plugins/tls/libqopensslbackend.so",
        "PySide6/Qt/lib/libQt6Quick.so.6",
        "PySide6/Qt/lib/libQt6Network.so.6",
        "PySide6/Qt/translations/qtbase_de.qm",
        "pyarrow/libarrow_flight.so.2600",
        "pyarrow/libarrow_s3.so.2600",
        "pyarrow/libarrow_python.so.2600.1.0",
        "pyarrow/include/arrow/api.h",
    ],
)
def test_the_bundle_drops_what_auditlens_never_loads(spec: dict[str, Any], dest: str) -> None:
    assert not spec["keep"]((dest, "/src", "BINARY"))


def test_resources_are_found_in_the_frozen_layout(tmp_path: Path) -> None:
    # PyInstaller puts modules under _internal/auditlens/ and the spec puts resources at
    # _internal/auditlens/resources, the wheel's layout: resources.py must find them there.
    internal = tmp_path / "_internal"
    (internal / "auditlens" / "ui").mkdir(parents=True)
    shutil.copy(ROOT / "src" / "auditlens" / "ui" / "resources.py", internal / "auditlens" / "ui")
    shutil.copytree(ROOT / "resources", internal / "auditlens" / "resources")
    frozen = load_module("frozen_resources", internal / "auditlens" / "ui" / "resources.py")
    assert frozen.resource_dir() == internal / "auditlens" / "resources"
    assert "@ICONS@" not in frozen.stylesheet()


def desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(LINUX / f"{APP_ID}.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def test_the_desktop_file_launches_the_viewer_with_its_icon() -> None:
    entry = desktop_entry()
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "auditlens"
    assert entry["Icon"] == APP_ID
    assert entry["Terminal"] == "false"
    assert entry["Name"] and entry["Comment"]
    assert entry["Categories"].endswith(";")


def metainfo() -> ET.Element:
    return ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()


def test_the_metainfo_names_the_app_and_its_desktop_file() -> None:
    root = metainfo()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.findtext("launchable") == f"{APP_ID}.desktop"
    assert root.findtext("metadata_license") == "CC0-1.0"
    for tag in ("name", "summary"):
        assert (root.findtext(tag) or "").strip()
    assert root.findall("description/p")


def test_the_metainfo_license_is_the_projects() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert metainfo().findtext("project_license") == project["license"]


def test_the_newest_release_in_the_metainfo_is_this_version() -> None:
    releases = metainfo().findall("releases/release")
    assert releases and releases[0].get("version") == __version__
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", releases[0].get("date") or "")


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils")
def test_desktop_file_validate_accepts_the_desktop_file() -> None:
    result = subprocess.run(
        ["desktop-file-validate", str(LINUX / f"{APP_ID}.desktop")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_appstreamcli_accepts_the_metainfo() -> None:
    result = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(LINUX / f"{APP_ID}.metainfo.xml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def icons(tmp_path_factory: pytest.TempPathFactory, qapp: Any) -> Path:
    out = tmp_path_factory.mktemp("icons")
    load_module("make_icons", PACKAGING / "make_icons.py").make_icons(out)
    return out


@pytest.mark.parametrize("size", [16, 24, 32, 48, 64, 128, 256, 512])
def test_linux_icons_come_in_the_usual_sizes(icons: Path, size: int) -> None:
    image = QImage(str(icons / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"))
    assert (image.width(), image.height()) == (size, size)
    assert image.pixelColor(size // 2, size // 2).alpha() == 255  # the logo, not a blank


def test_the_scalable_icon_is_the_svg(icons: Path) -> None:
    scalable = icons / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    assert scalable.read_bytes() == (ROOT / "resources" / "icons" / "app.svg").read_bytes()


@pytest.mark.parametrize(("name", "count", "largest"), [("ico", 7, 256), ("icns", 7, 1024)])
def test_windows_and_macos_icons_hold_every_size(
    icons: Path, name: str, count: int, largest: int
) -> None:
    reader = QImageReader(str(icons / f"auditlens.{name}"))
    assert reader.imageCount() == count
    sizes = []
    for index in range(count):
        assert reader.jumpToImage(index)
        sizes.append(reader.read().width())
    assert max(sizes) == largest and min(sizes) == 16


def test_the_windows_version_resource_carries_four_numbers() -> None:
    version_info = load_module("version_info", PACKAGING / "windows" / "version_info.py")
    assert version_info.version_tuple("0.1.0") == (0, 1, 0, 0)
    assert version_info.version_tuple("2.3.4rc1") == (2, 3, 4, 0)
    text = version_info.version_info_text("1.2.3")
    call = ast.parse(text, mode="eval").body  # PyInstaller evaluates it as one expression
    assert isinstance(call, ast.Call) and ast.unparse(call.func) == "VSVersionInfo"
    assert "filevers=(1, 2, 3, 0), prodvers=(1, 2, 3, 0)" in text
    assert "StringStruct('ProductVersion', '1.2.3')" in text


@pytest.fixture
def fake_bundle(tmp_path: Path) -> Iterator[Path]:
    """A folder shaped like dist/auditlens on Linux, with a stand-in executable."""
    bundle = tmp_path / "auditlens"
    (bundle / "share" / "applications").mkdir(parents=True)
    (bundle / "share" / "metainfo").mkdir(parents=True)
    (bundle / "share" / "icons" / "hicolor" / "48x48" / "apps").mkdir(parents=True)
    shutil.copy(LINUX / f"{APP_ID}.desktop", bundle / "share" / "applications")
    shutil.copy(LINUX / f"{APP_ID}.metainfo.xml", bundle / "share" / "metainfo")
    (bundle / "share" / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png").write_bytes(b"")
    shutil.copy(LINUX / "install.sh", bundle / "install.sh")
    executable = bundle / "auditlens"
    executable.write_text("#!/bin/sh\necho auditlens-stand-in\n")
    executable.chmod(0o755)
    yield bundle


def run_install(bundle: Path, prefix: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PREFIX": str(prefix)}
    return subprocess.run(
        ["sh", str(bundle / "install.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def test_install_sh_puts_the_viewer_on_the_path_and_in_the_menu(
    fake_bundle: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "prefix"
    run_install(fake_bundle, prefix)
    launcher = prefix / "bin" / "auditlens"
    ran = subprocess.run([launcher], capture_output=True, text=True, check=True)
    assert ran.stdout.strip() == "auditlens-stand-in"
    desktop = (prefix / "share" / "applications" / f"{APP_ID}.desktop").read_text()
    assert f"Exec={prefix}/lib/auditlens/auditlens gui" in desktop
    assert (prefix / "share" / "metainfo" / f"{APP_ID}.metainfo.xml").exists()
    assert (prefix / "share" / "icons" / "hicolor" / "48x48" / "apps" / f"{APP_ID}.png").exists()


def test_install_sh_uninstall_removes_what_it_installed(fake_bundle: Path, tmp_path: Path) -> None:
    prefix = tmp_path / "prefix"
    run_install(fake_bundle, prefix)
    run_install(fake_bundle, prefix, "--uninstall")
    assert not (prefix / "lib" / "auditlens").exists()
    assert not (prefix / "bin" / "auditlens").exists()
    assert not list((prefix / "share").rglob(f"{APP_ID}*"))


def test_selfcheck_opens_and_closes_the_window_offscreen(
    qapp: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["selfcheck"]) == 0
    assert capsys.readouterr().out.strip().endswith("selfcheck ok")


def test_the_launcher_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, str(PACKAGING / "launcher.py"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout.strip()) == (0, f"auditlens {__version__}")
