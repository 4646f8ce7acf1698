"""Event timestamps: exactly ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, milliseconds), and parsing.

The server writes every timestamp in that one form, so two events' timestamps compare as text;
:func:`parse_timestamp` accepts any RFC 3339 date-time a person types (any offset, fractions
beyond milliseconds truncated) for filters and the command line.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Final

from auditlens.core.errors import FormatError, got

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_CANONICAL_TS: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z", re.ASCII
)
_RFC3339: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]+))?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))",
    re.ASCII,
)
TS_EXAMPLE: Final = "2026-11-26T07:13:13.123Z"


def format_timestamp(ms: int) -> str:
    """Return ``ms`` since the Unix epoch as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, 3-digit ms)."""
    if isinstance(ms, bool) or not isinstance(ms, int):
        raise FormatError(f"a timestamp must be integer milliseconds, got {type(ms).__name__}")
    seconds, millis = divmod(ms, 1000)
    try:
        t = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        raise FormatError(f"timestamp {ms} ms is outside the years 1-9999") from None
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T"
        f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{millis:03d}Z"
    )


def parse_timestamp(text: str) -> int:
    """Return the milliseconds since the Unix epoch (UTC) of an RFC 3339 date-time.

    Any offset is accepted (``Z``, ``+02:00``); fractions beyond milliseconds are truncated
    (floor), so the result never lies after the instant written. Leap seconds (``:60``) have no
    millisecond timeline position and are rejected.
    """
    m = _RFC3339.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise FormatError(f"expected an RFC 3339 date-time like {TS_EXAMPLE!r}, got {got(text)}")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    if second == 60:
        raise FormatError(f"leap seconds are not supported: {text!r}")
    fraction, zulu, sign, off_h, off_m = m.group(7, 8, 9, 10, 11)
    offset = timedelta(0)
    if not zulu:
        if int(off_h) > 23 or int(off_m) > 59:
            raise FormatError(f"invalid UTC offset in {text!r}")
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if sign == "-":
            offset = -offset
    try:
        t = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError as exc:
        raise FormatError(f"invalid date-time {text!r}: {exc}") from None
    millis = int((fraction or "0")[:3].ljust(3, "0"))
    return (t - _EPOCH) // timedelta(milliseconds=1) + millis


def is_canonical_timestamp(value: str) -> bool:
    if not _CANONICAL_TS.fullmatch(value):
        return False
    try:
        return format_timestamp(parse_timestamp(value)) == value
    except FormatError:
        return False
