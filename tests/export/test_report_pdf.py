"""The printed task report, read back from the real PDF with poppler's ``pdftotext``.

Real mirrors, the real report preparation (re-verification), the real PDF writer; the checks
are on what a reader of the printout sees: each email on one line, the column headers and the
footer (task, checkpoint, page N of M) on every page, landscape pages, and at most one page per
25 events.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from auditlens.export.report import prepare_report
from auditlens.export.report_html import ReportInput
from auditlens.export.report_pdf import write_pdf
from tests.export.trail_seed import TASK, big_task, seeded_mirror
from tests.ui.mirror_factory import BuiltMirror

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="needs poppler-utils (pdftotext, pdfinfo)"
)

LONG_EMAIL = "alexandra.konstantinopoulou@northwind-traders.example"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> BuiltMirror:
    return seeded_mirror(tmp_path_factory.mktemp("pdf") / "m.sqlite")


@pytest.fixture(scope="module")
def report(mirror: BuiltMirror) -> ReportInput:
    return prepare_report(mirror.path, TASK)


def pages_of(path: Path) -> list[str]:
    """The text of each page, laid out as printed."""
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return out.rstrip("\f\n").split("\f")


def page_info(path: Path) -> dict[str, str]:
    out = subprocess.run(["pdfinfo", str(path)], check=True, capture_output=True, text=True)
    return dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition(":") for line in out.stdout.splitlines())
    )


def test_each_email_stays_on_one_line_and_the_table_reads_across(
    qapp: QApplication, report: ReportInput, tmp_path: Path
) -> None:
    long_named = replace(report, users={**report.users, "usr_alice": LONG_EMAIL})
    path = tmp_path / "r.pdf"
    assert write_pdf(long_named, path) == path.stat().st_size
    text = "\n".join(pages_of(path))
    lines = text.splitlines()
    for email in (LONG_EMAIL, "bob@acme.test", "carol@acme.test"):
        assert any(email in line for line in lines), email
    # Every timeline row is one line: number, time, What, Who, outcome and index together.
    denial = next(line for line in lines if "DENIED by carol@acme.test" in line)
    assert re.search(r"\b40 2026-03-01 11:00:48\.000 .*carol@acme\.test\s+denied\s+47$", denial)
    started = next(line for line in lines if "Started by agent Alpha" in line)
    assert re.search(rf"{re.escape(LONG_EMAIL)}\s+success\s+3$", started)
    assert "Summary" in text and "Approvals" in text and "People and agents" in text
    assert "carries no evidence" in text


def test_pages_are_landscape_with_headers_and_footer_on_each(
    qapp: QApplication, report: ReportInput, mirror: BuiltMirror, tmp_path: Path
) -> None:
    path = tmp_path / "r.pdf"
    write_pdf(report, path)
    info = page_info(path)
    width, height = (float(v) for v in re.findall(r"[\d.]+", info["Page size"])[:2])
    assert width > height  # landscape
    pages = pages_of(path)
    assert len(pages) == int(info["Pages"]) <= math.ceil(len(report.events) / 25)
    for number, page in enumerate(pages, 1):
        footer = page.strip().splitlines()[-1]
        assert f"Task {TASK}" in footer and f"checkpoint {mirror.size:,}" in footer
        assert footer.rstrip().endswith(f"Page {number} of {len(pages)}")
    # The timeline runs over both pages, its header row on each.
    for page in pages:
        assert re.search(r"#\s+Time \(UTC\)\s+\+\s+What\s+Who\s+Outcome\s+Index", page)


def test_a_5000_step_task_takes_at_most_a_page_per_25_events(
    qapp: QApplication, tmp_path: Path
) -> None:
    built = big_task(tmp_path / "big.sqlite", 5_000)
    report = prepare_report(built.path, "tsk_big")
    path = tmp_path / "big.pdf"
    write_pdf(report, path)
    pages = pages_of(path)
    assert len(pages) <= 5_000 / 25
    timeline = [p for p in pages if "Index" in p and "2026-" in p]
    assert len(timeline) >= len(pages) - 2  # the header row repeats on every timeline page
    last = pages[-1].strip().splitlines()[-1]
    assert last.endswith(f"Page {len(pages)} of {len(pages)}")
    numbers = [int(m.group(1)) for p in pages for m in re.finditer(r"^\s*(\d+)\s+20\d\d-", p, re.M)]
    assert numbers == list(range(1, 5_001))  # every step once, in order, none split


def test_paper_follows_the_locale(qapp: QApplication, report: ReportInput, tmp_path: Path) -> None:
    from PySide6.QtCore import QLocale

    before = QLocale()
    try:
        for locale, paper in (("en_US", "letter"), ("de_DE", "A4"), ("en_GB", "A4")):
            QLocale.setDefault(QLocale(locale))
            path = tmp_path / f"{locale}.pdf"
            write_pdf(report, path)
            assert f"({paper})" in page_info(path)["Page size"], locale
    finally:
        QLocale.setDefault(before)


def test_a_pdf_that_cannot_be_written_leaves_nothing(
    qapp: QApplication, report: ReportInput, tmp_path: Path
) -> None:
    with pytest.raises(OSError):
        write_pdf(report, tmp_path / "missing-dir" / "r.pdf")
    assert not list(tmp_path.rglob("*.part"))
