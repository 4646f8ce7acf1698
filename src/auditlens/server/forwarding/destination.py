"""The one small interface every destination implements, and what a batch is.

A destination module exposes ``KIND``, ``LABEL``, ``SECRET`` (whether it needs one),
``check_config(config) -> dict`` (raises :class:`ConfigError` naming the bad field; fills in
defaults) and ``connect(config, secret) -> Destination``. Adding a destination is adding one
module and its name to :data:`auditlens.server.forwarding.registry.MODULES`.

A destination answers a :meth:`Destination.send` in one of four ways:

* it returns: the whole batch is acknowledged, the cursor moves past it;
* :class:`RefusedError`: the destination says events are malformed; ``position`` names the first
  refused record when the destination knows it (Splunk HEC's ``invalid-event-number``) and
  ``accepted`` how many records before it were stored. Without a position the engine resends
  the batch one event at a time so only the refused events reach the dead letters;
* :class:`RetryError`: a temporary failure (network, 429, 5xx); ``after`` is the destination's
  Retry-After in seconds, if it sent one;
* :class:`FatalError`: retrying cannot help (bad token): the forwarder stops and reports it until an
  admin changes its configuration or resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Record:
    """One log entry to forward: its index, id, type, time and exact canonical bytes."""

    index: int
    id: str
    type: str
    ts_ms: int
    body: bytes


@dataclass(frozen=True)
class Batch:
    """Consecutive (after filtering) entries and the signed checkpoint that covers all of them."""

    forwarder_id: str
    origin: str
    checkpoint: str
    checkpoint_size: int
    records: list[Record]

    def sub(self, records: list[Record]) -> Batch:
        return Batch(self.forwarder_id, self.origin, self.checkpoint, self.checkpoint_size, records)


class ConfigError(ValueError):
    """A forwarder configuration value is wrong; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class DeliveryError(Exception):
    """Base of the ways a send can fail."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class RefusedError(DeliveryError):
    def __init__(self, reason: str, position: int | None = None, accepted: int = 0) -> None:
        super().__init__(reason)
        self.position = position
        self.accepted = accepted


class RetryError(DeliveryError):
    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class FatalError(DeliveryError):
    pass


class Destination(Protocol):
    """An open connection to one SIEM endpoint."""

    max_records: int
    """Most records one :meth:`send` may carry (the engine never exceeds it)."""

    def send(self, batch: Batch) -> None:
        """Deliver ``batch``; return only once the destination acknowledged it."""
        ...

    def close(self) -> None: ...


def retry_after(value: str | None) -> float | None:
    """Seconds of an HTTP Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import time

    return max(0.0, when.timestamp() - time.time())


def http_outcome(status: int, text: str, after: str | None, vendor: str) -> None:
    """The shared retry rules of the HTTP destinations for a non-2xx ``status``."""
    snippet = text[:300].strip()
    if status in (401, 403):
        raise FatalError(f"{vendor} refused the credential ({status}): {snippet}")
    if status in {408, 429} or status >= 500:
        raise RetryError(f"{vendor} answered {status}: {snippet}", retry_after(after))
    if status in (400, 413, 422):
        raise RefusedError(f"{vendor} refused the events as malformed ({status}): {snippet}")
    raise FatalError(f"{vendor} answered {status}: {snippet}")


def str_field(config: dict[str, Any], name: str, default: str | None = None) -> str:
    value = config.get(name, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(name, "must be a non-empty string")
    return value


FORMATS = ("native", "ocsf")


def check_format(config: dict[str, Any]) -> None:
    """``format``: ``native`` (the audit event as stored) or ``ocsf`` (see :mod:`.ocsf`)."""
    config.setdefault("format", "native")
    if config["format"] not in FORMATS:
        raise ConfigError("format", f"must be one of {', '.join(FORMATS)}")


def payload(config: dict[str, Any], batch: Batch, rec: Record) -> bytes:
    """The JSON a destination sends for ``rec``: its canonical bytes, or their OCSF rendering."""
    if config.get("format") == "ocsf":
        from auditlens.server.forwarding import ocsf

        return ocsf.render_bytes(rec, batch)
    return rec.body
