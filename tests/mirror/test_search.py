"""Free-text search in the mirror: what matches, log order, upkeep, upgrade, and the re-check."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from auditlens.core.canonical import canonicalize_event
from auditlens.mirror import schema, search
from auditlens.mirror.filter import EventFilter
from auditlens.mirror.reader import MirrorReader
from auditlens.mirror.writer import EntryRow, MirrorWriter, UserRow, extract_row
from tests.ui.mirror_factory import NOW_MS, event_dict, write_mirror

EVENTS = [
    event_dict(
        NOW_MS,
        "auth.login",
        id_="log_01HXAAAAAAAAAAAAAAAAAAAAAA",
        user_id="usr_alice",
        outcome="failure",
        failure_reason="account_locked",
        request={"ip": "10.0.0.7", "user_agent": "curl/8.1"},
    ),
    event_dict(
        NOW_MS + 1,
        "team.member_invited",
        id_="log_01HXBBBBBBBBBBBBBBBBBBBBBB",
        user_id="usr_bob",
        member_email="carol.jones@example.com",
        role="viewer",
    ),
    event_dict(
        NOW_MS + 2,
        "agent.action",
        id_="log_01HXCCCCCCCCCCCCCCCCCCCCCC",
        agent_id="agt_runner",
        task_id="tsk_9f3k",
        tool="file.write",
        path="/srv/app/main.py",
        params={"command": "rm -rf /tmp/cache", "url": "https://example.com/a?b=1"},
        error="Timeout after 30000 ms",
        outcome="failure",
    ),
    event_dict(
        NOW_MS + 3,
        "auth.login",
        id_="log_01HXDDDDDDDDDDDDDDDDDDDDDD",
        user_id="usr_alice",
        request={"ip": "10.0.0.71", "user_agent": "Mozilla/5.0"},
    ),
    event_dict(  # the tokens of "alice example com", but not as one address
        NOW_MS + 4,
        "task.created",
        id_="log_01HXEEEEEEEEEEEEEEEEEEEEEE",
        title="alice: example com",
    ),
]


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[MirrorReader]:
    built = write_mirror(tmp_path / "m.sqlite", EVENTS)
    r = MirrorReader(built.path)
    yield r
    r.close()


def hits(reader: MirrorReader, text: str, **more: object) -> list[int]:
    return [row.idx for row in reader.page(EventFilter(text=text, **more))]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10.0.0.7", [0]),  # a whole IP (numbers match whole: not 10.0.0.71)
        ("10.0.0.71", [3]),
        ("30000", [2]),  # a number, whole
        ("3000", []),  # not the start of one
        ("10.0.0", [3, 0]),  # part of an IP
        ("carol.jones@example.com", [1]),  # a whole email
        ("carol", [1]),  # its local part
        ("example.com", [4, 2, 1]),  # its domain, the URL's host, the words "example com"
        ("log_01HXBBBBBBBBBBBBBBBBBBBBBB", [1]),  # a whole id
        ("01HXCC", [2]),  # the ULID inside it, by its start
        ("tsk_9f3k", [2]),
        ("/srv/app/main.py", [2]),  # a whole path
        ("main.py", [2]),  # its last parts
        ("rm rf", [2]),  # a command, as two terms
        ("alice -login", [4]),  # -word leaves out the events holding it
        ('alice -"10.0.0.7"', [4, 3]),  # an excluded phrase (numbers whole: not .71)
        ("example.com -carol -timeout", [4]),  # several excluded
        ('"rm -rf /tmp" -nothing', [2]),  # excluding what no event holds changes nothing
        ('"rm -rf /tmp"', [2]),  # a quoted phrase
        ("timeout", [2]),  # an error message, any case
        ("account_locked", [0]),
        ("ACCOUNT", [0]),
        ("alice", [4, 3, 0]),  # the user id usr_alice, and a title
        ("alice 10.0.0.71", [3]),  # every term must match
        ("timeout OR carol", [2, 1]),  # OR: either term
        ('"account_locked" OR 10.0.0.71 OR carol', [3, 1, 0]),  # three alternatives, a phrase
        ("alice OR timeout 10.0.0.7", [0]),  # OR binds its two terms; the clause ANDs on
        ("alice OR timeout -login", [4, 2]),  # either, then an exclusion narrows
        ("OR timeout OR", [2]),  # a dangling OR joins nothing
        ("timeout or carol", []),  # only a capital OR joins: "or" is a word looked for
        ("ample", []),  # not inside a word part
        ("nothing-like-this", []),
    ],
)
def test_ids_emails_paths_and_ips_are_found_whole_and_in_parts(
    reader: MirrorReader, text: str, expected: list[int]
) -> None:
    assert hits(reader, text) == expected
    assert reader.count(EventFilter(text=text)) == len(expected)


def test_hits_come_in_log_order_in_keyset_pages_combined_with_the_filter(
    reader: MirrorReader,
) -> None:
    f = EventFilter(text="alice")
    first = reader.page(f, limit=2)
    assert [r.idx for r in first] == [4, 3]
    rest = reader.page(f, after=reader.key_of(first[-1], "ts"), limit=2)
    assert [r.idx for r in rest] == [0]
    assert [r.idx for r in reader.page(f, descending=False)] == [0, 3, 4]
    assert hits(reader, "alice", types=frozenset({"auth"})) == [3, 0]
    assert hits(reader, "alice", outcome="denied") == [0]  # account_locked: a refusal
    assert hits(reader, "alice", since_ms=NOW_MS + 1, until_ms=NOW_MS + 4) == [3]
    assert reader.count(EventFilter(text="alice", types=frozenset({"auth"}))) == 2
    assert [r.idx for r in reader.page_at(f, offset=1, limit=5)] == [3, 0]
    by_type = reader.page(EventFilter(text="alice"), sort="type", descending=False)
    assert [r.type for r in by_type] == ["auth.login", "auth.login", "task.created"]


def test_a_search_of_only_excluded_words_is_refused_not_dropped() -> None:
    """Dropping it would show every event, the opposite of what was asked."""
    with pytest.raises(ValueError, match="only excludes words"):
        EventFilter(text="-carol")
    query = search.SearchQuery.parse('timeout -retry -"rm -rf"')
    assert query.fts() == '("timeout"*) NOT "retry"* NOT "rm rf"*'
    assert [m.group() for m in query.pattern().finditer("Timeout; retry")] == ["Timeout"]


def test_an_empty_or_punctuation_only_search_is_no_condition() -> None:
    assert EventFilter(text="  ").text is None
    assert EventFilter(text="@@ --").is_empty()
    assert EventFilter(text=" carol ").to_query() == "?q=carol"


def test_whole_value_match_does_not_accept_the_same_words_apart(reader: MirrorReader) -> None:
    # "alice@example.com" is the phrase alice-example-com; event 4 holds those words apart
    # ("alice: example com"), which the phrase also matches: same tokens, same order.
    assert hits(reader, "alice@example.com") == [4]


def test_a_corrupted_index_never_shows_a_row_that_does_not_match(tmp_path: Path) -> None:
    path = write_mirror(tmp_path / "m.sqlite", EVENTS).path
    conn = sqlite3.connect(path)
    # The index claims entry 1 (the invitation) holds "mozilla": it does not.
    conn.execute(f"INSERT INTO {search.TABLE}(rowid, body) VALUES (1, 'mozilla')")
    conn.commit()
    conn.close()
    reader = MirrorReader(path)
    try:
        assert reader.count(EventFilter(text="mozilla")) == 2  # the index's own count
        assert hits(reader, "mozilla") == [3]  # the page is re-checked against the bytes
        assert [r.idx for r in reader.page(EventFilter(text="mozilla"), limit=1)] == [3]
    finally:
        reader.close()


def _rows(events: list[dict[str, object]], start: int) -> list[EntryRow]:
    out = []
    for i, event in enumerate(events, start):
        raw = canonicalize_event(event)
        out.append(extract_row(i, raw, orjson.loads(raw)))
    return out


def _commit(batch, size: int) -> None:  # type: ignore[no-untyped-def]
    batch.commit(
        checkpoint_note=f"note {size}",
        checkpoint_size=size,
        checkpoint_root=b"\x01" * 32,
        frontier=[],
        users=[UserRow("usr_alice", "alice@example.com", "Alice", "admin")],
    )


@pytest.mark.parametrize("bulk", [True, False])
def test_the_sync_writer_indexes_each_batch_in_its_transaction(tmp_path: Path, bulk: bool) -> None:
    path = tmp_path / "w.sqlite"
    with MirrorWriter(path) as writer:
        with writer.begin(3, bulk=bulk) as batch:
            batch.add(_rows(EVENTS[:3], 0))
            _commit(batch, 3)
        reader = MirrorReader(path)
        try:
            assert hits(reader, "10.0.0") == [0]
            with writer.begin(2, bulk=False) as batch:  # an increment
                batch.add(_rows(EVENTS[3:], 3))
                _commit(batch, 5)
            reader.refresh()
            assert hits(reader, "10.0.0") == [3, 0]
            with writer.begin(1, bulk=False) as batch:  # rolled back: never searchable
                batch.add(
                    _rows([event_dict(NOW_MS + 9, "task.created", id_="log_x", title="zebra")], 5)
                )
            reader.refresh()
            assert hits(reader, "zebra") == []
        finally:
            reader.close()


def test_an_existing_schema_2_mirror_gets_its_index_on_upgrade(tmp_path: Path) -> None:
    path = write_mirror(tmp_path / "old.sqlite", EVENTS).path
    conn = sqlite3.connect(path)  # as auditlens wrote it before search: no index, schema 2
    conn.execute(f"DROP TABLE {search.TABLE}")
    conn.execute("PRAGMA user_version=2")
    conn.commit()
    conn.close()
    reader = MirrorReader(path)  # opening it to read upgrades it once, in place
    try:
        assert hits(reader, "carol") == [1]
        assert hits(reader, "10.0.0.7") == [0]
    finally:
        reader.close()
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema.SCHEMA_VERSION
    finally:
        conn.close()


def test_the_index_holds_values_not_keys_nor_the_timestamp() -> None:
    raw = canonicalize_event(EVENTS[0])
    text = search.text_of(raw)
    assert "10.0.0.7" in text and "account_locked" in text
    assert "outcome" not in text and "request" not in text
    assert "2026" not in text
    assert search.text_of(b"not json") == ""


def test_highlight_spans_cover_each_hit_in_displayed_text() -> None:
    query = search.SearchQuery.parse("example.com 10.0")
    text = "sign-in from 10.0.0.7 for carol@Example.com (not ample.com)"
    found = [text[a:b] for a, b in search.highlight_spans(query, text)]
    assert found == ["10.0", "Example.com"]
    either = search.SearchQuery.parse("carol OR 10.0.0.7 -ample")
    assert [text[a:b] for a, b in search.highlight_spans(either, text)] == ["10.0.0.7", "carol"]
    assert either.fts() == '(("carol"* OR "10 0 0 7")) NOT "ample"*'
