"""The fast paths of auditlens.core give exactly what the algorithms they replaced gave.

Each test keeps the original algorithm here, verbatim, as the reference, and checks the module
against it on generated input (hypothesis) biased towards the cases a shortcut could get wrong:
control and whitespace characters, lone surrogates, characters outside the BMP, floats, huge
integers, subclasses, deep nesting and duplicate member names.
"""

from __future__ import annotations

import contextlib
import json
import random
import string
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlens.core import canonical, errors, event_ids, events, summaries, timestamps, validation
from auditlens.core.canonical import canonicalize, canonicalize_event
from auditlens.core.errors import FormatError
from auditlens.core.event_ids import EventIdGenerator
from auditlens.core.events import EVENT_FIELDS, MAX_EVENT_BYTES, SUBMISSION_FIELDS, EventError
from auditlens.core.summaries import summarize
from auditlens.core.validation import validate_event, validate_submission

# ---------------------------------------------------------------------------------------------
# Generators

# Characters a shortcut could mishandle: every whitespace and control kind, non-breaking and
# line/paragraph separators, format characters, a lone surrogate, non-BMP text and emoji.
_TRICKY = (
    " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u200a\u200b\u2028\u2029\u202f"
    "\u205f\u3000\ufeff\x00\x07\x1b\x7f\u00ad\u200e\ue000\ud800\udfff\U0001f600\U000e0001é"
)
_ANY_CHAR = st.characters(exclude_categories=())  # surrogates included
_TEXT = st.text(st.one_of(st.sampled_from(_TRICKY), st.sampled_from("ab .:/-"), _ANY_CHAR))


class _Str(str):
    """A str subclass: the fast paths must not vouch for one."""


class _Int(int):
    """An int subclass: likewise."""


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) - 2, max_value=2**53 + 2),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    _TEXT,
    _TEXT.map(_Str),
    st.integers(-5, 5).map(_Int),
)
_KEYS = st.one_of(_TEXT, st.sampled_from(("a", "b", "\U0001f600", "\ud800", "outcome", "url")))
_JSONISH = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=4),
    ),
    max_leaves=12,
)


def _nested(depth: int) -> object:
    value: object = "leaf"
    for i in range(depth):
        value = {"n": value} if i % 2 else [value]
    return value


# ---------------------------------------------------------------------------------------------
# summarize: _clean's printable fast path


def reference_clean_text(value: str) -> str:
    """The original per-character walk of ``summaries._clean`` for strings."""
    return " ".join("".join(c if c.isprintable() else " " for c in value).split())


@given(_TEXT)
@settings(max_examples=1000)
def test_clean_text_equals_the_per_character_walk(value: str) -> None:
    assert summaries._clean(value) == reference_clean_text(value)
    assert summaries._clean(_Str(value)) == reference_clean_text(value)  # the general branch too


@pytest.mark.parametrize("char", list(_TRICKY))
def test_clean_text_equals_the_walk_for_each_tricky_character(char: str) -> None:
    value = f"  a{char}b {char}{char} c{char}"
    assert summaries._clean(value) == reference_clean_text(value)


@given(
    st.sampled_from(sorted(events.EVENT_TYPES)),
    st.dictionaries(
        st.sampled_from(("tool", "url", "path", "title", "reason", "error", "member_email")),
        _TEXT,
    ),
)
def test_summary_of_text_fields_equals_the_summary_from_cleaned_parts(
    event_type: str, fields: dict[str, str]
) -> None:
    """The summary never holds a control character or doubled space, whatever the input."""
    text = summarize({"type": event_type, "event": {"outcome": "failure", **fields}})
    assert text == reference_clean_text(text)


# ---------------------------------------------------------------------------------------------
# Event ids: table-driven ULID encoding

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def reference_encode_ulid(value: int) -> str:
    """The original 26-digit loop of ``event_ids._encode_ulid``."""
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


class ReferenceIdGenerator:
    """The original ``EventIdGenerator.new`` (same state machine, original encoding)."""

    def __init__(self, rng: random.Random) -> None:
        self._random = rng.getrandbits
        self._last_ms = -1
        self._last_random = 0

    def new(self, timestamp_ms: int) -> str:
        if timestamp_ms == self._last_ms:
            randomness = self._last_random + 1
            if randomness >> 80:
                raise OverflowError("more than 2^80 ids")
        else:
            randomness = self._random(80)
        self._last_ms, self._last_random = timestamp_ms, randomness
        return "log_" + reference_encode_ulid(timestamp_ms << 80 | randomness)


