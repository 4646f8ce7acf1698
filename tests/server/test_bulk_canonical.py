"""The bulk path's fast paths (spliced canonical bytes, day-cached times) give core's bytes."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditlens.core.canonical import canonicalize
from auditlens.core.errors import FormatError
from auditlens.core.events import EventError
from auditlens.core.timestamps import format_timestamp
from auditlens.server.bulk_canonical import canonical_runs
from auditlens.server.bulk_prepare import DayStamps
from auditlens.server.demo_data import generate

ID = "log_01KJFQ7V0Z8XW3M1N2P4R5S6T7"
STAMP = "2026-03-01T12:00:00.000Z"

# Names and strings that reach the orjson fast path's edges: quotes, backslashes, controls,
# U+2028, characters outside the BMP (which sort differently in UTF-16), the splice's own
# member names.
names = st.one_of(
    st.sampled_from(
        ["task_id", "type", "id", "timestamp", "user_id", "event", "", "é", "\U0001f600"]
    ),
    st.text(max_size=6),
)
texts = st.one_of(
    st.sampled_from(['","task_id":', ',"type":"x"', "\\", "\u2028", "\x00", "\U0001f600"]),
    st.text(max_size=12),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),  # never on the fast path
    texts,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)),
    max_leaves=12,
)
top = st.one_of(st.none(), texts)


def spliced(sub: dict[str, Any]) -> bytes:
    head, middle, tail = canonical_runs(sub)
    return head + ID.encode() + middle + STAMP.encode() + tail


def reference(sub: dict[str, Any]) -> bytes:
    return canonicalize({"id": ID, "timestamp": STAMP, **sub})


@settings(max_examples=400, deadline=None)
@given(
    event=st.dictionaries(names, values, max_size=6),
    kind=texts,
    user=top,
    task=top,
    agent=top,
)
def test_the_splice_equals_the_reference(
    event: dict[str, Any], kind: str, user: str | None, task: str | None, agent: str | None
) -> None:
    sub = {"type": kind, "user_id": user, "task_id": task, "agent_id": agent, "event": event}
    try:
        expected = reference(sub)
    except FormatError:
        with pytest.raises(FormatError):
            canonical_runs(sub)
        return
    assert spliced(sub) == expected


def test_every_demo_event_splices_to_the_reference() -> None:
    stream = generate(seed=5, events=3_000, now_ms=1_772_366_400_000).events()
    for _, sub in itertools.islice(stream, 3_000):
        assert spliced(sub) == reference(sub)


def test_a_top_level_member_that_is_not_a_string_is_refused() -> None:
    sub: dict[str, Any] = {"type": "auth.login", "user_id": None, "task_id": None}
    sub |= {"agent_id": None, "event": {"outcome": "success"}}
    with pytest.raises(EventError, match="task_id"):
        canonical_runs({**sub, "task_id": {"task_id": "x"}})


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999), max_size=8)
)
def test_day_stamps_format_as_core_does(times: list[int]) -> None:
    stamps = DayStamps()
    for ts in [*times, *sorted(times)]:  # the cached day changes and stays
        assert stamps(ts) == format_timestamp(ts).encode()
    with pytest.raises(FormatError):
        stamps(True)  # type: ignore[arg-type]
