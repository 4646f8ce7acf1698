"""The Windows VERSIONINFO resource for auditlens.exe (Explorer's Properties > Details tab).

PyInstaller takes a text file holding a ``VSVersionInfo(...)`` expression; writing it from
``auditlens.__version__`` at build time keeps one version number in the project.
"""

from __future__ import annotations

import re
from pathlib import Path

COMPANY = "auditlens"
DESCRIPTION = "auditlens: viewer for a verifiable, append-only audit log"


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """``"1.2.3"`` -> ``(1, 2, 3, 0)``: Windows wants four numbers; a suffix like rc1 is dropped."""
    numbers: list[int] = []
    for part in version.split(".")[:4]:
        leading = re.match(r"\d+", part)
        if leading is None:
            break
        numbers.append(int(leading.group()))
        if leading.end() < len(part):  # "4rc1": the rest is a pre-release tag
            break
    if not numbers:
        raise ValueError(f"version {version!r} does not start with a number")
    padded = (*numbers, 0, 0, 0, 0)[:4]
    return (padded[0], padded[1], padded[2], padded[3])


def version_info_text(version: str) -> str:
    """The ``VSVersionInfo`` expression PyInstaller evaluates for ``EXE(version=...)``."""
    numbers = version_tuple(version)
    strings = {
        "CompanyName": COMPANY,
        "FileDescription": DESCRIPTION,
        "FileVersion": version,
        "InternalName": "auditlens",
        "LegalCopyright": "Apache-2.0",
        "OriginalFilename": "auditlens.exe",
        "ProductName": "auditlens",
        "ProductVersion": version,
    }
    structs = ",\n            ".join(f"StringStruct({k!r}, {v!r})" for k, v in strings.items())
    return f"""VSVersionInfo(
  ffi=FixedFileInfo(filevers={numbers}, prodvers={numbers}, mask=0x3f, flags=0x0,
                    OS=0x40004, fileType=0x1, subtype=0x0, date=(0, 0)),
  kids=[
    StringFileInfo([
      StringTable('040904B0', [
            {structs}])
    ]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""


def write_version_file(path: Path, version: str) -> Path:
    """Write the version resource text to ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(version_info_text(version), encoding="utf-8")
    return path
