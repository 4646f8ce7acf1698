"""The organisation's calendar: time units, office hours in a fixed UTC-5, and the activity rhythm.

The offset has no daylight saving on purpose: the data must not depend on a time-zone database.
Integer arithmetic throughout, so the schedule is exact and the same on every platform.
"""

from __future__ import annotations

import bisect
import random

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

_LOCAL_OFFSET_MS = -5 * HOUR_MS  # the organisation's office hours, fixed UTC-5

# Activity by local hour (0-23) and by weekday (Monday = 0): relative integer weights.
_HOUR_WEIGHT: tuple[int, ...] = (6, 4, 3, 3, 3, 5, 10, 25, 60, 95, 100, 100, 75, 90, 100, 100)
_HOUR_WEIGHT += (95, 70, 45, 30, 22, 18, 12, 8)
_WEEKDAY_WEIGHT = (100, 100, 100, 100, 95, 22, 18)


class Rhythm:
    """The cumulative activity density over ``[start_ms, now_ms]``, in hour buckets.

    ``time_at(w)`` inverts it: the instant by which a share ``w / total`` of the window's
    activity has happened. Integer arithmetic throughout, so it is exact and portable.
    """

    def __init__(self, start_ms: int, now_ms: int) -> None:
        self.starts: list[int] = []
        self.rates: list[int] = []  # weight per millisecond of each bucket
        self.cumulative: list[int] = []  # weight before each bucket
        total = 0
        t = start_ms
        while t < now_ms:
            end = min(now_ms, (t // HOUR_MS + 1) * HOUR_MS)
            rate = _activity(t)
            self.starts.append(t)
            self.rates.append(rate)
            self.cumulative.append(total)
            total += rate * (end - t)
            t = end
        self.total = total
        self.start_ms = start_ms
        self.now_ms = now_ms

    def time_at(self, weight: int) -> int:
        """Return the instant by which ``weight`` of the window's activity has happened."""
        if weight <= 0 or not self.starts:
            return self.start_ms
        if weight >= self.total:
            return self.now_ms
        i = bisect.bisect_right(self.cumulative, weight) - 1
        return self.starts[i] + (weight - self.cumulative[i]) // self.rates[i]


def weekday_and_hour(t: int) -> tuple[int, int]:
    """Return (weekday with Monday = 0, hour) of ``t`` in the organisation's office time."""
    local = t + _LOCAL_OFFSET_MS
    return (local // DAY_MS + 3) % 7, local % DAY_MS // HOUR_MS  # 1970-01-01 was a Thursday


def _activity(t: int) -> int:
    weekday, hour = weekday_and_hour(t)
    return _HOUR_WEIGHT[hour] * _WEEKDAY_WEIGHT[weekday]


def local_midnight(t: int) -> int:
    """The UTC instant of the office-time midnight starting the day that contains ``t``."""
    local = t + _LOCAL_OFFSET_MS
    return local - local % DAY_MS - _LOCAL_OFFSET_MS


def office_time(rng: random.Random, t: int) -> int:
    """Move ``t`` to a random working-hours instant (10:00-17:00, Mon-Fri) on or after its day."""
    day = local_midnight(t)
    while weekday_and_hour(day + 12 * HOUR_MS)[0] >= 5:
        day += DAY_MS
    return day + 10 * HOUR_MS + rng.randrange(7 * HOUR_MS)
