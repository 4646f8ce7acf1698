"""The task trail window: a real mirror, real Qt offscreen, the real report writer."""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from pytestqt.qtbot import QtBot

from auditlens.export.verify import verify_file
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.ui.main_window import MainWindow
from auditlens.ui.task_trail import TaskTrailWindow
from auditlens.ui.tasks import TaskRunner
from tests.export.trail_seed import AGENT_A, AGENT_B, RUNNING, TASK, big_task, seeded_mirror
from tests.ui.conftest import wait_loaded
from tests.ui.mirror_factory import NOW_MS, BuiltMirror, event_dict


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> BuiltMirror:
    return seeded_mirror(tmp_path_factory.mktemp("trail") / "seeded.sqlite")


@pytest.fixture
def trail(qtbot: QtBot, seeded: BuiltMirror) -> Iterator[TaskTrailWindow]:
    runner = TaskRunner()
    reader = MirrorReader(seeded.path)
    w = TaskTrailWindow(reader, runner, "auditlens.local/acme")
    qtbot.addWidget(w)
    w.resize(1300, 900)
    w.show()
    yield w
    runner.wait()
    reader.close()


def open_task(qtbot: QtBot, w: TaskTrailWindow, task_id: str) -> None:
    with qtbot.waitSignal(w.loaded, timeout=5_000):
        w.show_task(task_id)


def texts(w: TaskTrailWindow) -> list[str]:
    return [w.model.index(r, 0).data() for r in range(w.model.rowCount())]


def test_every_step_in_order_with_tool_calls_grouped_by_agent(
    qtbot: QtBot, trail: TaskTrailWindow
) -> None:
    open_task(qtbot, trail, TASK)
    story = trail.model.story
    assert story is not None and len(story.steps) == 41
    rows = [trail.model.row_at(r) for r in range(trail.model.rowCount())]
    steps = [r.step.position for r in rows if r is not None and r.step is not None]
    assert steps == list(range(41))
    headers = [(r.agent_id, r.calls) for r in rows if r is not None and r.step is None]
    assert headers == [(AGENT_A, 30), (AGENT_A, 1), (AGENT_B, 3)]
    shown = texts(trail)
    assert shown[0].startswith("task.created Task created: Fix the flaky test")
    assert shown[-1].startswith("task.failed Task failed")
    assert any(t.startswith("approval.denied DENIED by carol@acme.test") for t in shown)
    for row in (0, trail.model.rowCount() - 1):  # paint the top and the bottom of the list
        trail.view.scrollTo(trail.model.index(row, 0))
        assert not trail.view.grab().isNull()


def test_header_shows_outcome_duration_starter_agents_and_approvers(
    qtbot: QtBot, trail: TaskTrailWindow
) -> None:
    open_task(qtbot, trail, TASK)
    header = trail.header.text()
    assert "FAILED" in header and "alice@acme.test" in header
    assert "Alpha" in header and "bob@acme.test" in header and "carol@acme.test" in header
    assert ">3 failed<" in header and ">1 denied<" in header and "41/41 verified" in header
    assert trail.save_button.isEnabled()


def test_selecting_a_step_shows_its_json_and_verified_status(
    qtbot: QtBot, trail: TaskTrailWindow, seeded: BuiltMirror
) -> None:
    open_task(qtbot, trail, TASK)
    story = trail.model.story
    assert story is not None
    denial = next(s for s in story.steps if s.denied)
    assert trail.select_position(denial.position)
    assert '"reason": "Touches production on a Friday"' in trail.detail.json.toPlainText()
    assert f"Verified in checkpoint size <b>{seeded.size:,}</b>" in trail.detail.proof.text()
    assert trail.detail.title.text() == "approval.denied"


