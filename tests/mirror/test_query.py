"""The mirror's query layer: every filter and sort pages exactly like a brute-force reference.

The reference filters and sorts all rows in Python; the reader must yield the same rows in the
same order whether it pages forward by key, backwards, or jumps to a position, with the
sort-index walk and the small-result sort both exercised. Query plans are checked with
``EXPLAIN QUERY PLAN`` so no first page sorts a whole range.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from auditlens.core.timestamps import format_timestamp
from auditlens.mirror import plan as planner
from auditlens.mirror import resolve, schema
from auditlens.mirror.filter import SORT_COLUMNS, EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.records import Row
from tests.ui.mirror_factory import NOW_MS, event_dict, write_mirror

HOUR = 3_600_000
DAY = 24 * HOUR


def all_rows(path: Path) -> list[Row]:
    conn = sqlite3.connect(path)
    rows = [
        Row._make(r)
        for r in conn.execute(
            "SELECT idx, id, ts, type, category, user_id, task_id, agent_id, outcome, summary, "
            "verdict, ip, user_agent FROM entries"
        )
    ]
    conn.close()
    return rows


def reference(
    reader: MirrorReader, rows: list[Row], f: EventFilter, sort: str, desc: bool
) -> list[int]:
    """Indexes of the rows matching ``f`` in ``sort`` order, computed the obvious way."""
    emails = {u.id: (u.email or "") for u in reader.users()}

    def like(value: str | None, wanted: str | None) -> bool:
        """``wanted`` is absent, equal to ``value``, or a ``*`` prefix of it."""
        if wanted is None:
            return True
        if value is None:
            return False
        if wanted.endswith("*"):
            return value.startswith(wanted[:-1])
        return value == wanted

    def keep(r: Row) -> bool:
        if f.since_ms is not None and r.ts < f.since_ms:
            return False
        if f.until_ms is not None and r.ts >= f.until_ms:
            return False
        if f.user_email is not None:
            email = emails.get(r.user_id or "", "").lower()
            wanted = f.user_email.lower()
            if wanted.endswith("*"):
                if not email.startswith(wanted[:-1]) and not like(r.user_id, f.user_email):
                    return False
            elif email != wanted:
                return False
        if not like(r.user_id, f.user_id):
            return False
        if f.types and r.category not in f.types and r.type not in f.types:
            return False
        if not like(r.task_id, f.task_id) or not like(r.agent_id, f.agent_id):
            return False
        if not like(r.ip, f.ip):
            return False
        return f.outcome is None or r.verdict == f.outcome

    def lead(r: Row) -> tuple[int, str]:
        value: str | None
        if sort == "user":
            value = (emails.get(r.user_id) or r.user_id) if r.user_id else None
        elif sort in ("ts", "idx"):
            value = None
        else:
            column = {"task": "task_id", "agent": "agent_id", "outcome": "verdict"}.get(sort, sort)
            value = getattr(r, column)
        return (0, "") if value is None else (1, value)

    matched = sorted((r for r in rows if keep(r)), key=lambda r: (lead(r), r.ts, r.idx))
    if desc:
        matched.reverse()
    return [r.idx for r in matched]


def walk(reader: MirrorReader, f: EventFilter, sort: str, desc: bool, limit: int) -> list[int]:
    out: list[int] = []
    after = None
    while True:
        page = reader.page(f, sort, desc, after, limit)  # type: ignore[arg-type]
        out.extend(r.idx for r in page)
        if len(page) < limit:
            return out
        after = reader.key_of(page[-1], sort)


def some_values(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(path)
    pick: Callable[[str], str] = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    values = {
        "task": pick("SELECT task_id FROM entries WHERE task_id IS NOT NULL LIMIT 1 OFFSET 500"),
        "agent": pick("SELECT agent_id FROM entries WHERE agent_id IS NOT NULL LIMIT 1"),
        "user_id": pick("SELECT user_id FROM entries WHERE user_id IS NOT NULL LIMIT 1 OFFSET 7"),
        "email": pick(
            "SELECT u.email FROM entries e JOIN users u ON u.id = e.user_id LIMIT 1 OFFSET 99"
        ),
        "ip": pick("SELECT ip FROM entries WHERE ip IS NOT NULL LIMIT 1 OFFSET 40"),
    }
    conn.close()
    return values


def filters(path: Path) -> list[EventFilter]:
    v = some_values(path)
    return [
        EventFilter(),
        EventFilter(outcome="failure"),
        EventFilter(types=frozenset({"agent"})),
        EventFilter(types=frozenset({"auth", "task.failed", "approval.denied"})),
        EventFilter(user_email=v["email"].upper()),
        EventFilter(user_id=v["user_id"], outcome="success"),
        EventFilter(task_id=v["task"]),
        EventFilter(agent_id=v["agent"], types=frozenset({"agent.action"})),
        EventFilter(since_ms=NOW_MS - 20 * DAY, until_ms=NOW_MS - 10 * DAY),
        EventFilter(since_ms=NOW_MS - 30 * DAY, types=frozenset({"task"}), outcome="failure"),
        EventFilter(user_email="nobody@example.com"),
        EventFilter(since_ms=NOW_MS + HOUR),  # after the last event: nothing
        EventFilter(until_ms=NOW_MS - 200 * DAY),  # before the first event: nothing
        EventFilter(since_ms=NOW_MS - 91 * DAY, until_ms=NOW_MS - 89 * DAY, outcome="success"),
        EventFilter(outcome="denied"),
        EventFilter(outcome="denied", types=frozenset({"approval"})),
        EventFilter(ip=v["ip"]),
        EventFilter(ip=v["ip"][:4] + "*", outcome="failure"),
        EventFilter(user_email=v["email"][:3].upper() + "*"),
        EventFilter(user_id=v["user_id"][:6] + "*", types=frozenset({"auth"})),
        EventFilter(task_id=v["task"][:-2] + "*"),
        EventFilter(task_id="tsk_*", since_ms=NOW_MS - 20 * DAY),  # broad: walks time
        EventFilter(agent_id=v["agent"][:5] + "*"),
        EventFilter(task_id="no-such-task*"),
    ]


@pytest.mark.parametrize("small_result", [10**9, 0], ids=["sqlite-sorts-small", "index-walk"])
def test_keyset_pages_match_the_reference_for_every_filter_and_sort(
    demo: Path, monkeypatch: pytest.MonkeyPatch, small_result: int
) -> None:
    monkeypatch.setattr(planner, "SMALL_RESULT", small_result)
    monkeypatch.setattr(planner, "SMALL_TASKS_IN_RANGE", small_result)
    rows = all_rows(demo)
    reader = MirrorReader(demo)
    try:
        for f in filters(demo):
            for sort in SORT_COLUMNS:
                for desc in (False, True):
                    expected = reference(reader, rows, f, sort, desc)
                    got = walk(reader, f, sort, desc, limit=97)
                    assert got == expected, (f, sort, desc)
    finally:
        reader.close()


def test_counts_match_the_reference(reader: MirrorReader, demo: Path) -> None:
    rows = all_rows(demo)
    for f in filters(demo):
        assert reader.count(f) == len(reference(reader, rows, f, "ts", False)), f


@pytest.mark.parametrize(
    ("small_result", "jump_sort"),
    [(10**9, 0), (0, 0), (0, 10**9)],
    ids=["sqlite-sorts-small", "index-walk", "index-walk-jump-sorts"],
)
def test_a_jump_to_any_position_returns_the_rows_there(
    demo: Path, monkeypatch: pytest.MonkeyPatch, small_result: int, jump_sort: int
) -> None:
    monkeypatch.setattr(planner, "SMALL_RESULT", small_result)
    monkeypatch.setattr(planner, "SMALL_TASKS_IN_RANGE", small_result)
    monkeypatch.setattr(planner, "JUMP_SORT_CAP", jump_sort)
    rows = all_rows(demo)
    reader = MirrorReader(demo)
    try:
        for f in filters(demo):
            for sort in SORT_COLUMNS:
                expected = reference(reader, rows, f, sort, True)
                total = len(expected)
                for offset in (0, 1, total // 3, total // 2 + 1, max(total - 5, 0)):
                    got = reader.page_at(f, sort, True, offset, 50, total=total)
                    assert [r.idx for r in got] == expected[offset : offset + 50], (f, sort, offset)
                    plain = reader.page_at(f, sort, True, offset, 50)
                    assert [r.idx for r in plain] == expected[offset : offset + 50]
    finally:
        reader.close()


def test_page_before_returns_the_rows_preceding_a_key(reader: MirrorReader, demo: Path) -> None:
    f = EventFilter(types=frozenset({"agent", "task"}))
    first = reader.page(f, "type", False, None, 300)
    anchor = first[250]
    before = reader.page_before(f, "type", False, reader.key_of(anchor, "type"), 100)
    assert [r.idx for r in before] == [r.idx for r in first[150:250]]


def test_the_first_page_of_every_filter_and_sort_uses_an_index(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No first page scans the table and sorts it; the index walk never sorts at all. (A
    narrow filter's page reads its rows found beforehand: a scan of that list, ``json_each``.)"""
    reader = MirrorReader(demo)
    try:
        for f in filters(demo):
            for sort in SORT_COLUMNS:
                for desc in (False, True):
                    plan = reader.explain(f, sort, desc)
                    scans = [
                        line for line in plan if line.startswith("SCAN") and "INDEX" not in line
                    ]
                    assert not scans, (f, sort, plan)
                    if any("TEMP B-TREE" in line for line in plan):
                        walks = [
                            line
                            for line in plan
                            if line.startswith("SCAN") and not line.startswith("SCAN json_each")
                        ]
                        assert not walks, plan
    finally:
        reader.close()
    monkeypatch.setattr(planner, "SMALL_RESULT", 0)
    reader = MirrorReader(demo)
    try:
        for sort in ("type", "user", "agent", "outcome", "task"):
            plan = reader.explain(EventFilter(outcome="failure"), sort, True)
            assert not any("TEMP B-TREE" in line for line in plan), (sort, plan)
    finally:
        reader.close()