@given(st.integers(min_value=0, max_value=2**48 - 1), st.integers(min_value=0, max_value=2**80 - 1))
@settings(max_examples=500)
def test_ulid_encoding_equals_the_digit_loop(ms: int, randomness: int) -> None:
    assert event_ids._encode_ulid(ms << 80 | randomness) == reference_encode_ulid(
        ms << 80 | randomness
    )


@pytest.mark.parametrize("ms", [0, 1, 1023, 1024, 2**40, 2**48 - 1])
@pytest.mark.parametrize("randomness", [0, 1, 1023, 2**70, 2**80 - 1])
def test_ulid_encoding_equals_the_digit_loop_at_the_edges(ms: int, randomness: int) -> None:
    assert event_ids._encode_ulid(ms << 80 | randomness) == reference_encode_ulid(
        ms << 80 | randomness
    )


@given(
    st.integers(min_value=0, max_value=2**32),
    st.lists(st.tuples(st.integers(0, 2**48 - 1), st.integers(1, 5)), min_size=1, max_size=8),
)
def test_generated_ids_equal_the_original_generator(seed: int, runs: list[tuple[int, int]]) -> None:
    """Same seed, same timestamps (runs within one ms included): the very same ids."""
    fast, reference = (
        EventIdGenerator(random.Random(seed)),
        ReferenceIdGenerator(random.Random(seed)),
    )
    for ms, count in runs:
        for _ in range(count):
            assert fast.new(ms) == reference.new(ms)


def test_the_last_id_of_a_millisecond_still_overflows() -> None:
    class Maximal(random.Random):
        def getrandbits(self, k: int) -> int:
            return 2**k - 1

    ids = EventIdGenerator(Maximal())
    assert ids.new(5).endswith("Z" * 16)
    with pytest.raises(OverflowError):
        ids.new(5)


# ---------------------------------------------------------------------------------------------
# Validation: the plain-JSON walk and the orjson size


def reference_check_body(body: object, event_type: str) -> None:
    """The original ``_check_body``: every non-null field goes through _check_common_field."""
    if not isinstance(body, Mapping):
        raise EventError("event", f"must be an object of event fields, got {errors.got(body)}")
    if "outcome" not in body:
        raise EventError("event.outcome", 'is required: "success" or "failure"')
    if body["outcome"] not in events.OUTCOMES:
        raise EventError(
            "event.outcome", f'must be "success" or "failure", got {errors.got(body["outcome"])}'
        )
    for name in validation._REQUIRED.get(event_type, ()):
        value = body.get(name)
        if not isinstance(value, str) or not value.strip():
            what = "is required" if value is None else f"got {errors.got(value)}"
            raise EventError(
                f"event.{name}", f"must be a non-empty string on {event_type} ({what})"
            )
    for name, value in body.items():
        if value is not None:
            validation._check_common_field(name, value)


def reference_validate(obj: object, *, submission: bool) -> None:
    """The original ``_validate``: the full _check_json walk and canonicalize_event's size."""
    if submission:
        validation._check_top_level(obj, SUBMISSION_FIELDS, ("id", "timestamp"))
    else:
        validation._check_top_level(obj, EVENT_FIELDS, ())
    assert isinstance(obj, Mapping)
    validation._check_json(obj, "")
    if not submission:
        if not event_ids.is_event_id(obj["id"]):
            raise EventError(
                "id", f'must be "log_" + a 26-character ULID, got {errors.got(obj["id"])}'
            )
        ts = obj["timestamp"]
        if not isinstance(ts, str) or not timestamps.is_canonical_timestamp(ts):
            raise EventError("timestamp", f"must be RFC 3339 UTC, got {errors.got(ts)}")
    event_type = validation._check_type(obj["type"], False)
    for name in ("user_id", "task_id", "agent_id"):
        validation._check_reference(obj, name)
    reference_check_body(obj["event"], event_type)
    size = len(canonicalize_event(obj))
    if size > MAX_EVENT_BYTES:
        raise EventError(
            "", f"is {size:,} bytes in canonical form; the limit is {MAX_EVENT_BYTES:,}"
        )


def _outcome(check: Callable[[], None]) -> tuple[str, str, str] | None:
    try:
        check()
    except EventError as exc:
        return type(exc).__name__, exc.field, str(exc)
    return None