def test_refusals_show_as_denied_in_their_own_colour(qtbot: QtBot, trail: TaskTrailWindow) -> None:
    from auditlens.export.report_html import PALETTE

    open_task(qtbot, trail, TASK)
    story = trail.model.story
    assert story is not None
    denial = next(s for s in story.steps if s.type == "approval.denied")
    failure = next(s for s in story.steps if s.failed)
    image = None
    for step, colour in ((denial, PALETTE["denied"][1]), (failure, PALETTE["failure"][1])):
        index = trail.model.index(trail.model.row_of_position(step.position), 0)
        assert "outcome: " + step.verdict in index.data(Qt.ItemDataRole.ToolTipRole)
        trail.view.scrollTo(index)
        rect = trail.view.visualRect(index)
        image = trail.view.viewport().grab().toImage()
        # The row's ground, left of the timeline line: amber for a refusal, red for a failure.
        assert image.pixelColor(rect.left() + 3, rect.center().y()).name() == colour
    assert denial.verdict == "denied" and failure.verdict == "failure"
    trail.view.scrollTo(trail.model.index(trail.model.row_of_position(denial.position), 0))


def test_double_click_on_an_approval_jumps_to_the_gated_call(
    qtbot: QtBot, trail: TaskTrailWindow
) -> None:
    open_task(qtbot, trail, TASK)
    story = trail.model.story
    assert story is not None
    approved = story.approvals[0]
    assert approved.decision is not None and approved.gated is not None
    row = trail.model.row_of_position(approved.decision)
    trail.view.doubleClicked.emit(trail.model.index(row, 0))
    current = trail.current_step()
    assert current is not None and current.position == approved.gated
    assert current.approval_id == "apr_1"


def test_a_running_task_says_so(qtbot: QtBot, trail: TaskTrailWindow) -> None:
    open_task(qtbot, trail, RUNNING)
    assert "RUNNING — no end event yet" in trail.header.text()
    assert "still running" in trail.status.text()


def test_an_unknown_task_says_there_are_no_events(qtbot: QtBot, trail: TaskTrailWindow) -> None:
    open_task(qtbot, trail, "tsk_nobody")
    assert "No events for task tsk_nobody" in trail.header.text()
    assert not trail.save_button.isEnabled()


@pytest.mark.parametrize("keys", ["Esc", "Ctrl+W"])
def test_esc_and_ctrl_w_close_the_window(qtbot: QtBot, trail: TaskTrailWindow, keys: str) -> None:
    open_task(qtbot, trail, TASK)
    trail.activateWindow()
    qtbot.waitUntil(trail.isActiveWindow, timeout=2_000)
    trail.view.setFocus()
    key = Qt.Key.Key_Escape if keys == "Esc" else Qt.Key.Key_W
    modifier = (
        Qt.KeyboardModifier.NoModifier if keys == "Esc" else Qt.KeyboardModifier.ControlModifier
    )
    qtbot.keyClick(trail.view, key, modifier)
    qtbot.waitUntil(lambda: not trail.isVisible(), timeout=2_000)


def test_typing_a_task_id_opens_it(qtbot: QtBot, trail: TaskTrailWindow) -> None:
    with qtbot.waitSignal(trail.loaded, timeout=5_000):
        qtbot.keyClicks(trail.task_field, RUNNING)
        qtbot.keyClick(trail.task_field, Qt.Key.Key_Return)
    assert trail.task_id == RUNNING and trail.model.rowCount() == 4


@pytest.mark.serial
def test_a_task_of_5000_steps_opens_in_under_a_second(qtbot: QtBot, tmp_path: Path) -> None:
    built = big_task(tmp_path / "big.sqlite", 5_000)
    runner = TaskRunner()
    reader = MirrorReader(built.path)
    w = TaskTrailWindow(reader, runner)
    qtbot.addWidget(w)
    w.resize(1300, 900)
    w.show()
    # The best of three opens: one slow run on a loaded CI machine is noise, three are not.
    timings = []
    for _ in range(3):
        started = time.perf_counter()
        with qtbot.waitSignal(w.loaded, timeout=5_000):
            w.show_task("tsk_big")
        w.view.grab()  # laid out and painted
        timings.append(time.perf_counter() - started)
    story = w.model.story
    assert story is not None and len(story.steps) == 5_000
    assert min(timings) < 1.0, f"opening 5,000 steps took {min(timings):.2f} s at best"
    # Scrolling to the end paints only the rows in view.
    w.view.scrollToBottom()
    assert not w.view.grab().isNull()
    runner.wait()
    reader.close()


