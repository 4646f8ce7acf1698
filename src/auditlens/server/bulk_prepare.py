"""Preparing events for the bulk appender: everything about an event but its place in the log.

:func:`prepared` validates submissions (optionally) and builds the canonical bytes of every
member except ``id`` and ``timestamp`` (:mod:`auditlens.server.bulk_canonical`), a chunk at a
time; :func:`prepared_in_subprocess` does it, and runs the stream's generator, in a second
process beside the writer (:mod:`auditlens.server.bulk_append`). A :class:`Chunk` holds its
events column by column, so a chunk crosses to the writer as a dozen pickled lists of plain
bytes, str and int (one object per event and column) rather than one pickled record per event,
which cost as much to pickle and unpickle as preparing the events did. This module imports only
``core``, so that process starts in a fraction of a second.
"""

from __future__ import annotations

import itertools
import multiprocessing
import queue
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from auditlens.core.events import EventError, category_of, format_timestamp, validate_submission
from auditlens.server.bulk_canonical import canonical_runs

__all__ = ["Chunk", "Stream", "prepare_chunk", "prepared", "prepared_in_subprocess"]

SUBMISSION_MEMBERS = frozenset({"type", "user_id", "task_id", "agent_id", "event"})

Stream = Iterable[tuple[int, Mapping[str, Any]]]
"""``(timestamp_ms, submission)`` pairs in log order, as the demo generator yields them."""


class Chunk(NamedTuple):
    """Prepared events, without their places in the log, one list per column.

    Event ``i``'s canonical body is ``heads[i] + id + middles[i] + stamp + tails[i]``, where
    ``stamp`` is ``stamps[i]``, ``ts[i]`` formatted (the writer formats it again only when it has
    to raise ``ts`` to keep time from going backwards). ``zip(*chunk)`` gives the events' rows in
    the order of the fields.
    """

    ts: list[int]
    stamps: list[bytes]
    heads: list[bytes]
    middles: list[bytes]
    tails: list[bytes]
    types: list[str]
    categories: list[str]
    user_ids: list[str | None]
    task_ids: list[str | None]
    agent_ids: list[str | None]
    outcomes: list[str]


def prepare_chunk(
    pairs: Iterable[tuple[int, Mapping[str, Any]]], *, validate: bool = True, first: int = 0
) -> Chunk:
    """Prepare ``pairs`` (validated unless ``validate`` is False) as one chunk.

    An invalid event raises :class:`EventError` named ``events[i]``, ``i`` counted from
    ``first``.
    """
    chunk = Chunk([], [], [], [], [], [], [], [], [], [], [])
    (ts_, stamps, heads, middles, tails, types, categories, users, tasks, agents, outcomes) = chunk
    for i, (ts, sub) in enumerate(pairs, first):
        try:
            if validate:
                validate_submission(sub)
            if sub.keys() != SUBMISSION_MEMBERS:
                raise EventError("", f"must have exactly the members {sorted(SUBMISSION_MEMBERS)}")
            head, middle, tail = canonical_runs(sub)
            kind = sub["type"]
            categories.append(category_of(kind))
        except EventError as exc:
            raise exc.prefixed(f"events[{i}]") from None
        ts_.append(ts)
        stamps.append(format_timestamp(ts).encode())
        heads.append(head)
        middles.append(middle)
        tails.append(tail)
        types.append(kind)
        users.append(sub["user_id"])
        tasks.append(sub["task_id"])
        agents.append(sub["agent_id"])
        outcomes.append(sub["event"]["outcome"])
    return chunk


def prepared(stream: Stream, *, validate: bool = True, chunk: int = 2_000) -> Iterator[Chunk]:
    """Prepare ``stream`` in this process, ``chunk`` events at a time."""
    events = iter(stream)
    first = 0
    while True:
        part = list(itertools.islice(events, chunk))
        if not part:
            return
        yield prepare_chunk(part, validate=validate, first=first)
        first += len(part)


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
) -> Iterator[Chunk]:
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