def is_broad_prefix(reader: MirrorReader, f: EventFilter) -> bool:
    """A prefix standing for many values: its few rows are sorted (checked separately)."""
    r = reader.resolver.resolve(f)
    return len(planner.time_streams(r)[0]) > planner.MAX_MERGED_STREAMS


def test_a_time_sorted_first_page_never_sorts(reader: MirrorReader, demo: Path) -> None:
    for f in filters(demo):
        # A task's few rows are sorted by time (its index is (task, idx)).
        if f.task_id is None and not is_broad_prefix(reader, f):
            plan = reader.explain(f, "ts", True)
            assert not any("TEMP B-TREE" in line for line in plan), (f, plan)


def test_a_prefix_of_many_values_sorts_only_a_bounded_result_else_walks_time(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``agt_0*`` stands for many agents: at most SMALL_RESULT rows are found by the IN list
    on the agent index, their ``(ts, idx)`` sorted off that covering index and only the page's
    rows read; above that the time index is walked, probing the agents."""
    f = EventFilter(agent_id="agt_0*")
    reader = MirrorReader(demo)
    try:
        assert is_broad_prefix(reader, f)
        plan = reader.explain(f, "ts", True)
        assert "SEARCH e USING COVERING INDEX ix_entries_agent_ts (agent_id=?)" in plan, plan
        assert reader.count(f) <= planner.SMALL_RESULT
    finally:
        reader.close()
    monkeypatch.setattr(planner, "SMALL_RESULT", 10)
    reader = MirrorReader(demo)
    try:
        plan = reader.explain(f, "ts", True)
        assert plan[0].startswith("SCAN e USING INDEX ix_entries_ts"), plan
        assert "TEMP B-TREE" not in " ".join(plan)
        assert all("COVERING INDEX ix_entries_agent_ts" in line for line in probe_lines(plan))
    finally:
        reader.close()


@pytest.mark.parametrize("column", ["user_id", "task_id", "agent_id", "ip"])
def test_a_prefix_is_listed_by_seeks_in_the_columns_index(demo: Path, column: str) -> None:
    conn = sqlite3.connect(demo)
    try:
        for sql in resolve.PREFIX_SEEKS[column]:
            plan = [r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, ("a", "b"))]
            assert len(plan) == 1 and plan[0].startswith("SEARCH entries USING COVERING INDEX")
            assert f"({column}>? AND {column}<?)" in plan[0], plan
    finally:
        conn.close()


def test_prefix_bounds_hold_exactly_the_strings_that_start_with_it() -> None:
    low, high = resolve.prefix_bounds("task_9")
    assert (low, high) == ("task_9", "task_:")
    for text in ("task_9", "task_9zzz", "task_9\U0010ffff"):
        assert low <= text < high
    for text in ("task_8z", "task_:", "task_a"):
        assert not low <= text < high
    assert resolve.prefix_bounds("a\ud7ff")[1] == "a\ue000"  # surrogates are no text


def test_a_prefix_that_stands_for_too_many_values_is_refused_clearly(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolve, "MAX_PREFIX_VALUES", 3)
    reader = MirrorReader(demo)
    try:
        with pytest.raises(
            resolve.PrefixTooBroadError, match="more than 3 task ids start with “tsk_”"
        ):
            reader.page(EventFilter(task_id="tsk_*"))
        assert (
            reader.values_starting("agent_id", "agt_", limit=2)
            == sorted(reader.resolver.prefix_values("agent_id", "agt_"))[:2]
        )
    finally:
        reader.close()


def test_typing_part_of_a_name_finds_the_person(reader: MirrorReader, demo: Path) -> None:
    email = some_values(demo)["email"]
    name = email.split("@")[0][:4]
    rows = reader.page(EventFilter(user_email=name.capitalize() + "*"), limit=500)
    assert rows
    emails = {reader.email_of(r.user_id) or "" for r in rows}
    assert all(e.lower().startswith(name.lower()) for e in emails), emails


def test_the_reader_opens_the_file_read_only(reader: MirrorReader) -> None:
    with reader.connection() as conn, pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM entries")


def test_connections_are_pooled_not_kept_per_thread(reader: MirrorReader) -> None:
    """Qt recycles pool threads: a connection per thread ever seen would grow memory."""
    import threading

    def work() -> None:
        reader.count(EventFilter(outcome="failure"))

    for _ in range(10):
        t = threading.Thread(target=work)
        t.start()
        t.join()
    assert reader.pool.idle == 1
    assert not reader.pool.busy


def test_a_missing_mirror_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no mirror"):
        MirrorReader(tmp_path / "absent.sqlite")


def test_the_reader_reads_the_columns_the_schema_defines() -> None:
    selected = [c.strip().split(".")[1] for c in planner.SELECT.split("FROM")[0][7:].split(",")]
    assert set(selected) <= {c.name for c in schema.entries.columns}


def test_the_event_carries_raw_bytes_leaf_hash_and_covering_checkpoint(
    reader: MirrorReader,
) -> None:
    record = reader.event(42)
    assert record is not None
    assert record.raw.startswith(b'{"agent_id":') or record.raw.startswith(b"{")
    import hashlib

    assert record.leaf_hash == hashlib.sha256(b"\x00" + record.raw).digest()
    assert record.checkpoint_size == 3_000
    assert reader.event(10**9) is None


def test_users_and_completion_list_come_from_the_directory(reader: MirrorReader) -> None:
    users = reader.users()
    emails = reader.user_emails()
    assert emails == sorted({u.email for u in users if u.email}, key=str.lower)
    assert reader.email_of(users[0].id) == users[0].email
    assert reader.email_of("usr_unknown") is None


def test_status_names_the_checkpoint_and_origin(reader: MirrorReader) -> None:
    status = reader.status()
    assert status.entries == 3_000
    assert status.checkpoint is not None and status.checkpoint.size == 3_000
    assert status.origin == "auditlens.local/acme"
    assert status.last_sync_at == NOW_MS


def test_rows_without_a_user_task_or_agent_sort_first_ascending(tmp_path: Path) -> None:
    events = [
        event_dict(
            1_000 + i,
            "agent.action",
            id_=f"log_{i:026d}",
            tool="x",
            user_id=u,
            task_id=t,
            agent_id=a,
        )
        for i, (u, t, a) in enumerate(
            [("u2", "t2", "a2"), (None, None, None), ("u1", "t1", "a1"), ("u3", None, "a1")]
        )
    ]
    path = write_mirror(
        tmp_path / "m.sqlite",
        events,
        [("u1", "zed@x.io", "Z", "admin"), ("u2", "amy@x.io", "A", "owner")],
    ).path
    reader = MirrorReader(path)
    try:
        # u3 is not in the directory: it sorts by its id ("u3" < "zed@x.io").
        assert [r.idx for r in reader.page(EventFilter(), "user", False)] == [1, 0, 3, 2]
        assert [r.idx for r in reader.page(EventFilter(), "task", False)] == [1, 3, 2, 0]
        assert [r.idx for r in reader.page(EventFilter(), "agent", True)] == [0, 3, 2, 1]
    finally:
        reader.close()


def test_the_filter_summary_reads_like_the_api_query() -> None:
    f = EventFilter(
        since_ms=NOW_MS - HOUR,
        types=frozenset({"agent", "agent.action", "task.failed"}),
        outcome="failure",
        user_email="ana@acme.io",
    )
    assert f.to_query() == (
        f"?since={format_timestamp(NOW_MS - HOUR)}&user_email=ana@acme.io"
        "&type=agent,task.failed&outcome=failure"
    )
    assert EventFilter().to_query() == ""
    assert EventFilter().is_empty()


def test_a_bad_filter_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="outcome must be"):
        EventFilter(outcome="maybe")
    with pytest.raises(ValueError, match="must be before"):
        EventFilter(since_ms=NOW_MS, until_ms=NOW_MS - 1)


def test_an_unknown_sort_column_is_refused(reader: MirrorReader) -> None:
    with pytest.raises(ValueError, match="cannot sort by 'summary'"):
        reader.page(EventFilter(), "summary")  # type: ignore[arg-type]


def probe_lines(plan: list[str]) -> list[str]:
    """The plan lines of the index probes that check a filter (the ``c`` alias)."""
    return [line for line in plan if line.startswith("SEARCH c ")]


def test_a_walk_checks_the_filter_in_its_index_not_in_the_table(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failures sorted by agent, walking the agent index: the outcome is a seek in its index.

    A walk meets many rows the filter rejects (sorted by type, every task.started row before
    the first failure: 77,000 at 1M events, before types with an outcome became one seek each);
    reading each from the table took up to 1.9 s on a cold cache, the probe ~25 ms.
    """
    monkeypatch.setattr(planner, "SMALL_RESULT", 0)
    reader = MirrorReader(demo)
    try:
        plan = reader.explain(EventFilter(outcome="failure"), "agent", True)
    finally:
        reader.close()
    assert plan[0] == "SEARCH e USING INDEX ix_entries_agent_ts (agent_id>?)", plan
    assert "TEMP B-TREE" not in " ".join(plan)
    assert probe_lines(plan)
    for line in probe_lines(plan):
        assert line.startswith(
            "SEARCH c USING COVERING INDEX ix_entries_verdict_ts (verdict=? AND ts=? AND idx=?"
        ), plan


@pytest.mark.parametrize("small_result", [10**9, 0], ids=["sqlite-sorts-small", "index-walk"])
def test_every_filter_condition_besides_the_driver_is_an_exact_covering_index_seek(
    demo: Path, monkeypatch: pytest.MonkeyPatch, small_result: int
) -> None:
    """No check of a condition reads the table or scans a range: one seek by ``(value, ts, idx)``
    (the task's too, since schema 5)."""
    monkeypatch.setattr(planner, "SMALL_RESULT", small_result)
    monkeypatch.setattr(planner, "SMALL_TASKS_IN_RANGE", small_result)
    reader = MirrorReader(demo)
    try:
        for f in filters(demo):
            for sort in SORT_COLUMNS:
                for desc in (False, True):
                    for line in probe_lines(reader.explain(f, sort, desc)):
                        assert "USING COVERING INDEX" in line, (f, sort, line)
                        assert "ts=? AND idx=?" in line, (f, sort, line)
    finally:
        reader.close()


def test_a_combined_filter_probes_each_condition_it_does_not_drive(reader: MirrorReader) -> None:
    f = EventFilter(
        types=frozenset({"agent"}), outcome="failure", task_id="tsk_x", agent_id="agt_x"
    )
    probed = {line.split(" ")[5] for line in probe_lines(reader.explain(f, "ts", True))}
    driver = reader.explain(f, "ts", True)[0]
    assert driver.startswith("SEARCH e USING INDEX ix_entries_task"), driver
    assert probed == {"ix_entries_category_ts", "ix_entries_agent_ts", "ix_entries_verdict_ts"}


def test_the_probe_indexes_are_the_schemas() -> None:
    """Each probe names a schema index led by its column, then ``ts`` and ``idx``."""
    by_name = {str(ix.name): [c.name for c in ix.columns] for ix in schema.ENTRY_INDEXES}
    for column, name in planner.PROBE_INDEXES.items():
        assert by_name.get(name) == [column, "ts", "idx"], (column, name)


def test_a_time_range_on_the_task_walk_is_tested_in_the_task_index(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The task index holds ``ts`` (schema 5): the walk tests the range without a table read;
    the ``idx`` bounds of a range (two time seeks) are what a free-text search uses."""
    monkeypatch.setattr(planner, "SMALL_RESULT", 0)
    monkeypatch.setattr(planner, "SMALL_TASKS_IN_RANGE", 0)
    rows = sorted(all_rows(demo), key=lambda r: r.idx)
    since, until = rows[1000].ts, rows[2000].ts
    lo = min(r.idx for r in rows if r.ts >= since)
    hi = min(r.idx for r in rows if r.ts >= until)
    reader = MirrorReader(demo)
    try:
        assert reader.resolver.idx_bounds(since, until) == (lo, hi)
        everything = reader.resolver.idx_bounds(None, None)
        assert everything[0] < rows[0].idx and everything[1] > rows[-1].idx
        assert reader.resolver.idx_bounds(NOW_MS + HOUR, None)[0] > rows[-1].idx
        f = EventFilter(since_ms=since, until_ms=until)
        plan = reader.explain(f, "task", False)
        walks = [line for line in plan if line.startswith("SEARCH e")]
        assert walks and all("ix_entries_task_ts (task_id" in line for line in walks), plan
        got = walk(reader, f, "task", False, limit=150)
        assert got == reference(reader, all_rows(demo), f, "task", False)
    finally:
        reader.close()


def test_a_narrow_filter_sorted_by_another_column_probes_before_it_reads_the_table(
    reader: MirrorReader, demo: Path
) -> None:
    """Failures of one user by type: the user's (or the verdict's) index finds the rows, the
    other condition is probed in its index, and only the rows that pass are then read, by
    primary key, and sorted (their sort value and index: the page's rows are read after)."""
    f = EventFilter(user_email=some_values(demo)["email"], outcome="failure")
    r = reader.resolver.resolve(f)
    (stream,), _ = planner.time_streams(r)
    with reader.connection() as conn:
        found = [
            str(row[3])
            for row in conn.execute(
                f"EXPLAIN QUERY PLAN SELECT e.idx FROM entries AS e WHERE {stream.where} LIMIT ?",
                (*stream.params, 1),
            )
        ]
    # Finding them reads no table row at all: the driver index covers the probe's key.
    assert found[0].startswith("SEARCH e USING COVERING INDEX"), found
    assert "ix_entries_verdict_ts" in found[0] or "ix_entries_user_ts" in found[0], found
    assert len(probe_lines(found)) == 1, found
    plan = reader.explain(f, "type", True)
    assert plan[0] == "SEARCH e USING INTEGER PRIMARY KEY (rowid=?)", plan
    assert not [line for line in plan if "USING INDEX" in line], plan  # no walk, no probe
    assert "USE TEMP B-TREE FOR ORDER BY" in plan, plan
    rows = reader.page(f, "type", True, None, 500)
    assert [row.idx for row in rows] == reference(reader, all_rows(demo), f, "type", True)[:500]


def test_an_export_records_the_ip_and_prefix_filters_it_selected_by() -> None:
    from auditlens.mirror.filter import filter_description

    f = EventFilter(ip="10.0.*", task_id="tsk_01*", outcome="denied")
    assert filter_description(f) == {"ip": "10.0.*", "task_id": "tsk_01*", "outcome": "denied"}


def test_a_prefix_inside_a_broad_filter_reads_only_the_prefix_values_ranges(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A few IPs inside the agent category: the IP index finds the rows (one IN), the category
    is probed; the plan must not walk the whole category (or time) index."""
    monkeypatch.setattr(planner, "MAX_MERGED_STREAMS", 1)
    reader = MirrorReader(demo)
    try:
        # People's addresses, not the agent runtimes' few busy ones (10.42.8.x, one per task):
        # a prefix of those matches most agent actions and is rightly not preferred.
        ips = [ip for ip in reader.known_values("ip") if not ip.startswith("10.42.")]
        prefix = ips[0][:4]
        assert len([ip for ip in ips if ip.startswith(prefix)]) > 1
        for types in (frozenset({"agent"}), frozenset({"auth"})):
            f = EventFilter(ip=prefix + "*", types=types)
            assert reader.resolver.resolve(f).prefer == "ip"
            for sort in ("ts", "type", "user"):
                plan = reader.explain(f, sort, True)
                driving = {
                    line.replace("COVERING INDEX", "INDEX")
                    for line in plan
                    if line.startswith(("SEARCH e", "SCAN e"))
                }
                driving.discard("SEARCH e USING INTEGER PRIMARY KEY (rowid=?)")  # late rows
                ip = {"SEARCH e USING INDEX ix_entries_ip_ts (ip=?)"}
                # A narrow one's page reads the rows found beforehand (through the time plan).
                assert driving == ip or (sort != "ts" and not driving), (sort, plan)
            rows = all_rows(demo)
            assert walk(reader, f, "ts", True, 50) == reference(reader, rows, f, "ts", True)
    finally:
        reader.close()


@pytest.mark.parametrize("small_result", [10**9, 0], ids=["late-rows", "time-walk"])
def test_a_union_of_many_values_pages_like_the_reference(
    demo: Path, monkeypatch: pytest.MonkeyPatch, small_result: int
) -> None:
    """Every filter with more than one driver value taken as "many": sorted by idx alone off
    the covering index then read (late rows), or found by walking time; keyset pages and jumps
    both agree with the reference."""
    monkeypatch.setattr(planner, "MAX_MERGED_STREAMS", 1)
    monkeypatch.setattr(planner, "SMALL_RESULT", small_result)
    monkeypatch.setattr(planner, "SMALL_TASKS_IN_RANGE", small_result)
    rows = all_rows(demo)
    reader = MirrorReader(demo)
    try:
        for f in filters(demo):
            for desc in (False, True):
                expected = reference(reader, rows, f, "ts", desc)
                assert walk(reader, f, "ts", desc, limit=61) == expected, (f, desc)
                total = len(expected)
                for at in (0, total // 3, max(total - 5, 0)):
                    got = [r.idx for r in reader.page_at(f, "ts", desc, at, 10, total=total)]
                    assert got == expected[at : at + 10], (f, desc, at)
    finally:
        reader.close()


def test_late_rows_sort_only_index_entries_and_read_just_the_page(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(planner, "MAX_MERGED_STREAMS", 1)
    reader = MirrorReader(demo)
    try:
        prefix = reader.known_values("ip")[0][:4]
        plan = reader.explain(EventFilter(ip=prefix + "*"), "ts", True)
    finally:
        reader.close()
    assert any(
        line.startswith("SEARCH e USING COVERING INDEX ix_entries_ip_ts (ip=?)") for line in plan
    ), plan
    assert any(line.startswith("SEARCH e USING INTEGER PRIMARY KEY") for line in plan), plan


@pytest.mark.parametrize(
    "f",
    [
        EventFilter(),
        EventFilter(types=frozenset({"auth", "task.failed"})),
        EventFilter(outcome="denied"),
        EventFilter(agent_id="agt_*", since_ms=NOW_MS - 30 * DAY),
    ],
)
def test_matching_indexes_are_the_tables_rows_below_a_bound(
    reader: MirrorReader, demo: Path, f: EventFilter
) -> None:
    rows = all_rows(demo)
    below = len(rows) - 500
    expected = sorted(i for i in reference(reader, rows, f, "idx", False) if i < below)
    assert list(reader.matching_indexes(f, below)) == expected


def test_matching_indexes_refuse_a_free_text_search(reader: MirrorReader) -> None:
    with pytest.raises(ValueError, match="not a free-text search"):
        reader.matching_indexes(EventFilter(text="alice"), 10)


def test_two_big_equalities_are_counted_further_so_the_smaller_one_drives(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both past the first count's cap (the busiest user and the busiest agent at 5M events):
    without a second count they tie and the priority order picks the user, three times the
    rows to walk; counted further, the smaller drives."""
    rows = all_rows(demo)
    by_user: dict[str, int] = {}
    by_agent: dict[str, int] = {}
    for row in rows:
        if row.user_id and row.agent_id:
            by_user[row.user_id] = by_user.get(row.user_id, 0) + 1
            by_agent[row.agent_id] = by_agent.get(row.agent_id, 0) + 1
    user = max(by_user, key=by_user.__getitem__)
    agent = max(by_agent, key=by_agent.__getitem__)
    n_user = sum(1 for row in rows if row.user_id == user)
    n_agent = sum(1 for row in rows if row.agent_id == agent)
    assert n_agent < n_user  # the user comes first in the priority order
    monkeypatch.setattr(resolve, "DRIVER_PROBE", min(n_agent, n_user) // 4)
    reader = MirrorReader(demo)
    try:
        # A time range (here: all of it) is counted inside the range, index by index.
        f = EventFilter(user_id=user, agent_id=agent, since_ms=0)
        assert reader.resolver.resolve(f).prefer == "agent"
        monkeypatch.setattr(resolve, "DRIVER_PROBE_MAX", resolve.DRIVER_PROBE)  # no 2nd round
        reader.refresh()
        assert reader.resolver.resolve(f).prefer == "user"
        # Without a range the mirror's value counts decide, with no count at all: the agent
        # even with the second round switched off.
        untimed = EventFilter(user_id=user, agent_id=agent)
        assert reader.resolver.resolve(untimed).prefer == "agent"
        counts = reader.resolver.value_counts()
        assert (counts[("user_id", user)], counts[("agent_id", agent)]) == (n_user, n_agent)
    finally:
        reader.close()