def test_saved_html_report_verifies(
    qtbot: QtBot, trail: TaskTrailWindow, tmp_path: Path, seeded: BuiltMirror
) -> None:
    open_task(qtbot, trail, TASK)
    path = tmp_path / "task.html"
    with qtbot.waitSignal(trail.report_saved, timeout=10_000) as saved:
        trail.save_report(path)
    assert str(path) in saved.args[0]
    assert verify_file(path, [seeded.vkey]).report.status == "verified"


def test_saved_pdf_is_written(qtbot: QtBot, trail: TaskTrailWindow, tmp_path: Path) -> None:
    open_task(qtbot, trail, TASK)
    path = tmp_path / "task.pdf"
    with qtbot.waitSignal(trail.report_saved, timeout=10_000):
        trail.save_report(path)
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and len(data) > 5_000
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.serial
def test_a_5000_step_pdf_is_made_on_a_worker_without_freezing_the_window(
    qtbot: QtBot, tmp_path: Path
) -> None:
    """The bounds the issue sets: within 10 s, and the UI thread never stalls 100 ms or more.

    A 10 ms heartbeat on the UI thread measures its longest stall while the worker re-verifies
    the task and lays the PDF out. The best of up to three saves counts, as for opening a big
    task: one slow run on a loaded machine is noise, three are not.
    """
    built = big_task(tmp_path / "big.sqlite", 5_000)
    runner = TaskRunner()
    reader = MirrorReader(built.path)
    w = TaskTrailWindow(reader, runner)
    qtbot.addWidget(w)
    w.show()
    open_task(qtbot, w, "tsk_big")
    qtbot.wait(100)  # the first layout and paint of the trail belong to opening it, not saving
    runs: list[tuple[float, float]] = []  # (longest stall, total), seconds
    for attempt in range(3):
        path = tmp_path / f"big{attempt}.pdf"
        beats: list[float] = []
        heartbeat = QTimer()
        heartbeat.setInterval(10)
        heartbeat.timeout.connect(lambda beats=beats: beats.append(time.perf_counter()))
        started = time.perf_counter()
        beats.append(started)
        heartbeat.start()
        with qtbot.waitSignal(w.report_saved, timeout=30_000):
            w.save_report(path)
        elapsed = time.perf_counter() - started
        heartbeat.stop()
        assert path.read_bytes().startswith(b"%PDF")
        runs.append((max(b - a for a, b in itertools.pairwise(beats)), elapsed))
        if runs[-1][0] < 0.1 and elapsed < 10.0:
            break
    longest, elapsed = min(runs)
    assert elapsed < 10.0, f"the 5,000-step PDF took {elapsed:.1f} s ({runs})"
    assert longest < 0.1, f"the window froze for {longest * 1000:.0f} ms ({runs})"
    runner.wait()
    reader.close()


def test_report_of_a_tampered_mirror_is_refused(qtbot: QtBot, tmp_path: Path) -> None:
    built = seeded_mirror(tmp_path / "m.sqlite")
    conn = sqlite3.connect(built.path)
    conn.execute("UPDATE entries SET raw = CAST(? AS BLOB) WHERE idx = 2", (b'{"x":2}',))
    conn.commit()
    conn.close()
    runner = TaskRunner()
    reader = MirrorReader(built.path)
    w = TaskTrailWindow(reader, runner)
    qtbot.addWidget(w)
    open_task(qtbot, w, TASK)
    with qtbot.waitSignal(w.report_failed, timeout=10_000) as failed:
        w.save_report(tmp_path / "r.html")
    assert "INCLUSION_FAILED" in failed.args[0]
    assert not (tmp_path / "r.html").exists()
    runner.wait()
    reader.close()


# -- from the main window --------------------------------------------------------------------


