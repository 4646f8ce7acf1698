"""The orjson fast path is byte-identical to strict RFC 8785 wherever it is taken.

Two properties carry the proof: (1) whenever the cheap check ``_fast_path_safe`` accepts a value,
orjson's sorted output equals :func:`canonicalize`; (2) :func:`canonicalize_event` equals
:func:`canonicalize` on everything, including values the fast path must refuse (floats,
non-BMP member names, integers out of range, lone surrogates).
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditlens.core.canonical import (
    MAX_SAFE_INTEGER,
    _fast_path_safe,
    canonicalize,
    canonicalize_event,
)
from auditlens.core.errors import FormatError

FAST = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER

# Characters where JSON serializers are known to differ: controls, quote, backslash, slash,
# DEL, JavaScript line separators, BOM, the E000–FFFF block (UTF-16 vs code point order) and
# characters above U+FFFF (surrogate pairs in UTF-16).
TRICKY = [chr(c) for c in range(0x20)] + list('"\\/\x7f\u2028\u2029\ufeff\ue000\uffff\U00010000')
TRICKY += ["\U0001f600", "\U0010ffff", "é", "€", "\u0080", "\u00ff", "<", "&"]
chars = st.one_of(st.sampled_from(TRICKY), st.characters(exclude_categories=["Cs"]))
texts = st.text(chars, max_size=12)
bmp_keys = st.text(
    st.one_of(
        st.sampled_from([c for c in TRICKY if c < "\U00010000"]),
        st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"]),
    ),
    max_size=8,
)
any_keys = texts
safe_ints = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)


def json_values(
    keys: st.SearchStrategy[str], scalars: st.SearchStrategy[object]
) -> st.SearchStrategy[object]:
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=6)
        ),
        max_leaves=30,
    )


plain_scalars = st.one_of(st.none(), st.booleans(), safe_ints, texts)
events = st.dictionaries(bmp_keys, json_values(bmp_keys, plain_scalars), max_size=8)


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow])
@given(events)
def test_orjson_equals_strict_whenever_the_check_accepts(event: dict[str, object]) -> None:
    assert _fast_path_safe(event)  # generated events are all fast-path material
    assert orjson.dumps(event, option=FAST) == canonicalize(event)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        any_keys,
        json_values(
            any_keys, st.one_of(plain_scalars, st.floats(allow_nan=False, allow_infinity=False))
        ),
        max_size=8,
    )
)
def test_canonicalize_event_equals_strict_on_any_json(event: dict[str, object]) -> None:
    assert canonicalize_event(event) == canonicalize(event)


@settings(max_examples=100)
@given(
    st.dictionaries(
        bmp_keys,
        json_values(
            bmp_keys, st.one_of(st.integers(), st.text(max_size=3).map(lambda s: s + "\ud800"))
        ),
        min_size=1,
        max_size=4,
    )
)
def test_fast_path_raises_exactly_where_strict_raises(event: dict[str, object]) -> None:
    try:
        expected: bytes | None = canonicalize(event)
    except FormatError:
        expected = None
    if expected is None:
        with pytest.raises(FormatError):
            canonicalize_event(event)
    else:
        assert canonicalize_event(event) == expected


def realistic_event() -> dict[str, object]:
    return {
        "id": "log_01JD3Q8Z6X4T5W7Y9A1B2C3D4E",
        "timestamp": "2026-11-26T07:13:13.123Z",
        "type": "agent.action",
        "user_id": "usr_7f3a9c2e41b8",
        "task_id": None,
        "agent_id": "agt_research_03",
        "event": {
            "outcome": "success",
            "tool": "browser.navigate",
            "params": {"url": "https://example.com/a?b=c", "timeout_ms": 30000, "flags": [1, True]},
            "request": {"ip": "203.0.113.42", "user_agent": "runtime/2.4"},
        },
    }


def test_realistic_event_takes_the_fast_path() -> None:
    assert _fast_path_safe(realistic_event())


@pytest.mark.parametrize(
    "change",
    [
        lambda e: e["event"].update(cost=1.5),
        lambda e: e["event"]["params"].update({"\U0001f600": 1}),
        lambda e: e["event"]["params"]["flags"].append(0.0),
        lambda e: e["event"].update(when=("tuple",)),
        lambda e: e.update({1: "non-string key"}),
    ],
    ids=["float", "non-bmp-key", "float-in-list", "tuple", "int-key"],
)
def test_fast_path_refuses_what_it_cannot_vouch_for(change: object) -> None:
    event = realistic_event()
    change(event)  # type: ignore[operator]
    assert not _fast_path_safe(event)


def test_non_bmp_keys_fall_back_to_utf16_order() -> None:
    event = {"\ue000": 1, "\U00010000": 2}
    assert canonicalize_event(event) == '{"\U00010000":2,"\ue000":1}'.encode()
    assert orjson.dumps(event, option=FAST) != canonicalize_event(event)  # why the check exists


def test_floats_fall_back_to_ecmascript_numbers() -> None:
    assert canonicalize_event({"a": 1e21, "b": 1.0}) == b'{"a":1e+21,"b":1}'


def test_nan_is_rejected_by_the_fast_entry_point_too() -> None:
    with pytest.raises(FormatError, match="not allowed"):
        canonicalize_event({"a": float("nan")})  # orjson alone would write null


def test_orjson_escaping_matches_jcs_for_every_char_below_0x80_and_separators() -> None:
    text = "".join(chr(c) for c in range(0x80)) + "\u2028\u2029\ufeff"
    assert orjson.dumps({"s": text}, option=FAST) == canonicalize({"s": text})
