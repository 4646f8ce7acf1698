"""The query bar's language: parsing, printing, errors, and exclusions in the mirror's SQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlens.core.events import CATEGORIES, EVENT_TYPES
from auditlens.core.summaries import verdict_of
from auditlens.core.timestamps import parse_timestamp
from auditlens.mirror.filter import OUTCOMES, SORT_COLUMNS, EventFilter
from auditlens.mirror.query_format import format_query, relative_text
from auditlens.mirror.query_text import QueryError, parse_query, token_at
from auditlens.mirror.reader import MirrorReader
from tests.mirror.conftest import bodies

NOW = parse_timestamp("2026-03-10T12:00:00Z")
HOUR = 3_600_000


def parsed(text: str) -> EventFilter:
    return parse_query(text, NOW).filter


# -- parsing --------------------------------------------------------------------------------------


def test_each_qualifier_sets_its_field() -> None:
    f = parsed(
        "type:agent,approval.denied user:ana@example.com task:tsk_9* agent:agt_7 ip:10.0.* "
        "outcome:failure after:2026-01-31 before:2026-02-01T10:30"
    )
    assert f == EventFilter(
        since_ms=parse_timestamp("2026-01-31T00:00:00Z"),
        until_ms=parse_timestamp("2026-02-01T10:30:00Z"),
        user_email="ana@example.com",
        types=frozenset({"agent", "approval.denied"}),
        task_id="tsk_9*",
        agent_id="agt_7",
        ip="10.0.*",
        outcome="failure",
    )


def test_a_user_without_at_is_an_id_and_a_prefix_matches_emails_and_ids() -> None:
    assert parsed("user:usr_12") == EventFilter(user_id="usr_12")
    assert parsed("user:ana*") == EventFilter(user_email="ana*")


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-31T14:05",
        '"2026-01-31 14:05 UTC"',
        '"2026-01-31 14:05"',
        "2026-01-31T14:05Z",
        "2026-01-31T14:05:00.000Z",
        "2026-01-31T15:05:00+01:00",
    ],
)
def test_times_are_read_as_the_sidebar_shows_them_in_utc(value: str) -> None:
    assert parsed(f"after:{value}").since_ms == parse_timestamp("2026-01-31T14:05:00Z")


def test_a_relative_after_counts_back_from_now_and_stays_relative() -> None:
    q = parse_query("after:-24h", NOW)
    assert q.filter.since_ms == NOW - 24 * HOUR
    assert q.last_ms == 24 * HOUR
    assert format_query(q.filter, q.last_ms) == "after:-24h"
    assert parse_query("after:-90d", NOW).last_ms == 90 * 24 * HOUR
    assert [relative_text(n * HOUR) for n in (1, 24, 7 * 24)] == ["-1h", "-24h", "-7d"]


def test_words_and_phrases_are_the_search_text() -> None:
    assert parsed('timeout "rm -rf" type:task').text == 'timeout "rm -rf"'
    assert parsed("https://example.com/a").text == "https://example.com/a"
    assert parsed('"type:agent"').text == '"type:agent"'  # quoted: text, not a qualifier


def test_minus_before_a_word_or_phrase_excludes_it_from_the_search() -> None:
    f = parsed('timeout -retry -"rm -rf" type:agent')
    assert f.text == 'timeout -retry -"rm -rf"'
    assert format_query(f) == 'type:agent timeout -retry -"rm -rf"'
    assert parsed(format_query(f)) == f


def test_minus_excludes_and_or_joins_types_and_outcomes() -> None:
    f = parsed("type:agent -type:agent.action -user:bot@x.com -ip:10.* -outcome:success")
    assert f.types == {"agent"}
    assert f.exclude == {
        ("type", "agent.action"),
        ("user", "bot@x.com"),
        ("ip", "10.*"),
        ("outcome", "success"),
    }
    assert parsed("type:auth OR type:task").types == {"auth", "task"}
    assert parsed('timeout OR "connection refused" -retry gmail').text == (
        'timeout OR "connection refused" -retry gmail'
    )
    assert parsed("outcome:success OR outcome:failure").exclude == {("outcome", "denied")}
    assert parsed("outcome:success,failure,denied") == EventFilter()
    assert parsed("-after:2026-01-01") == EventFilter(
        until_ms=parse_timestamp("2026-01-01T00:00:00Z")
    )


def test_pivot_conditions_print_and_read_back() -> None:
    f = EventFilter(idx_from=120, idx_until=141, event_field=("key_id", "key 1"))
    assert format_query(f) == 'idx:120..140 event.key_id:"key 1"'
    assert parsed(format_query(f)) == f


@pytest.mark.parametrize(
    ("query", "token", "words"),
    [
        ("user:a usr:ana", "usr:ana", "unknown qualifier"),
        ("type:agnt", "agnt", "no event type"),
        ("type:agent,,task", ",", "needs a value"),
        ("outcome:maybe", "maybe", "outcome: is one of"),
        ('task:"tsk 1', '"tsk 1', "not closed"),
        ("user:a OR task:b", "user:a", "OR joins"),
        ("type:agent OR", "OR", "each side"),
        ("OR type:agent", "OR", "each side"),
        ("-timeout", "-timeout", "only narrows a search"),
        ('type:agent -"rm -rf"', '-"rm -rf"', "only narrows a search"),
        ("timeout OR user:a", "user:a", "OR joins"),
        ("-timeout OR error", "-timeout", "exclusion"),
        ("user:a user:b", "user:b", "given twice"),
        ("type:auth type:task", "type:task", "type:a,b"),
        ("after:yesterday", "yesterday", "UTC date"),
        ("after:2026-02-01 before:2026-01-01", "before:2026-01-01", "before before:"),
        ("x - y", "-", "right before"),
        ("user:", "user:", "needs a value"),
        ("-idx:1..2", "-idx:1..2", "cannot be excluded"),
        ("-user:*", "-user:*", "bare *"),
    ],
)
def test_errors_name_the_bad_token_and_where_it_is(query: str, token: str, words: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query(query, NOW)
    error = caught.value
    assert error.token == token
    assert query[error.position : error.position + len(token)] == token
    assert words in str(error)
    assert f"at character {error.position + 1}" in str(error)


def test_completion_finds_the_word_under_the_cursor() -> None:
    assert token_at("us", 2) == (0, None, "us")
    assert token_at("x -user:an", 10) == (8, "user", "an")
    assert token_at("type:agent,appr", 15) == (11, "type", "appr")
    assert token_at('task:"tsk', 9) == (6, "task", "tsk")


# -- round trip -----------------------------------------------------------------------------------

_ids = st.from_regex(r"[a-z]{1,3}_[A-Za-z0-9]{1,6}", fullmatch=True)
_prefixes = st.builds(lambda s: s + "*", _ids)
_id_values = st.one_of(_ids, _prefixes)
_emails = st.one_of(
    st.from_regex(r"[a-z]{1,6}(\.[a-z]{1,4})?@[a-z]{1,6}\.(com|org)", fullmatch=True), _prefixes
)
_ips = st.from_regex(r"10\.\d{1,3}\.\d{1,3}\.\d{1,3}\*?", fullmatch=True)
_types = st.frozensets(st.sampled_from(sorted(CATEGORIES) + sorted(EVENT_TYPES)), max_size=3)
_words = st.from_regex(r"[a-z0-9][a-z0-9.@/_-]{0,8}", fullmatch=True)
_phrases = st.builds(lambda a, b: f'"{a} {b}"', _words, _words)
_text = st.tuples(
    st.lists(st.one_of(_words, _phrases), max_size=3, unique=True),
    st.lists(st.sampled_from([" ", " OR "]), min_size=2, max_size=2),
).map(
    lambda drawn: (
        "".join(term + sep for term, sep in zip(drawn[0], drawn[1], strict=False)).rstrip(" OR")
        or None
    )
)
_times = st.integers(
    parse_timestamp("2020-01-01T00:00:00Z"), parse_timestamp("2030-01-01T00:00:00Z")
)
_exclude = st.frozensets(
    st.one_of(
        st.tuples(st.just("type"), st.sampled_from(sorted(CATEGORIES) + sorted(EVENT_TYPES))),
        st.tuples(st.just("outcome"), st.sampled_from(OUTCOMES)),
        st.tuples(st.sampled_from(["task", "agent"]), _id_values),
        st.tuples(st.just("user"), st.one_of(_emails, _ids)),
        st.tuples(st.just("ip"), _ips),
    ),
    max_size=3,
)


@st.composite
def filters(draw: st.DrawFn) -> EventFilter:
    since = draw(st.none() | _times)
    until = draw(st.none() | _times)
    if since is not None and until is not None and since >= until:
        since, until = until - 1, since + 1
    idx = draw(st.none() | st.tuples(st.integers(0, 10**6), st.integers(1, 1000)))
    return EventFilter(
        since_ms=since,
        until_ms=until,
        user_email=draw(st.none() | _emails),
        user_id=draw(st.none() | _ids),
        types=draw(_types),
        task_id=draw(st.none() | _id_values),
        agent_id=draw(st.none() | _id_values),
        ip=draw(st.none() | _ips),
        outcome=draw(st.none() | st.sampled_from(OUTCOMES)),
        idx_from=None if idx is None else idx[0],
        idx_until=None if idx is None else idx[0] + idx[1],
        event_field=draw(st.none() | st.tuples(st.just("key_id"), st.text(min_size=1, max_size=8))),
        text=draw(_text),
        exclude=draw(_exclude),
    )


@settings(max_examples=150, deadline=None)
@given(filters())
def test_printing_a_filter_and_reading_it_back_gives_the_same_filter(f: EventFilter) -> None:
    text = format_query(f)
    assert parse_query(text, NOW).filter == f, text
    assert format_query(parse_query(text, NOW).filter) == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='ab :-*,"OR\\.@typerus', max_size=30))
def test_any_typed_line_parses_or_fails_with_a_query_error(text: str) -> None:
    try:
        q = parse_query(text, NOW)
    except QueryError as error:
        assert 0 <= error.position <= len(text)
        return
    printed = format_query(q.filter, q.last_ms)
    assert parse_query(printed, NOW).filter == q.filter, printed


# -- exclusions in the mirror ---------------------------------------------------------------------


def test_exclusions_match_a_reference_in_every_sort(demo: Path, reader: MirrorReader) -> None:
    events = bodies(demo)
    some = next(e for e in events.values() if e.get("user_id") and e.get("task_id"))
    user, task = some["user_id"], some["task_id"]
    cases: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
        (
            "type:task -type:task.started -outcome:success",
            lambda e: (
                e["type"].startswith("task.")
                and e["type"] != "task.started"
                and verdict_of(e) != "success"
            ),
        ),
        (f"-user:{user}", lambda e: e.get("user_id") != user),
        (
            f"-task:{task[:-2]}* type:agent",
            lambda e: (
                e["type"] == "agent.action" and not (e.get("task_id") or "").startswith(task[:-2])
            ),
        ),
        (
            "outcome:failure OR outcome:denied -type:auth",
            lambda e: verdict_of(e) != "success" and not e["type"].startswith("auth."),
        ),
    ]
    for query, keep in cases:
        f = parsed(query)
        expected = {i for i, e in events.items() if keep(e)}
        assert expected and len(expected) < len(events), query
        assert reader.count(f) == len(expected), query
        for sort in SORT_COLUMNS:
            for descending in (False, True):
                rows = reader.page(f, sort, descending, None, 10_000)
                assert {row.idx for row in rows} == expected, (query, sort, descending)
        buckets = reader.bucket_counts(f, 0, 2**41, 1)
        assert buckets.total == (len(expected),), query


def test_an_excluded_field_keeps_events_without_it(demo: Path, reader: MirrorReader) -> None:
    events = bodies(demo)
    without_user = {i for i, e in events.items() if not e.get("user_id")}
    assert without_user
    f = EventFilter(exclude=frozenset({("user", "usr_*")}))
    kept = {row.idx for row in reader.page(f, "ts", False, None, 10_000)}
    assert without_user <= kept


def test_exclusions_combine_with_a_search(demo: Path, reader: MirrorReader) -> None:
    with_text = parsed("agent")
    without = parsed("agent -type:agent")
    found = {r.idx for r in reader.page(with_text, "ts", False, None, 10_000)}
    kept = {r.idx for r in reader.page(without, "ts", False, None, 10_000)}
    events = bodies(demo)
    assert kept == {i for i in found if not events[i]["type"].startswith("agent.")}
    assert reader.count(without) == len(kept)
