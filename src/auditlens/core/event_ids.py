"""Event ids: ``log_`` + a 26-character uppercase Crockford base32 ULID, time-ordered.

The id's first 48 bits are the event's millisecond time, so ids sort like the events they name;
:class:`EventIdGenerator` keeps ids strictly increasing within a millisecond.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from random import Random
from typing import Final

from auditlens.core.errors import FormatError, got

_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_VALUE: Final = {c: i for i, c in enumerate(_CROCKFORD)}
_EVENT_ID: Final = re.compile(r"log_[0-7][0-9A-HJKMNP-TV-Z]{25}", re.ASCII)
_RANDOM_BITS: Final = 80
_RANDOM_MASK: Final = 2**80 - 1
_MAX_TIME: Final = 2**48 - 1


def is_event_id(value: object) -> bool:
    """True when ``value`` is ``log_`` + a 26-character uppercase Crockford base32 ULID."""
    return isinstance(value, str) and _EVENT_ID.fullmatch(value) is not None


def event_id_time(event_id: str) -> int:
    """Return the millisecond timestamp encoded in the first 48 bits of an event id's ULID."""
    if not is_event_id(event_id):
        raise FormatError(f'an event id is "log_" + a 26-character ULID, got {got(event_id)}')
    value = 0
    for ch in event_id[4:14]:
        value = value * 32 + _CROCKFORD_VALUE[ch]
    return value


_PAIRS: Final = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
"""Every 10-bit value as its two Crockford digits: one lookup per two characters."""


def _encode_time(ms: int) -> str:
    """The first 10 ULID characters: the 48-bit time as 50 bits (two leading zero bits)."""
    p = _PAIRS
    return (
        p[ms >> 40]
        + p[(ms >> 30) & 1023]
        + p[(ms >> 20) & 1023]
        + p[(ms >> 10) & 1023]
        + p[ms & 1023]
    )


def _encode_random(bits: int) -> str:
    """The last 16 ULID characters: the 80 random bits."""
    p = _PAIRS
    return (
        p[bits >> 70]
        + p[(bits >> 60) & 1023]
        + p[(bits >> 50) & 1023]
        + p[(bits >> 40) & 1023]
        + p[(bits >> 30) & 1023]
        + p[(bits >> 20) & 1023]
        + p[(bits >> 10) & 1023]
        + p[bits & 1023]
    )


def _encode_ulid(value: int) -> str:
    """The 26 Crockford digits of a 128-bit ULID (the time part, then the random part).

    Table lookups of 10 bits instead of a loop of 26 5-bit digits: ids are minted once per
    ingested event, so this is on the server's append path (tests compare it with the plain
    digit loop).
    """
    return _encode_time(value >> _RANDOM_BITS) + _encode_random(value & _RANDOM_MASK)


class EventIdGenerator:
    """Makes ``log_`` + ULID ids: 48-bit millisecond time, 80 random bits, sortable as text.

    Within one millisecond the ids are monotonic (the random part of the previous id plus one),
    so ids the server assigns in append order sort in append order. The id's time is always the
    ``timestamp_ms`` given; if a caller goes back in time, the new id sorts before the previous
    ones, as its time says (the server's clock for appends never decreases). Pass a seeded
    :class:`random.Random` for reproducible ids (demo data, tests); the default draws from the
    OS's CSPRNG. Thread-safe.
    """

    def __init__(self, rng: Random | None = None) -> None:
        self._random: Callable[[int], int] = rng.getrandbits if rng else secrets.randbits
        self._last_ms = -1
        self._last_random = 0
        self._last_prefix = ""  # "log_" + the time digits of _last_ms: a batch shares one ms
        self._lock = threading.Lock()

    def new(self, timestamp_ms: int) -> str:
        """Return the next id for an event appended at ``timestamp_ms`` (ms since the epoch)."""
        if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int):
            raise FormatError(f"timestamp_ms must be an int, got {type(timestamp_ms).__name__}")
        if not 0 <= timestamp_ms <= _MAX_TIME:
            raise FormatError(f"timestamp_ms must be within 0..2^48-1, got {timestamp_ms}")
        with self._lock:
            if timestamp_ms == self._last_ms:
                randomness = self._last_random + 1
                if randomness >> _RANDOM_BITS:
                    raise OverflowError(
                        f"more than 2^80 ids requested within millisecond {timestamp_ms}"
                    )
                prefix = self._last_prefix
            else:
                randomness = self._random(_RANDOM_BITS)
                prefix = self._last_prefix = "log_" + _encode_time(timestamp_ms)
            self._last_ms, self._last_random = timestamp_ms, randomness
        return prefix + _encode_random(randomness)