_BODY_KEYS = st.sampled_from(
    ("tool", "url", "params", "duration_ms", "count", "error", "request", "value", "direction")
)
_BODIES = st.builds(
    lambda outcome, common, extra: {"outcome": outcome, **common, **extra},
    st.sampled_from(("success", "failure", "maybe")),
    st.dictionaries(_BODY_KEYS, _JSONISH, max_size=4),
    st.dictionaries(_KEYS, _JSONISH, max_size=3),
)
_SUBMISSIONS = st.builds(
    lambda t, u, task, agent, body: {
        "type": t,
        "user_id": u,
        "task_id": task,
        "agent_id": agent,
        "event": body,
    },
    st.sampled_from(("agent.action", "task.created", "approval.denied", "nope")),
    st.one_of(st.none(), st.just("usr_1"), _SCALARS),
    st.one_of(st.none(), st.just("tsk_1")),
    st.one_of(st.none(), st.just("agt_1")),
    _BODIES,
)


_PLAIN_JSON = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53) + 1, 2**53 - 1),
        st.text(st.one_of(st.sampled_from(_TRICKY), st.characters())),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=12,
)
_MOSTLY_VALID = st.builds(
    lambda outcome, extra: {
        "type": "task.created",
        "user_id": "usr_1",
        "task_id": None,
        "agent_id": None,
        "event": {**extra, "outcome": outcome},
    },
    st.sampled_from(("success", "failure")),
    st.dictionaries(
        st.one_of(_KEYS, st.sampled_from(("\U0001f600", "\U0001f600a", "\uffff"))),
        _PLAIN_JSON,
        max_size=5,
    ),
)


@given(_MOSTLY_VALID)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_validate_submission_of_plain_json_equals_the_original_walk(
    submission: dict[str, Any],
) -> None:
    """Mostly valid input, so the cheap size (orjson's length) is compared too."""
    assert _outcome(lambda: validate_submission(submission)) == _outcome(
        lambda: reference_validate(submission, submission=True)
    )


@given(_SUBMISSIONS)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_validate_submission_equals_the_original_walk(submission: dict[str, Any]) -> None:
    assert _outcome(lambda: validate_submission(submission)) == _outcome(
        lambda: reference_validate(submission, submission=True)
    )


@given(_SUBMISSIONS)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_validate_event_equals_the_original_walk(submission: dict[str, Any]) -> None:
    event = {"id": "log_01JDZ8Q7X6K9N2M4P5R7S8T9VW", "timestamp": "2026-11-26T07:13:13.123Z"}
    event.update(submission)
    assert _outcome(lambda: validate_event(event)) == _outcome(
        lambda: reference_validate(event, submission=False)
    )


@pytest.mark.parametrize("depth", [30, 31, 32, 33, 40])
def test_nesting_limit_is_unchanged(depth: int) -> None:
    submission = {
        "type": "task.created",
        "user_id": None,
        "task_id": None,
        "agent_id": None,
        "event": {"outcome": "success", "x": _nested(depth)},
    }
    assert _outcome(lambda: validate_submission(submission)) == _outcome(
        lambda: reference_validate(submission, submission=True)
    )


def test_size_limit_is_unchanged_at_the_boundary() -> None:
    base = {"type": "task.created", "user_id": None, "task_id": None, "agent_id": None}
    empty = len(canonicalize({**base, "event": {"outcome": "success", "title": ""}}))
    for extra in (-1, 0, 1):
        title = "é" * ((MAX_EVENT_BYTES - empty + extra) // 2) + "x" * (
            (MAX_EVENT_BYTES - empty + extra) % 2
        )
        submission = {**base, "event": {"outcome": "success", "title": title, "\U0001f600": 1}}
        assert _outcome(lambda s=submission: validate_submission(s)) == _outcome(  # type: ignore[misc]
            lambda s=submission: reference_validate(s, submission=True)  # type: ignore[misc]
        )


@given(st.dictionaries(_KEYS, _JSONISH, max_size=5))
@settings(max_examples=500)
def test_a_plain_value_passes_the_full_walk_and_has_orjsons_length(value: dict[str, Any]) -> None:
    """What the fast walk vouches for, the full walk accepts; orjson's length is the canonical."""
    if validation._plain_dict(value, 0):
        validation._check_json(value, "")  # must not raise
        assert len(orjson.dumps(value)) == len(canonicalize(value))


# ---------------------------------------------------------------------------------------------
# canonical.loads: duplicates found without a second parse when the bytes re-serialize