def a_task_row(window: MainWindow) -> int:
    for row in range(window.model.rowCount()):
        r = window.model.row_at(row)
        if r is not None and r.task_id:
            return row
    raise AssertionError("no row with a task in the first page")


def test_detail_pane_link_opens_the_trail(qtbot: QtBot, window: MainWindow) -> None:
    row = a_task_row(window)
    window.select_row(row)
    qtbot.waitUntil(lambda: window.detail.record is not None, timeout=5_000)
    task_id = window.model.row_at(row).task_id  # type: ignore[union-attr]
    assert f'href="trail:{task_id}"' in window.detail.ids.text()
    window.detail._link_clicked(f"trail:{task_id}")
    trail = window.trail_window
    assert trail is not None and trail.isVisible()
    qtbot.waitUntil(lambda: trail.model.story is not None, timeout=5_000)
    assert trail.model.story is not None and trail.model.story.task_id == task_id


def test_context_menu_and_ctrl_t_open_the_trail(qtbot: QtBot, window: MainWindow) -> None:
    row = a_task_row(window)
    task_id = window.model.row_at(row).task_id  # type: ignore[union-attr]
    rect = window.table.visualRect(window.model.index(row, 0))
    menu = window._table_context_menu(QPoint(rect.center()))
    action = menu.actions()[0]
    assert action.text() == "Show task trail" and action.isEnabled()
    action.trigger()
    trail = window.trail_window
    assert trail is not None
    qtbot.waitUntil(
        lambda: trail.task_id == task_id and trail.model.story is not None, timeout=5_000
    )
    menu.close()
    trail.task_field.clear()
    window.select_row(row)
    window.trail_action.trigger()  # Ctrl+T: asks for an id, pre-filled with the current row's
    assert trail.task_field.text() == task_id
    assert window.trail_action.shortcut().toString() == "Ctrl+T"


def test_the_trail_updates_after_a_sync(qtbot: QtBot, tmp_path: Path) -> None:
    built = seeded_mirror(tmp_path / "m.sqlite")
    window = MainWindow(clock=lambda: NOW_MS)
    qtbot.addWidget(window)
    window.open_mirror(built.path)
    wait_loaded(qtbot, window)
    trail = window.open_task_trail(RUNNING)
    qtbot.waitUntil(lambda: trail.model.story is not None, timeout=5_000)
    assert trail.model.story is not None and len(trail.model.story.steps) == 3
    trail.select_position(1)
    # A sync appends the task's next step (here written directly into the mirror file).
    ts = NOW_MS + 1000
    event = event_dict(ts, "task.completed", id_="log_new", user_id="usr_bob", task_id=RUNNING,
                       agent_id=AGENT_A, duration_ms=5000)  # fmt: skip
    from auditlens.core.canonical import canonicalize_event

    conn = sqlite3.connect(built.path)
    conn.execute(
        "INSERT INTO entries(idx, id, ts, type, category, user_id, task_id, agent_id, outcome, "
        "summary, raw) VALUES (?, 'log_new', ?, 'task.completed', 'task', 'usr_bob', ?, ?, "
        "'success', '', ?)",
        (built.size, ts, RUNNING, AGENT_A, canonicalize_event(event)),
    )
    conn.commit()
    conn.close()
    with qtbot.waitSignal(trail.loaded, timeout=5_000):
        window.reload()
    story = trail.model.story
    assert story is not None and len(story.steps) == 4
    assert story.outcome == "completed" and not story.steps[-1].verified
    current = trail.current_step()
    assert current is not None and current.position == 1  # the selection survived
    window.runner.wait()
    if window.reader is not None:
        window.reader.close()


def test_trail_reads_from_the_mirror_the_window_shows(window: MainWindow) -> None:
    assert window.reader is not None
    rows = window.reader.page(EventFilter(types=frozenset({"task"})), "idx", False, None, 1)
    assert rows and rows[0].task_id
    trail = window.open_task_trail(rows[0].task_id)
    assert trail.reader is window.reader
