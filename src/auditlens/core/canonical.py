"""RFC 8785 JSON Canonicalization Scheme (JCS): the exact bytes an event is hashed as.

The log hashes the canonical bytes of every event, so two implementations that disagree on one
byte disagree on every root after it. This module therefore implements RFC 8785 *exactly* and
keeps the fast path honest:

- :func:`canonicalize` is the strict reference. Numbers follow ECMAScript
  ``Number.prototype.toString`` (shortest round-trip digits, ``1e+21``, ``1e-7``, ``-0`` -> ``0``);
  NaN and infinities are rejected. Strings use only the short escapes ``\\" \\\\ \\b \\f \\n \\r
  \\t``, other characters below U+0020 as ``\\u00xx`` (lowercase hex), everything else literal
  UTF-8 (``/``, U+007F, U+2028 and U+2029 included); lone surrogates are rejected. Object members
  are sorted by the UTF-16 code units of their names, which differs from code point order when a
  name holds a character above U+FFFF.
- Integers must lie within ±(2^53−1) (I-JSON, RFC 7493). JCS treats every number as an IEEE-754
  double, so a larger Python ``int`` would silently change value; for evidence we refuse it
  instead of rounding it.
- :func:`canonicalize_event` serializes with orjson (``OPT_SORT_KEYS``) when a cheap structural
  check proves the result identical to :func:`canonicalize`: only ``dict``/``list``/``str``/
  ``int``/``bool``/``None`` (exact types, so no floats and no subclasses with custom behaviour),
  and no member name outside the Basic Multilingual Plane (for BMP-only names UTF-16 code unit
  order equals code point order, which is orjson's order). orjson's string escaping is the JCS
  escaping (checked by property tests), ``OPT_STRICT_INTEGER`` enforces the same ±(2^53−1)
  range, and anything orjson refuses (lone surrogates, deep nesting) falls back to the strict
  path, which then raises the same :class:`FormatError` :func:`canonicalize` would.
- :func:`loads` is the strict parser: RFC 8259 JSON in UTF-8 (no BOM), no NaN/Infinity, no lone
  surrogate escapes, and **duplicate member names are rejected**: with duplicates, two parsers
  can see two different events behind the same hashed bytes, which evidence must never allow.
- **One depth limit**: a document may nest at most :data:`MAX_DEPTH` (64) arrays and objects,
  the outermost counting as one. orjson parses up to 1,024 levels, but every later walk here is
  recursive Python (about 1,000 frames allowed), so :func:`loads` and :func:`loads_canonical`
  measure the depth with a loop right after parsing and raise :class:`NestingError` before any
  recursive walk. Events themselves nest at most 32 levels (``core.events``), well inside it.
  :func:`loads_canonical` additionally requires the bytes to *be* the canonical form of the value
  they hold (what the log stores).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

import orjson

from auditlens.core.errors import FormatError

__all__ = [
    "MAX_DEPTH",
    "MAX_SAFE_INTEGER",
    "NestingError",
    "canonicalize",
    "canonicalize_event",
    "format_number",
    "loads",
    "loads_canonical",
]

MAX_SAFE_INTEGER: Final = 2**53 - 1
"""Largest integer every JSON implementation represents exactly (I-JSON, ECMAScript)."""

MAX_DEPTH: Final = 64
"""Most levels of nested arrays and objects a parsed document may have (the outermost is 1)."""

_FAST_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER
_FIRST_NON_BMP: Final = "\U00010000"

# RFC 8785 §3.2.2.2: the two-character escapes, then \u00xx (lowercase) for other controls.
_SHORT_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
_SHORT_ESCAPES.update({"\r": "\\r", "\t": "\\t"})
_ESCAPE_TABLE: Final[dict[int, str]] = {
    **{c: f"\\u{c:04x}" for c in range(0x20)},
    **{ord(ch): esc for ch, esc in _SHORT_ESCAPES.items()},
}
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class NestingError(FormatError):
    """Well-formed JSON nested deeper than :data:`MAX_DEPTH`: refused, not a parse failure."""


def check_depth(value: object, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`NestingError` when ``value`` nests more than ``limit`` containers deep.

    Walks one level at a time with a loop, not recursion, so no depth can exhaust the stack;
    the work is one step per array or object (a typical 1,000-event batch: well under 1 ms).
    """
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:
        depth += 1
        level = [
            child
            for container in level
            for child in (container.values() if type(container) is dict else container)
            if type(child) is dict or type(child) is list
        ]
    if depth > limit:
        raise NestingError(
            f"the JSON is nested {depth} levels deep; the limit is {limit} levels of arrays "
            "and objects"
        )


