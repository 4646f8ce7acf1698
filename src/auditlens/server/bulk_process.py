"""Preparing a stream in a second process, beside the bulk writer.

:func:`prepared_in_subprocess` runs the stream's generator and :func:`~.bulk_prepare.prepared`
in a child Python process and yields its chunks in order, so on two cores the generator and the
database overlap.

Why a plain child process (``python -c`` importing this module) rather than
``multiprocessing``: a ``spawn`` child first imports the parent's ``__main__`` module again (the
``auditlens`` command, a benchmark script: SQLAlchemy, the server, FastAPI; 0.7 s of CPU on
its own), and pickling a record per event cost as much again: the two-process path used 1–3 s
more CPU per 100,000 events than preparing in one process (measured, depending on the load),
more than the overlap saved. This child imports only ``core`` and the demo generator, and
chunks cross column by column (:class:`~.bulk_prepare.Chunk`).

The parent sends this process's ``sys.path``, then ``(source, validate, chunk)``, pickled on the
child's stdin; the child writes pickled chunks to its stdout, then ``None`` (or a
:class:`_Failed`). A reader thread in the parent unpickles them into a queue of at most 16
chunks: the child can run that far ahead of the writer (a pipe alone holds 64 KiB, a tenth of
a chunk) while memory stays bounded. In a frozen application, where ``sys.executable`` is the
application itself, the stream is prepared in this process instead.
"""

from __future__ import annotations

import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any, NamedTuple

from auditlens.core.events import EventError
from auditlens.server.bulk_prepare import Chunk, Stream, prepared

__all__ = ["prepared_in_subprocess"]

_AHEAD = 16
"""Most chunks the child may have prepared before the writer takes them."""


_CHILD = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); "
    "from auditlens.server.bulk_process import main; main()"
)


class _Failed(NamedTuple):
    """What the child sends instead of a chunk when it fails (exceptions may not pickle)."""

    field: str | None  # an EventError's field, or None for any other error
    message: str


class _Ended(NamedTuple):
    """The reader's note that the child's output ended before its last item (it died)."""

    reason: str


def main() -> None:
    """The child: read the job on stdin, write the prepared chunks on stdout."""
    source, validate, chunk = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    item: _Failed | None
    try:
        for batch in prepared(source(), validate=validate, chunk=chunk):
            pickle.dump(batch, out, protocol=pickle.HIGHEST_PROTOCOL)
    except EventError as exc:
        item = _Failed(exc.field, exc.reason)
    except Exception as exc:  # reported to the parent, which raises it
        item = _Failed(None, f"{type(exc).__name__}: {exc}")
    else:
        item = None
    pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()


def _read(stream: IO[bytes], items: queue.Queue[Any], stop: threading.Event) -> None:
    """Unpickle the child's items into ``items`` until its last one, its death or ``stop``."""
    while not stop.is_set():
        try:
            item: Any = pickle.load(stream)
        except Exception as exc:  # EOF, a truncated pickle: the child is gone
            item = _Ended(f"{type(exc).__name__}: {exc}")
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        if item is None or isinstance(item, _Failed | _Ended):
            return


def prepared_in_subprocess(
    source: Callable[[], Stream], *, validate: bool = True, chunk: int = 2_000
) -> Iterator[Chunk]:
    """Prepare the stream ``source()`` returns in a child process; yield its chunks in order.

    ``source`` must pickle (a module-level function, or a bound method of a picklable object
    such as :meth:`DemoDataset.events`).
    """
    if getattr(sys, "frozen", False):
        yield from prepared(source(), validate=validate, chunk=chunk)
        return
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    items: queue.Queue[Any] = queue.Queue(maxsize=_AHEAD)
    stop = threading.Event()
    reader = threading.Thread(
        target=_read, args=(child.stdout, items, stop), daemon=True, name="bulk-prepare-reader"
    )
    try:
        with child.stdin:
            child.stdin.write(pickle.dumps(sys.path))  # where this process found auditlens
            child.stdin.write(pickle.dumps((source, validate, chunk)))
        reader.start()
        while True:
            item = items.get()
            if item is None:
                return
            if isinstance(item, _Failed):
                if item.field is None:
                    raise RuntimeError(f"preparing the events failed: {item.message}")
                raise EventError(item.field, item.message)
            if isinstance(item, _Ended):
                code = child.wait()
                raise RuntimeError(
                    f"the process preparing the events ended (exit code {code}): {item.reason}"
                )
            yield item
    finally:
        stop.set()
        if child.poll() is None:
            child.kill()
        child.wait()
        if reader.is_alive():
            reader.join()
        child.stdout.close()
