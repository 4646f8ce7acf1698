"""RFC 8785 canonical JSON: the published vectors, number and string rules, key order, errors."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from auditlens.core.canonical import (
    MAX_DEPTH,
    NestingError,
    canonicalize,
    canonicalize_event,
    format_number,
    loads,
    loads_canonical,
)
from auditlens.core.errors import FormatError

JCS = Path(__file__).resolve().parents[1] / "data" / "jcs"
VECTORS = sorted(p.stem for p in (JCS / "input").glob("*.json"))


def test_every_published_vector_is_present() -> None:
    assert VECTORS == ["arrays", "french", "structures", "unicode", "values", "weird"]


@pytest.mark.parametrize("name", VECTORS)
def test_published_vector_output(name: str) -> None:
    value = loads((JCS / "input" / f"{name}.json").read_bytes())
    assert canonicalize(value) == (JCS / "output" / f"{name}.json").read_bytes()


@pytest.mark.parametrize("name", VECTORS)
def test_published_vector_outhex(name: str) -> None:
    value = loads((JCS / "input" / f"{name}.json").read_bytes())
    expected = bytes.fromhex("".join((JCS / "outhex" / f"{name}.txt").read_text().split()))
    assert canonicalize(value) == expected


# RFC 8785 Appendix B: IEEE-754 bit patterns and their ECMAScript serialization.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B)
def test_appendix_b_number(bits: str, expected: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    assert canonicalize(value) == expected.encode()


@pytest.mark.parametrize("bits", ["7fffffffffffffff", "7ff0000000000000", "fff0000000000000"])
def test_appendix_b_nan_and_infinity_are_rejected(bits: str) -> None:
    value = struct.unpack(">d", bytes.fromhex(bits))[0]
    with pytest.raises(FormatError, match="not allowed"):
        canonicalize(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (-1.5e-9, "-1.5e-9"),
        (100.0, "100"),
        (4.50, "4.5"),
        (0.1, "0.1"),
        (123e-20, "1.23e-18"),
    ],
)
def test_double_layout_follows_ecmascript(value: float, expected: str) -> None:
    assert format_number(value) == expected


def test_integers_print_exactly_up_to_the_safe_limit() -> None:
    assert (
        canonicalize([2**53 - 1, -(2**53 - 1), 0, -7])
        == b"[9007199254740991,-9007199254740991,0,-7]"
    )


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**21])
def test_integers_beyond_the_safe_limit_are_rejected_not_rounded(value: int) -> None:
    with pytest.raises(FormatError, match=r"outside ±\(2\^53−1\)"):
        canonicalize({"n": value})


def test_booleans_are_literals_not_numbers() -> None:
    assert canonicalize([True, False, None]) == b"[true,false,null]"


def test_string_short_escapes_and_lowercase_hex_controls() -> None:
    text = '"\\\b\f\n\r\t\x00\x1f\x0b'
    assert canonicalize(text) == b'"\\"\\\\\\b\\f\\n\\r\\t\\u0000\\u001f\\u000b"'


@pytest.mark.parametrize(
    "char", ["/", "\x7f", "\u2028", "\u2029", "<", "é", "\U0001f600", "\ufeff"]
)
def test_everything_else_is_literal_utf8(char: str) -> None:
    assert canonicalize(char) == b'"' + char.encode("utf-8") + b'"'


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\ud83d\ude02"])
def test_lone_surrogates_are_rejected(text: str) -> None:
    with pytest.raises(FormatError, match="surrogate"):
        canonicalize({"s": [text]})


def test_keys_sort_by_utf16_code_units_not_code_points() -> None:
    # U+10000 is D800 DC00 in UTF-16, which sorts before U+E000 although its code point is larger.
    value = {"\ue000": 1, "\U00010000": 2, "a": 3}
    assert canonicalize(value) == '{"a":3,"\U00010000":2,"\ue000":1}'.encode()


def test_keys_sort_by_code_units_within_the_bmp() -> None:
    assert (
        canonicalize({"b": 1, "a": 2, "é": 3, "B": 4, "": 5})
        == '{"":5,"B":4,"a":2,"b":1,"é":3}'.encode()
    )


def test_nested_structures_and_tuples() -> None:
    assert (
        canonicalize({"z": (1, [2, {"y": None, "x": "s"}])}) == b'{"z":[1,[2,{"x":"s","y":null}]]}'
    )


def test_error_names_the_path_of_the_bad_value() -> None:
    with pytest.raises(FormatError, match=r"at event\.params\[2\]\.size: .*not allowed"):
        canonicalize({"event": {"params": [1, 2, {"size": float("nan")}]}})


def test_non_string_key_is_rejected_with_its_path() -> None:
    with pytest.raises(FormatError, match=r"at event: object member names must be strings"):
        canonicalize({"event": {1: "x"}})


def test_unsupported_type_is_rejected() -> None:
    with pytest.raises(FormatError, match=r"at the top level: set is not a JSON type"):
        canonicalize({1, 2})


def test_excessive_nesting_is_a_format_error() -> None:
    value: object = 1
    for _ in range(5000):
        value = [value]
    with pytest.raises(FormatError, match="nested too deeply"):
        canonicalize(value)


# loads / loads_canonical


def test_loads_parses_valid_json() -> None:
    assert loads(b'{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}
    assert loads('["\u00e9"]') == ["é"]


@pytest.mark.parametrize("data", [b'{"a":1,"a":2}', b'{"x":{"b":1, "b":1}}', b'[{"k":1,"k":1}]'])
def test_loads_rejects_duplicate_member_names(data: bytes) -> None:
    with pytest.raises(FormatError, match="duplicate member name"):
        loads(data)


@pytest.mark.parametrize(
    "data",
    [b"NaN", b"[Infinity]", b"1e400", b'"\\ud800"', b'"\xff"', b"\xef\xbb\xbf{}", b"{} x", b"{"],
)
def test_loads_rejects_what_json_forbids(data: bytes) -> None:
    with pytest.raises(FormatError, match="invalid JSON"):
        loads(data)


def test_loads_rejects_text_with_lone_surrogates() -> None:
    with pytest.raises(FormatError, match="lone surrogate"):
        loads('"\ud800"')


def test_loads_canonical_accepts_canonical_bytes() -> None:
    assert loads_canonical(b'{"a":[1,"x"],"b":null}') == {"a": [1, "x"], "b": None}


@pytest.mark.parametrize(
    "data", [b'{"b":1,"a":2}', b'{"a": 1}', b"[1.0]", b'["\\u0041"]', b'{"a":1,"a":1}', b'["\\/"]']
)
def test_loads_canonical_rejects_other_spellings(data: bytes) -> None:
    with pytest.raises(FormatError, match="not in RFC 8785 canonical form"):
        loads_canonical(data)


def _nested(depth: int) -> bytes:
    """A JSON array nested ``depth`` levels deep: ``[[[...]]]``."""
    return b"[" * depth + b"]" * depth


def test_loads_accepts_the_depth_limit_exactly() -> None:
    assert loads(_nested(MAX_DEPTH)) == loads(_nested(MAX_DEPTH))
    assert loads(b'{"a":' * (MAX_DEPTH - 1) + b"[]" + b"}" * (MAX_DEPTH - 1))


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 300, 990, 1023])
def test_loads_refuses_nesting_beyond_the_limit_with_a_clear_error(depth: int) -> None:
    # 990-1023 levels get past orjson's parser (1,024) but used to hit RecursionError in the
    # fast path's structural check.
    with pytest.raises(NestingError, match=f"nested {depth} levels deep; the limit is 64"):
        loads(_nested(depth))
    with pytest.raises(NestingError):
        loads(b'{"a":' * depth + b"1" + b"}" * depth)
    with pytest.raises(NestingError):
        loads_canonical(_nested(depth))


def test_canonicalize_event_of_a_deep_python_value_is_a_format_error() -> None:
    deep: object = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(FormatError, match="nested too deeply"):
        canonicalize_event({"a": deep})


def test_nesting_error_is_a_format_error() -> None:
    assert issubclass(NestingError, FormatError)
