"""Failed-login budgets, kept in the database so that every API process shares them.

Three budgets, each counted in fixed windows of ``login_window_seconds`` (15 minutes):

* **email and source** (``login_max_failures``, 5): one address guessing one account's password.
  Keyed by both, so an attacker cannot lock a real user out from the user's own address.
* **source** (``login_source_max_failures``, 20): one address spraying many accounts, or
  random unknown emails (which no per-email counter sees).
* **everyone** (``login_total_max_failures``, 1000): a distributed attack. When it is spent,
  only sources without a failure of their own in the window may still try, so an attacker with
  many addresses gets one guess per address per window and a user who types the password
  right at the first attempt is never refused.

A source is the client's IP address as the server sees it (proxy headers count only behind
``serve --forwarded-allow-ips``); an IPv6 source is its /64 network, since one host usually
holds a whole /64. A refused attempt answers 429 with ``Retry-After`` (when the window that
refused it ends) and is not counted, so the counters grow only with attempts that reached the
password check, which the password gate bounds. A success clears its (email, source) pair.

Fixed windows can let through up to twice a budget across a window boundary; in exchange each
counter is one row, updated with one statement that is atomic on SQLite and PostgreSQL alike,
and expired rows are deleted as new failures are recorded.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from auditlens.server.db import Database
from auditlens.server.schema import BigInt, metadata

login_throttle = sa.Table(
    "login_throttle",
    metadata,
    sa.Column("key", sa.String(400), primary_key=True),
    sa.Column("window_start", BigInt, nullable=False),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Index("ix_login_throttle_window", "window_start"),
)
"""One counter per budget: ``pair:<email> <source>``, ``source:<source>`` or ``all``."""

_ALL = "all"


@dataclass(frozen=True)
class LoginBudgets:
    per_pair: int = 5
    per_source: int = 20
    total: int = 1000
    window_seconds: float = 15 * 60


def source_of(ip: str) -> str:
    """The limiter's source for a client address: the IPv4 address or the IPv6 /64."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _keys(email: str, ip: str) -> tuple[str, str]:
    source = source_of(ip)
    return f"pair:{email[:320]} {source}", f"source:{source}"


class LoginLimiter:
    """Counts failed logins per (email, source), per source and overall, in the database."""

    def __init__(
        self,
        db: Database,
        budgets: LoginBudgets,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.budgets = budgets
        self.clock = clock

    @property
    def _window_ms(self) -> int:
        return int(self.budgets.window_seconds * 1000)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _counts(self, conn: Connection, keys: list[str], now: int) -> dict[str, tuple[int, int]]:
        """``key -> (failures, window_start)`` of the live windows among ``keys``."""
        rows = conn.execute(
            sa.select(
                login_throttle.c.key, login_throttle.c.failures, login_throttle.c.window_start
            ).where(
                login_throttle.c.key.in_(keys),
                login_throttle.c.window_start > now - self._window_ms,
            )
        ).all()
        return {row.key: (int(row.failures), int(row.window_start)) for row in rows}

    def retry_after(self, email: str, ip: str) -> int | None:
        """Seconds until ``email`` may be tried from ``ip`` again, or None when it may now."""
        pair, source = _keys(email, ip)
        now = self._now_ms()
        with self.db.read() as conn:
            counts = self._counts(conn, [pair, source, _ALL], now)
        b = self.budgets

        def spent(key: str, budget: int) -> bool:
            return key in counts and counts[key][0] >= budget

        starts = [
            counts[k][1] for k, n in ((pair, b.per_pair), (source, b.per_source)) if spent(k, n)
        ]
        if spent(_ALL, b.total) and source in counts:
            starts.append(counts[_ALL][1])  # a source with a clean record may still try
        if not starts:
            return None
        return max(1, math.ceil((max(starts) + self._window_ms - now) / 1000))

    def record_failure(self, email: str, ip: str) -> int:
        """Count a failure in every budget; return the (email, source) failures including it."""
        pair, source = _keys(email, ip)
        now = self._now_ms()
        expired_before = now - self._window_ms
        with self.db.write() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            for key in (pair, source, _ALL):
                expired = login_throttle.c.window_start <= expired_before
                statement = (
                    insert(login_throttle)
                    .values(key=key, window_start=now, failures=1)
                    .on_conflict_do_update(
                        index_elements=[login_throttle.c.key],
                        set_={
                            "window_start": sa.case(
                                (expired, now), else_=login_throttle.c.window_start
                            ),
                            "failures": sa.case((expired, 1), else_=login_throttle.c.failures + 1),
                        },
                    )
                )
                conn.execute(statement)
            conn.execute(
                sa.delete(login_throttle).where(login_throttle.c.window_start <= expired_before)
            )
            failures = conn.execute(
                sa.select(login_throttle.c.failures).where(login_throttle.c.key == pair)
            ).scalar_one()
        return int(failures)

    def failures(self, email: str, ip: str) -> int:
        """Recent failures of the (email, source) pair."""
        pair, _ = _keys(email, ip)
        with self.db.read() as conn:
            counts = self._counts(conn, [pair], self._now_ms())
        return counts[pair][0] if pair in counts else 0

    def clear(self, email: str, ip: str) -> int:
        """Forget the pair's failures (after a success); return how many there were."""
        pair, _ = _keys(email, ip)
        with self.db.write() as conn:
            counts = self._counts(conn, [pair], self._now_ms())
            conn.execute(sa.delete(login_throttle).where(login_throttle.c.key == pair))
        return counts[pair][0] if pair in counts else 0
