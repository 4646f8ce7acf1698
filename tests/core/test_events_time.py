"""Timestamps (RFC 3339, UTC, milliseconds) and time-ordered event ids (``log_`` + ULID)."""

from __future__ import annotations

import random
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from auditlens.core.errors import FormatError
from auditlens.core.event_ids import EventIdGenerator, event_id_time, is_event_id
from auditlens.core.timestamps import format_timestamp, parse_timestamp

MS_2026 = 1_795_677_193_123  # 2026-11-26T07:13:13.123Z


def test_format_timestamp_is_utc_with_three_digit_milliseconds() -> None:
    assert format_timestamp(MS_2026) == "2026-11-26T07:13:13.123Z"
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert format_timestamp(5) == "1970-01-01T00:00:00.005Z"


def test_format_timestamp_before_the_epoch() -> None:
    assert format_timestamp(-1) == "1969-12-31T23:59:59.999Z"


@pytest.mark.parametrize("value", [True, 1.5, "0"])
def test_format_timestamp_needs_integer_milliseconds(value: object) -> None:
    with pytest.raises(FormatError):
        format_timestamp(value)  # type: ignore[arg-type]


def test_format_timestamp_outside_four_digit_years() -> None:
    with pytest.raises(FormatError, match="years 1-9999"):
        format_timestamp(10**17)


@given(st.integers(-62_135_596_800_000, 253_402_300_799_999))
def test_parse_inverts_format(ms: int) -> None:
    assert parse_timestamp(format_timestamp(ms)) == ms


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26T07:13:13.123Z",
        "2026-11-26T09:13:13.123+02:00",
        "2026-11-26T02:13:13.123-05:00",
        "2026-11-26t07:13:13.123z",
        "2026-11-26 07:13:13.123Z",
        "2026-11-26T07:13:13.123999Z",
    ],
)
def test_parse_timestamp_accepts_rfc3339_with_any_offset(text: str) -> None:
    assert parse_timestamp(text) == MS_2026


def test_parse_timestamp_without_fraction() -> None:
    assert parse_timestamp("2026-11-26T07:13:13Z") == MS_2026 - 123


def test_parse_timestamp_truncates_sub_milliseconds_toward_the_past() -> None:
    assert parse_timestamp("1969-12-31T23:59:59.9999Z") == -1


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-26",
        "2026-11-26T07:13:13",  # no offset: ambiguous
        "2026-02-30T00:00:00Z",
        "2026-11-26T24:00:00Z",
        "2026-11-26T23:59:60Z",
        "2026-11-26T07:13:13+25:00",
        "2026-11-26T07:13:13.Z",
        "２０２６-11-26T07:13:13Z",
        "",
    ],
)
def test_parse_timestamp_rejects_what_is_not_an_rfc3339_instant(text: str) -> None:
    with pytest.raises(FormatError):
        parse_timestamp(text)


def test_parse_timestamp_error_shows_the_expected_form() -> None:
    with pytest.raises(FormatError, match=r"2026-11-26T07:13:13\.123Z.*got \"yesterday\""):
        parse_timestamp("yesterday")


# ids


def test_ids_are_log_prefixed_ulids_carrying_their_time() -> None:
    event_id = EventIdGenerator().new(MS_2026)
    assert is_event_id(event_id) and len(event_id) == 30
    assert event_id_time(event_id) == MS_2026


def test_id_time_prefix_is_the_ulid_spec_encoding() -> None:
    # ULID spec example: 1469918176385 ms encodes as 01ARYZ6S41.
    assert EventIdGenerator().new(1_469_918_176_385)[4:14] == "01ARYZ6S41"
    assert event_id_time("log_01ARYZ6S41TSV4RRFFQ69G5FAV") == 1_469_918_176_385


def test_ids_within_one_millisecond_are_monotonic() -> None:
    gen = EventIdGenerator()
    ids = [gen.new(MS_2026) for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == 1000


def test_ids_sort_by_time() -> None:
    gen = EventIdGenerator()
    ids = [gen.new(MS_2026 + step) for step in (0, 1, 1, 7, 1000)]
    assert ids == sorted(ids)


def test_a_seeded_generator_is_reproducible() -> None:
    first = [EventIdGenerator(random.Random(42)).new(MS_2026 + i) for i in range(3)]
    second = [EventIdGenerator(random.Random(42)).new(MS_2026 + i) for i in range(3)]
    assert first == second
    assert first != [EventIdGenerator(random.Random(43)).new(MS_2026 + i) for i in range(3)]


def test_unseeded_generators_differ() -> None:
    assert EventIdGenerator().new(MS_2026) != EventIdGenerator().new(MS_2026)


def test_generator_is_thread_safe() -> None:
    gen, ids = EventIdGenerator(), list[str]()

    def work() -> None:
        ids.extend(gen.new(MS_2026) for _ in range(500))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 2000


def test_exhausting_a_millisecond_overflows_loudly() -> None:
    class MaxRandom(random.Random):
        def getrandbits(self, k: int) -> int:
            return int(2**k - 1)

    gen = EventIdGenerator(MaxRandom())
    gen.new(MS_2026)
    with pytest.raises(OverflowError):
        gen.new(MS_2026)


@pytest.mark.parametrize("value", [-1, 2**48, True, 1.0])
def test_generator_rejects_times_a_ulid_cannot_hold(value: object) -> None:
    with pytest.raises(FormatError):
        EventIdGenerator().new(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", ["log_01ARYZ6S41TSV4RRFFQ69G5FA", "01ARYZ6S41TSV4RRFFQ69G5FAVXX", None]
)
def test_event_id_time_rejects_malformed_ids(value: object) -> None:
    with pytest.raises(FormatError, match="26-character ULID"):
        event_id_time(value)  # type: ignore[arg-type]