def reference_loads(data: bytes | str) -> object:
    """The original ``canonical.loads``."""
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        value = orjson.loads(raw)
    except UnicodeEncodeError:
        raise FormatError("invalid JSON: the text contains a lone surrogate") from None
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc}") from None
    try:
        if isinstance(value, dict) and canonicalize_event(value) == raw:
            return value
    except FormatError:
        pass
    if b"{" in raw:
        json.loads(
            raw,
            object_pairs_hook=canonical._reject_duplicates,
            parse_constant=canonical._reject_constant,
        )
    return value


def _loads_outcome(data: bytes) -> tuple[str, object]:
    try:
        value = canonical.loads(data)
    except FormatError as exc:
        return "error", str(exc)
    return "value", repr(value)  # tells 1 from 1.0 from True, and -0.0 from 0.0


def _reference_outcome(data: bytes) -> tuple[str, object]:
    try:
        value = reference_loads(data)
    except FormatError as exc:
        return "error", str(exc)
    return "value", repr(value)


_JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(st.characters(exclude_categories=("Cs",))),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(("a", "b", "c", "é", "\U0001f600")), inner, max_size=4),
    ),
    max_leaves=10,
)


def _spellings(value: object) -> list[bytes]:
    """Compact (orjson's and the stdlib's), spaced, indented and canonical spellings."""
    out = [
        json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode(),
        json.dumps(value).encode(),
        json.dumps(value, indent=1, sort_keys=True).encode(),
    ]
    for write in (orjson.dumps, canonicalize):
        # An integer beyond 64 bits / 2^53 has no such spelling; the stdlib's still cover it.
        with contextlib.suppress(TypeError, FormatError):
            out.append(write(value))
    return out


@given(_JSON_VALUES)
@settings(max_examples=300)
def test_loads_equals_the_original_on_every_spelling(value: object) -> None:
    for data in _spellings(value):
        assert _loads_outcome(data) == _reference_outcome(data)


@given(_JSON_VALUES, st.sampled_from(("a", "b", "é", "\U0001f600")), _JSON_VALUES)
@settings(max_examples=200)
def test_loads_rejects_a_duplicate_in_any_compact_document(
    value: object, name: str, extra: object
) -> None:
    """A duplicate member spliced into a compact document is refused exactly as before."""

    def compact(v: object) -> bytes:
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()

    first, second = compact(name) + b":" + compact(extra), compact(name) + b":" + compact(value)
    data = b'{"events":[' + compact(value) + b",{" + first + b"," + second + b"}]}"
    outcome = _loads_outcome(data)
    assert outcome == _reference_outcome(data)
    assert outcome[0] == "error"
    assert "duplicate member name" in str(outcome[1])


@pytest.mark.parametrize(
    "data",
    [
        b'{"a":1,"a":1}',
        b'{"a":1,"a":2}',
        b'[{"x":{"a":1,"a":1}}]',
        b'{"a":{"b":1},"a":{"b":1}}',
        b'{"a":1, "a":1}',
        b'{"a":1e400}',
        b'{"a":NaN}',
        b"\xef\xbb\xbf{}",
        b'{"a":"\\ud800"}',
        b'{"a":"\\u0041"}',
        b'{"a":18446744073709551616}',
        b"[" * canonical.MAX_DEPTH + b"]" * canonical.MAX_DEPTH,
        b'{"a":' * canonical.MAX_DEPTH + b"1" + b"}" * canonical.MAX_DEPTH,
        b"",
        b"{}",
        b"[]",
        b"1",
    ],
)
def test_loads_equals_the_original_on_known_cases(data: bytes) -> None:
    assert _loads_outcome(data) == _reference_outcome(data)


@pytest.mark.parametrize("depth", [canonical.MAX_DEPTH + 1, 300])
def test_loads_refuses_what_the_original_accepted_only_beyond_the_depth_limit(depth: int) -> None:
    # The one intended difference: a depth limit, checked before any recursive walk.
    for data in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth):
        assert _reference_outcome(data)[0] == "value"
        with pytest.raises(canonical.NestingError):
            canonical.loads(data)


def test_loads_of_a_compact_batch_equals_the_original() -> None:
    rng = random.Random(4)
    batch = {
        "events": [
            {"".join(rng.choices(string.ascii_lowercase, k=3)): rng.randrange(10) for _ in range(5)}
            for _ in range(200)
        ]
    }
    data = orjson.dumps(batch)
    assert _loads_outcome(data) == _reference_outcome(data) == ("value", repr(batch))
