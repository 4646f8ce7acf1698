"""Preparing events for the bulk appender: everything about an event but its place in the log.

:func:`prepare` validates a submission (optionally) and builds the canonical bytes of every
member except ``id`` and ``timestamp``; :func:`prepared_in_subprocess` does it, and runs the
stream's generator, in a second process beside the writer (:mod:`auditlens.server.bulk_append`).
This module imports only ``core`` (and orjson), so that process starts in a fraction of a second.
"""

from __future__ import annotations

import multiprocessing
import queue
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import orjson

from auditlens.core.canonical import canonicalize_event
from auditlens.core.events import EventError, category_of
from auditlens.core.timestamps import format_timestamp
from auditlens.core.validation import validate_submission

__all__ = ["Prepared", "Stream", "prepare", "prepared", "prepared_in_subprocess"]

SUBMISSION_MEMBERS = frozenset({"type", "user_id", "task_id", "agent_id", "event"})

Stream = Iterable[tuple[int, Mapping[str, Any]]]
"""``(timestamp_ms, submission)`` pairs in log order, as the demo generator yields them."""


class Prepared(NamedTuple):
    """One event without its place in the log: its columns and its canonical bytes in three runs.

    The canonical body is ``head + id + middle + stamp + tail``, where ``stamp`` is ``ts``
    formatted (the writer formats it again only when it has to raise ``ts`` to keep time from
    going backwards).
    """

    ts: int
    stamp: bytes
    type: str
    category: str
    user_id: str | None
    task_id: str | None
    agent_id: str | None
    outcome: str
    head: bytes
    middle: bytes
    tail: bytes


def _scalar(value: str | None) -> bytes:
    # orjson escapes strings exactly as RFC 8785 does (core.canonical's fast path relies on the
    # same property, checked there by property tests).
    return orjson.dumps(value)


def prepare(ts: int, sub: Mapping[str, Any], *, validate: bool = True) -> Prepared:
    """Prepare one submission (validated unless ``validate`` is False)."""
    if validate:
        validate_submission(sub)
    if sub.keys() != SUBMISSION_MEMBERS:
        raise EventError("", f"must have exactly the members {sorted(SUBMISSION_MEMBERS)}")
    kind = sub["type"]
    body = sub["event"]
    head = b'{"agent_id":' + _scalar(sub["agent_id"]) + b',"event":'
    head += canonicalize_event(body) + b',"id":"'
    middle = b'","task_id":' + _scalar(sub["task_id"]) + b',"timestamp":"'
    tail = b'","type":' + _scalar(kind) + b',"user_id":' + _scalar(sub["user_id"]) + b"}"
    stamp = format_timestamp(ts).encode()
    return Prepared(
        ts, stamp, kind, category_of(kind), sub["user_id"], sub["task_id"], sub["agent_id"],
        body["outcome"], head, middle, tail,
    )  # fmt: skip


def prepared(
    stream: Stream, *, validate: bool = True, chunk: int = 2_000
) -> Iterator[list[Prepared]]:
    """Prepare ``stream`` in this process, ``chunk`` events at a time."""
    batch: list[Prepared] = []
    for i, (ts, sub) in enumerate(stream):
        try:
            batch.append(prepare(ts, sub, validate=validate))
        except EventError as exc:
            raise exc.prefixed(f"events[{i}]") from None
        if len(batch) >= chunk:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------------------------------------
# The producer process


class _Failed(NamedTuple):
    """What the producer sends instead of a batch when it fails (exceptions may not pickle)."""

    field: str | None  # an EventError's field, or None for any other error
    message: str


def _produce(source: Callable[[], Stream], validate: bool, chunk: int, out: Any) -> None:
    try:
        for batch in prepared(source(), validate=validate, chunk=chunk):
            out.put(batch)
    except EventError as exc:
        out.put(_Failed(exc.field, exc.reason))
    except Exception as exc:  # reported to the parent, which raises it
        out.put(_Failed(None, f"{type(exc).__name__}: {exc}"))
    else:
        out.put(None)


def prepared_in_subprocess(
    source: Callable[[], Stream], *, validate: bool = True, chunk: int = 2_000
) -> Iterator[list[Prepared]]:
    """Prepare the stream ``source()`` returns in a second process; yield its batches in order.

    ``source`` must pickle (a module-level function, or a bound method of a picklable object
    such as :meth:`DemoDataset.events`). The process is started with ``spawn`` (a fork would copy
    this process's threads and database connections) and at most 16 batches wait for the
    writer, so memory stays bounded. In a frozen application, where ``spawn`` would start the
    application itself again, the stream is prepared in this process instead.
    """
    if getattr(sys, "frozen", False):
        yield from prepared(source(), validate=validate, chunk=chunk)
        return
    context = multiprocessing.get_context("spawn")
    batches: Any = context.Queue(maxsize=16)
    producer = context.Process(
        target=_produce, args=(source, validate, chunk, batches), daemon=True, name="bulk-prepare"
    )
    producer.start()
    try:
        while True:
            try:
                item = batches.get(timeout=1.0)
            except queue.Empty:
                if not producer.is_alive():
                    raise RuntimeError(
                        f"the process preparing the events ended (exit code {producer.exitcode})"
                    ) from None
                continue
            if item is None:
                return
            if isinstance(item, _Failed):
                if item.field is None:
                    raise RuntimeError(f"preparing the events failed: {item.message}")
                raise EventError(item.field, item.message)
            yield item
    finally:
        if producer.is_alive():
            producer.terminate()
        producer.join()
        batches.close()