class _PathError(Exception):
    """Raised deep inside the strict serializer; collects the path while unwinding.

    Building a path string at every level would cost time on every successful call; collecting
    it only on failure keeps the happy path lean.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.segments: list[str] = []

    def to_format_error(self) -> FormatError:
        path = "".join(reversed(self.segments)).lstrip(".")
        where = f"at {path}" if path else "at the top level"
        return FormatError(f"cannot canonicalize the value {where}: {self.message}")


def _path_segment(key: str | int) -> str:
    if isinstance(key, int):
        return f"[{key}]"
    if key and key.replace("_", "a").isalnum() and key.isascii():
        return f".{key}"
    return f"[{json.dumps(key)}]"


def format_number(value: int | float) -> str:
    """Return ``value`` as ECMAScript ``Number.prototype.toString`` writes it (RFC 8785 §3.2.2.3).

    Raises :class:`FormatError` for NaN, infinities and integers outside ±(2^53−1).
    """
    if isinstance(value, bool):
        raise FormatError(f"a boolean is not a number: {value!r}")
    if isinstance(value, int):
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return int.__repr__(value)
        raise FormatError(
            f"integer {value} is outside ±(2^53−1); JSON numbers beyond that lose precision"
        )
    if not math.isfinite(value):
        raise FormatError(f"{value!r} is not allowed in JSON")
    return _format_double(float(value))


def _format_double(value: float) -> str:
    if value == 0:
        return "0"  # both 0.0 and -0.0
    # repr() gives the shortest digit string that round-trips (the same digits ECMAScript
    # chooses); only the layout differs, so take the digits and the exponent apart and apply
    # ECMA-262 Number::toString's layout rules.
    text = repr(value)
    sign = ""
    if text[0] == "-":
        sign, text = "-", text[1:]
    mantissa, _, exp_text = text.partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + (int(exp_text) if exp_text else 0)
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k, n = len(digits), point  # value = 0.digits × 10^n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    exponent = n - 1
    exp_sign = "+" if exponent >= 0 else "-"
    head = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{head}e{exp_sign}{abs(exponent)}"


def _quote(text: str) -> str:
    if not text.isascii() and _SURROGATE.search(text):
        raise _PathError("strings must not contain lone surrogates (not valid Unicode)")
    return '"' + text.translate(_ESCAPE_TABLE) + '"'


def _utf16_key(item: tuple[str, str, object]) -> bytes:
    return item[0].encode("utf-16-be")


def _emit(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, int | float):
        try:
            out.append(format_number(value))
        except FormatError as exc:
            raise _PathError(str(exc)) from None
    elif isinstance(value, Mapping):
        _emit_object(value, out)
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            try:
                _emit(item, out)
            except _PathError as exc:
                exc.segments.append(_path_segment(i))
                raise
        out.append("]")
    else:
        raise _PathError(f"{type(value).__name__} is not a JSON type")


def _emit_object(obj: Mapping[object, object], out: list[str]) -> None:
    members: list[tuple[str, str, object]] = []
    for key, item in obj.items():
        if not isinstance(key, str):
            raise _PathError(f"object member names must be strings, got {type(key).__name__}")
        try:
            members.append((key, _quote(key), item))
        except _PathError as exc:
            exc.segments.append(_path_segment(key.encode("utf-8", "backslashreplace").decode()))
            raise
    if max((m[0] for m in members), default="") >= _FIRST_NON_BMP:
        members.sort(key=_utf16_key)  # UTF-16 code unit order (RFC 8785 §3.2.3)
    else:
        members.sort(key=lambda m: m[0])  # identical for BMP-only names, and faster
    out.append("{")
    for i, (key, quoted, item) in enumerate(members):
        if i:
            out.append(",")
        out.append(quoted)
        out.append(":")
        try:
            _emit(item, out)
        except _PathError as exc:
            exc.segments.append(_path_segment(key))
            raise
    out.append("}")


def canonicalize(obj: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``obj`` (strict reference implementation).

    Accepts ``None``, ``bool``, ``int`` (within ±(2^53−1)), finite ``float``, ``str``, mappings
    with string keys, lists and tuples. Anything else raises :class:`FormatError` naming the path
    of the offending value (e.g. ``event.params.size``).
    """
    out: list[str] = []
    try:
        _emit(obj, out)
    except _PathError as exc:
        raise exc.to_format_error() from None
    except RecursionError:
        raise FormatError("cannot canonicalize: the value is nested too deeply") from None
    return "".join(out).encode("utf-8")


def _fast_path_safe(obj: dict[Any, Any]) -> bool:
    """True when orjson's sorted output is provably the JCS output for ``obj``.

    Checks exact types (no float anywhere, no subclasses) and that every member name is in the
    BMP, where UTF-16 code unit order equals orjson's code point order.
    """
    try:
        names = "".join(obj)  # TypeError on a non-str key
    except TypeError:
        return False
    if not names.isascii() and max(names) >= _FIRST_NON_BMP:
        return False
    return _values_safe(obj.values())


def _values_safe(values: Iterable[Any]) -> bool:
    """:func:`_fast_path_safe` for the members of an object or the items of an array."""
    for value in values:
        kind = type(value)
        if kind is str or kind is int or kind is bool or value is None:
            continue
        if kind is dict:
            if not _fast_path_safe(value):
                return False
        elif kind is list:
            if not _values_safe(value):
                return False
        else:
            return False
    return True


def canonicalize_event(event: Mapping[str, object]) -> bytes:
    """Return the same bytes as :func:`canonicalize`, using orjson when that is provably equal.

    Meant for schema-valid events (no floats, plain dicts/lists); anything the fast path cannot
    vouch for goes through the strict path, so the result and the errors are always those of
    :func:`canonicalize`.
    """
    try:
        fast = type(event) is dict and _fast_path_safe(event)
    except RecursionError:
        fast = False  # a value built in Python, deeper than any parsed one: strict path explains
    if fast:
        try:
            return orjson.dumps(event, option=_FAST_OPTIONS)
        except (TypeError, orjson.JSONEncodeError):
            pass  # lone surrogate, integer out of range, too deep: let the strict path explain
    return canonicalize(event)


def _reserializes_to(value: object, raw: bytes) -> bool:
    """True when orjson writes ``value`` back as exactly ``raw``: then ``raw`` has no duplicates.

    A parsed value holds each member name once, and orjson writes each once, so bytes equal to
    that output cannot have held a duplicate. Compact JSON spelled the way orjson spells it
    (batches from orjson clients, and most ``JSON.stringify`` output) passes this one C-speed
    check instead of a second, pure-Python parse; any other spelling takes the second parse.
    """
    try:
        return orjson.dumps(value) == raw
    except orjson.JSONEncodeError:
        return False  # e.g. nested deeper than orjson writes: let the second parse decide


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise FormatError(f"invalid JSON: duplicate member name {json.dumps(key)}")
        result[key] = value
    return result


def _reject_constant(name: str) -> object:
    raise FormatError(f"invalid JSON: {name} is not a JSON value")


def loads(data: bytes | str) -> object:
    """Parse JSON strictly; raise :class:`FormatError` saying what is wrong.

    Rejects invalid UTF-8, a byte order mark, NaN/Infinity, numbers that overflow a double, lone
    surrogate escapes, trailing data and **duplicate member names** (the stdlib would keep the
    last one silently; evidence must not have two readings). Compact input spelled as orjson
    writes it (typical ingest batches) and canonical input (log entries) are checked for
    duplicates almost for free, since re-serializing them gives the same bytes only when no
    member was dropped; other spellings get a second, duplicate-detecting parse. Integers beyond
    64 bits are parsed as floats (orjson's rule); event validation then rejects them as floats.
    Nesting beyond :data:`MAX_DEPTH` raises :class:`NestingError` (a :class:`FormatError`).
    """
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        value = orjson.loads(raw)
    except UnicodeEncodeError:
        raise FormatError("invalid JSON: the text contains a lone surrogate") from None
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc}") from None
    check_depth(value)  # before any recursive walk below
    if _reserializes_to(value, raw):
        return value
    try:
        if isinstance(value, dict) and canonicalize_event(value) == raw:
            return value
    except FormatError:
        pass  # e.g. a large integer: not canonical, so check the slow way
    if b"{" in raw:
        # Second pass only to find duplicate names; orjson already vetted everything else.
        json.loads(raw, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
    return value


def loads_canonical(data: bytes) -> object:
    """Parse ``data`` and require it to be exactly the RFC 8785 form of the value it holds.

    This is what a stored log entry must be; any other spelling (whitespace, key order, escapes,
    ``1.0`` for ``1``, duplicate names) raises :class:`FormatError`.
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FormatError(f"invalid JSON: {exc}") from None
    check_depth(value)
    encoded = canonicalize_event(value) if isinstance(value, dict) else canonicalize(value)
    if encoded != data:
        raise FormatError("JSON is valid but not in RFC 8785 canonical form")
    return value
